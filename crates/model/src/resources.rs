//! Resource quantities in Kubernetes notation, as `resources: {cpu, memory}` writes them:
//! CPU as cores (`2`, `0.5`) or millicores (`500m`), memory as bytes with a binary (`Ki`,
//! `Mi`, `Gi`, `Ti`) or decimal (`k`, `M`, `G`, `T`) suffix. Each executor turns them into
//! its own limits (Docker's CPU quota and memory limit, a Kubernetes Job's requests).

/// The least memory a container may be given (Docker refuses less than 6 MB).
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

/// The most CPU a job may ask for: 1024 cores.
pub const MAX_CPU_MILLIS: u64 = 1024 * 1000;

/// The most memory a job may ask for: 16 TiB.
pub const MAX_MEMORY_BYTES: u64 = 16 << 40;

/// A job's resources as written (validated): each in Kubernetes notation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceSpec {
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// Millicores of a CPU quantity: `500m` → 500, `2` → 2000, `0.25` → 250.
pub fn cpu_millis(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let millis = match t.strip_suffix('m') {
        Some(m) => whole(m),
        None => decimal_thousandths(t),
    };
    let Some(millis) = millis else { return Err(format!("CPU `{t}` is not a quantity: write {CPU_HELP}")) };
    match millis {
        0 => Err(format!("CPU `{t}` is zero: give at least `1m`")),
        n if n > MAX_CPU_MILLIS => Err(format!("CPU `{t}` is more than {} cores", MAX_CPU_MILLIS / 1000)),
        n => Ok(n),
    }
}

/// Bytes of a memory quantity: `512Mi` → 536870912, `1G` → 1000000000, `1048576` as is.
pub fn memory_bytes(text: &str) -> Result<u64, String> {
    const SUFFIXES: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let t = text.trim();
    let (number, unit) = SUFFIXES.iter().find_map(|(s, unit)| t.strip_suffix(s).map(|n| (n, *unit))).unwrap_or((t, 1));
    let Some(bytes) = whole(number).and_then(|n| n.checked_mul(unit)) else {
        return Err(format!("memory `{t}` is not a quantity: write {MEMORY_HELP}"));
    };
    if bytes < MIN_MEMORY_BYTES {
        return Err(format!("memory `{t}` is less than the 6Mi a container needs at least"));
    }
    if bytes > MAX_MEMORY_BYTES {
        return Err(format!("memory `{t}` is more than 16Ti"));
    }
    Ok(bytes)
}

/// How to write a CPU quantity.
pub const CPU_HELP: &str = "cores such as `1` or `0.5`, or millicores such as `500m`";
/// How to write a memory quantity.
pub const MEMORY_HELP: &str = "bytes with a unit such as `512Mi`, `2Gi` or `1G`";

fn whole(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `1.5` → 1500; at most three decimals.
fn decimal_thousandths(text: &str) -> Option<u64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let int = if int.is_empty() { 0 } else { whole(int)? };
    let frac = if frac.is_empty() { 0 } else { whole(frac)? * 10u64.pow(3 - frac.len() as u32) };
    int.checked_mul(1000)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_forms() {
        assert_eq!(cpu_millis("500m"), Ok(500));
        assert_eq!(cpu_millis("2"), Ok(2000));
        assert_eq!(cpu_millis("0.25"), Ok(250));
        assert_eq!(cpu_millis(".5"), Ok(500));
        assert!(cpu_millis("0").unwrap_err().contains("zero"));
        assert!(cpu_millis("0.0001").is_err());
        assert!(cpu_millis("half").is_err());
        assert!(cpu_millis("-1").is_err());
        assert!(cpu_millis("5000").unwrap_err().contains("1024 cores"));
    }

    #[test]
    fn memory_forms() {
        assert_eq!(memory_bytes("512Mi"), Ok(512 << 20));
        assert_eq!(memory_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(memory_bytes("67108864"), Ok(64 << 20));
        assert!(memory_bytes("1Mi").unwrap_err().contains("6Mi"));
        assert!(memory_bytes("12 MB").is_err());
        assert!(memory_bytes("99999999999999999999Gi").is_err());
        assert!(memory_bytes("20Ti").unwrap_err().contains("16Ti"));
    }
}
