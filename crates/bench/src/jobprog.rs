//! The job programs the scenarios run, built into this binary (`terrace-bench stamp`,
//! `terrace-bench emit`) so Terrace and the floor spawn exactly the same executable.

use std::io::Write;

/// `stamp`: writes the wall-clock time at which it started, in nanoseconds, as the
/// output `STARTED_NS` to `$TERRACE_OUTPUT_FILE`. `now` is taken first thing in main.
pub fn stamp(now: i128) -> std::io::Result<()> {
    let path = std::env::var_os("TERRACE_OUTPUT_FILE").ok_or_else(|| std::io::Error::other("no output file"))?;
    let body = format!(r#"{{"STARTED_NS": {{"value": "{now}", "sensitive": false}}}}"#);
    std::fs::write(path, body)
}

/// Terraform-like lines; every `SECRET_EVERY`-th line carries one of the secrets.
const LINES: &[&str] = &[
    "module.vpc.aws_subnet.private[1]: Creating...",
    "module.vpc.aws_subnet.private[1]: Still creating... [10s elapsed]",
    "aws_instance.web[3]: Creation complete after 42s [id=i-0a1b2c3d4e5f60718]",
    "aws_security_group_rule.ingress[\"https\"]: Refreshing state... [id=sgrule-2718281828]",
    "  # aws_db_instance.main will be updated in-place",
    "  ~ resource \"aws_db_instance\" \"main\" {",
    "        id                     = \"db-ABCDEFGHIJKLMNOP\"",
    "      ~ allocated_storage      = 20 -> 40",
    "Plan: 3 to add, 1 to change, 0 to destroy.",
    "2025-03-01T12:00:00.000Z [DEBUG] provider.terraform-provider-aws: HTTP Request Sent: http.method=POST",
];
pub const SECRET_EVERY: usize = 64;
/// Environment variables whose values the `emit` job prints (the secrets to mask).
pub const SECRET_PREFIX: &str = "BENCH_SECRET_";

/// One block of log text: about 1 MiB of whole lines, a secret every `SECRET_EVERY` lines.
pub fn log_block(secrets: &[String]) -> Vec<u8> {
    let mut block = Vec::with_capacity(1 << 20);
    let mut i = 0;
    while block.len() < (1 << 20) - 256 {
        let line = LINES[i % LINES.len()];
        match secrets.get(i / SECRET_EVERY % secrets.len().max(1)).filter(|_| i % SECRET_EVERY == 0) {
            Some(s) => writeln!(block, "  + password = \"{s}\" # {line}"),
            None => writeln!(block, "{line}"),
        }
        .expect("writing to memory");
        i += 1;
    }
    block
}

/// `emit BYTES`: writes whole blocks to stdout until at least BYTES are out.
pub fn emit(bytes: u64) -> std::io::Result<()> {
    let mut secrets: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with(SECRET_PREFIX)).collect();
    secrets.sort();
    let block = log_block(&secrets.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    let mut out = std::io::stdout().lock();
    let mut written = 0u64;
    while written < bytes {
        out.write_all(&block)?;
        written += block.len() as u64;
    }
    out.flush()
}

/// How many bytes and lines `emit` writes for `bytes`.
pub fn emitted(block: &[u8], bytes: u64) -> (u64, u64) {
    let blocks = bytes.div_ceil(block.len() as u64);
    let lines = block.iter().filter(|&&b| b == b'\n').count() as u64;
    (blocks * block.len() as u64, blocks * lines)
}

/// `terrace-bench peak-rss PROGRAM ARGS...`: runs PROGRAM (its output discarded) and
/// prints its peak resident set in KiB, from wait4. Measured from this small process,
/// not from the benchmark itself: a child spawned with vfork (as `posix_spawn` does)
/// shares its parent's memory until exec, and the kernel counts that memory in the
/// child's peak, so spawned from the benchmark (hundreds of MB after the seeding) every
/// child would report at least the benchmark's size.
pub fn peak_rss(argv: &[String]) -> std::io::Result<()> {
    let (program, args) = argv.split_first().ok_or_else(|| std::io::Error::other("usage: peak-rss PROGRAM ARGS..."))?;
    let child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let pid = i32::try_from(child.id()).map_err(std::io::Error::other)?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; wait4 writes only into the two locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(std::io::Error::other(format!("{program} failed (wait status {status})")));
    }
    println!("{}", usage.ru_maxrss);
    Ok(())
}
