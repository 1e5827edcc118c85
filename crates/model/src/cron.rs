//! Cron expressions of `schedule:` (a job) and `drift:` (an environment): five fields
//! (minute, hour, day of month, month, day of week), or six with seconds first, read by
//! croner, in UTC. Only the text is kept; the next tick is computed when asked.

use time::OffsetDateTime;

/// A cron expression that parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule(String);

impl CronSchedule {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<CronSchedule, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("is empty".into());
        }
        cron(trimmed).map(|_| CronSchedule(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first tick strictly after `after` (UTC), or None when there is none.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let cron = cron(&self.0).ok()?;
        let start = chrono::DateTime::from_timestamp(after.unix_timestamp(), after.nanosecond())?;
        let next = cron.find_next_occurrence(&start, false).ok()?;
        OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()
    }
}

impl std::fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn cron(text: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(text).with_seconds_optional().parse().map_err(|e| format!("is not a cron expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn next_ticks_in_utc() {
        let every_5 = CronSchedule::parse("*/5 * * * *").unwrap();
        let t = datetime!(2026-01-01 10:02:30 UTC);
        assert_eq!(every_5.next_after(t), Some(datetime!(2026-01-01 10:05:00 UTC)));
        assert_eq!(every_5.next_after(datetime!(2026-01-01 10:05:00 UTC)), Some(datetime!(2026-01-01 10:10:00 UTC)));
        let daily = CronSchedule::parse(" 0 3 * * * ").unwrap();
        assert_eq!(daily.as_str(), "0 3 * * *");
        assert_eq!(daily.next_after(t), Some(datetime!(2026-01-02 03:00:00 UTC)));
    }

    #[test]
    fn bad_expressions_say_why() {
        for bad in ["", "* * *", "61 * * * *", "every hour"] {
            assert!(CronSchedule::parse(bad).is_err(), "{bad}");
        }
    }
}
