//! What time it is for the time half (TTL destroys, cron ticks, drift checks).
//!
//! `TERRACE_CLOCK_OFFSET` is for tests only: a duration (`73h`) added to the real clock,
//! or `file:PATH`, a file holding such a duration, read again at every look (a test moves
//! time by rewriting it, without restarting the server). Records keep real times; only
//! the "is it due yet?" decisions see the offset.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

/// The environment variable that shifts the clock (tests only).
pub const OFFSET_VAR: &str = "TERRACE_CLOCK_OFFSET";

#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The real clock.
    #[default]
    System,
    /// The real clock plus a fixed offset.
    Offset(Duration),
    /// The real clock plus the offset a file holds (none while it is missing or empty).
    OffsetFile(PathBuf),
}

impl Clock {
    /// The clock `TERRACE_CLOCK_OFFSET` asks for; an unreadable value is an error naming it.
    pub fn from_env() -> Result<Clock, String> {
        match std::env::var(OFFSET_VAR) {
            Err(_) => Ok(Clock::System),
            Ok(v) if v.trim().is_empty() => Ok(Clock::System),
            Ok(v) => match v.trim().strip_prefix("file:") {
                Some(path) => Ok(Clock::OffsetFile(PathBuf::from(path))),
                None => parse(&v).map(Clock::Offset),
            },
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        let real = OffsetDateTime::now_utc();
        match self {
            Clock::System => real,
            Clock::Offset(d) => real + *d,
            Clock::OffsetFile(path) => {
                let offset = std::fs::read_to_string(path).ok().and_then(|t| parse(&t).ok()).unwrap_or_default();
                real + offset
            }
        }
    }
}

fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text).map_err(|e| {
        format!("{OFFSET_VAR} `{text}` is not a duration ({e}); it is for tests: e.g. `73h`, or file:PATH")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_move_the_clock_forward() {
        let real = OffsetDateTime::now_utc();
        assert!(Clock::Offset(Duration::from_secs(7200)).now() >= real + Duration::from_secs(7200));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        let clock = Clock::OffsetFile(file.clone());
        assert!(clock.now() < real + Duration::from_secs(3600), "a missing file is no offset");
        std::fs::write(&file, "3h\n").unwrap();
        assert!(clock.now() >= real + Duration::from_secs(3 * 3600));
        assert!(parse("soon").unwrap_err().contains(OFFSET_VAR));
    }
}
