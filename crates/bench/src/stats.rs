//! Small statistics over samples: median and nearest-rank percentiles, and a wall
//! clock in nanoseconds that another process can read the same way.

use std::time::Duration;

/// CLOCK_REALTIME in nanoseconds: the one clock two processes share.
pub fn realtime_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// The nearest-rank percentile `p` (0–100) of `samples`; zero when there is none.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time (user + system) used so far by this process's threads (`RUSAGE_SELF`) and by
/// its children it waited for (`RUSAGE_CHILDREN`): what a phase costs, less moved by other
/// load on the machine than its wall time.
pub fn cpu_time() -> (Duration, Duration) {
    fn of(who: libc::c_int) -> Duration {
        // SAFETY: getrusage writes into the struct it is given and reads nothing else.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut u) } != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
        tv(u.ru_utime) + tv(u.ru_stime)
    }
    (of(libc::RUSAGE_SELF), of(libc::RUSAGE_CHILDREN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&s, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }
}
