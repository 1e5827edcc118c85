//! D. Logs: one job writes Terraform-like lines (a secret every 64th line) through
//! capture, masking and storage, with 10 and with 100 secrets; then every stored line
//! is read back to check that no secret got through. Floors: the same program writing
//! to /dev/null (the floor), and to a pipe (1 MiB, as Terrace's) that a thread
//! drains (what any capture must pay on this machine).

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;
use serde_json::json;
use terrace_engine::Request;
use terrace_model::Event;
use terrace_model::log::Stream;
use terrace_store::Store;
use tokio_util::sync::CancellationToken;

use crate::fixture::{Fixture, Programs, job, path_var};
use crate::jobprog::{SECRET_PREFIX, emitted, log_block};
use crate::{Checks, Row, Size};

pub async fn run(size: Size, programs: &Programs) -> anyhow::Result<Checks> {
    // TERRACE_BENCH_D_MIB overrides the size, to profile a shorter run.
    let bytes: u64 = match (std::env::var("TERRACE_BENCH_D_MIB").ok().and_then(|m| m.parse::<u64>().ok()), size) {
        (Some(mib), _) => mib << 20,
        (None, Size::Tiny) => 4 << 20,
        (None, Size::Full) => 1 << 30,
    };
    let mut checks = Checks::default();
    for (n, target) in [(10, 1000.0), (100, 300.0)] {
        one(&mut checks, programs, bytes, n, target).await?;
    }
    Ok(checks)
}

async fn one(checks: &mut Checks, programs: &Programs, bytes: u64, n: usize, target: f64) -> anyhow::Result<()> {
    let secrets: Vec<(String, String)> = (0..n)
        .map(|i| (format!("{SECRET_PREFIX}{i:03}"), format!("s3cr3t-{i:03}-{}", uuid::Uuid::now_v7().simple())))
        .collect();
    let mut vars = serde_json::Map::new();
    for (k, v) in &secrets {
        vars.insert(k.clone(), json!({"value": v, "secret": true}));
    }
    let argv = vec![programs.helper.display().to_string(), "emit".into(), bytes.to_string()];
    let project = json!({
        "project": "bench", "variables": vars, "environments": {"logs": {}}, "jobs": {"logs": job(&argv, &[])},
    });
    let fx = Fixture::new(&project)?;
    let store = fx.store().await?;
    let engine = fx.engine(store.clone(), 1).await?;

    let t = Instant::now();
    let req = Request::new("logs", Event::Start);
    let outcome = engine.run_event(req, crate::silent(), CancellationToken::new()).await?;
    let terrace = t.elapsed();
    checks.check(outcome.succeeded(), || format!("D: the log job failed: {:?}", outcome.jobs));

    let values: Vec<String> = secrets.iter().map(|(_, v)| v.clone()).collect();
    let block = log_block(&values);
    let (total, lines) = emitted(&block, bytes);
    let masked_per_block = block.split(|&b| b == b'\n').filter(|l| l.starts_with(b"  + password")).count() as u64;
    let expected_masked = masked_per_block * total / block.len() as u64;
    let run = outcome.jobs.first().map(|j| j.run_id).ok_or_else(|| anyhow::anyhow!("no run"))?;
    let (stored, masked, leaked) = scan(store.as_ref(), run, &values).await?;
    checks.check(stored == lines, || format!("D: {stored} stdout lines stored, {lines} written"));
    checks.check(masked == expected_masked, || format!("D: {masked} lines masked, expected {expected_masked}"));
    checks.check(leaked == 0, || format!("D: {leaked} stored lines contain a secret"));

    let env = secrets.clone();
    let helper = programs.helper.clone();
    let null = tokio::task::spawn_blocking(move || emit_floor(&helper, bytes, &env, false)).await??;
    let env = secrets.clone();
    let helper = programs.helper.clone();
    let pipe = tokio::task::spawn_blocking(move || emit_floor(&helper, bytes, &env, true)).await??;
    let rate = |d: Duration| total as f64 / 1e6 / d.as_secs_f64();
    checks.rows.push(
        Row::new("D", format!("{} MiB of logs, {n} secrets: MB/s (floor: /dev/null)", total >> 20))
            .terrace(format!("{:.0} MB/s", rate(terrace)))
            .floor(format!("{:.0} MB/s", rate(null)))
            .delta(format!("{:.2}x slower", terrace.as_secs_f64() / null.as_secs_f64()))
            .target(format!(">= {target:.0} MB/s"), rate(terrace) >= target),
    );
    checks.rows.push(
        Row::new("D", format!("  same, floor: a pipe drained by a thread ({n} secrets)"))
            .terrace(format!("{:.0} MB/s", rate(terrace)))
            .floor(format!("{:.0} MB/s", rate(pipe)))
            .delta(format!("{:.2}x slower", terrace.as_secs_f64() / pipe.as_secs_f64())),
    );
    checks.rows.push(
        Row::new("D", format!("  secrets found in the {stored} stored lines ({n} secrets)"))
            .terrace(leaked.to_string())
            .floor(format!("{masked} lines masked"))
            .target("0", leaked == 0),
    );
    Ok(())
}

/// Reads the run's whole log back: (stdout lines, lines holding `***`, lines holding a secret).
async fn scan(store: &dyn Store, run: terrace_model::RunId, secrets: &[String]) -> anyhow::Result<(u64, u64, u64)> {
    let ac = AhoCorasick::new(secrets)?;
    let (mut stdout, mut masked, mut leaked, mut offset) = (0, 0, 0, 0);
    loop {
        let page = store.read_logs(run, offset, 100_000).await?;
        let Some(last) = page.last() else { break };
        offset = last.offset + 1;
        for l in &page {
            stdout += u64::from(l.line.stream == Stream::Stdout);
            masked += u64::from(l.line.text.contains("***"));
            leaked += u64::from(ac.is_match(&l.line.text));
        }
    }
    Ok((stdout, masked, leaked))
}

/// The same job without Terrace: stdout to /dev/null, or to a pipe read in 256 KiB reads.
fn emit_floor(helper: &Path, bytes: u64, secrets: &[(String, String)], piped: bool) -> anyhow::Result<Duration> {
    let mut cmd = std::process::Command::new(helper);
    cmd.args(["emit", &bytes.to_string()]).env_clear().env("PATH", path_var()).envs(secrets.iter().cloned());
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    let t = Instant::now();
    let status = if piped {
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let mut pipe = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no pipe"))?;
        // The same pipe and reads as Terrace's capture (`crates/exec`: 1 MiB each).
        // SAFETY: F_SETPIPE_SZ on a pipe this function owns; failure leaves the default.
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&pipe), libc::F_SETPIPE_SZ, 1 << 20) };
        let mut buf = vec![0u8; 1 << 20];
        while pipe.read(&mut buf)? > 0 {}
        child.wait()?
    } else {
        cmd.stdout(std::fs::File::create("/dev/null")?).status()?
    };
    anyhow::ensure!(status.success(), "emit failed: {status}");
    Ok(t.elapsed())
}
