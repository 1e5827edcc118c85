//! E. Scale: a store holding many environments and runs, read by 50 concurrent clients:
//! the store queries behind `status` and the API's lists (in-process, one shared store,
//! as a server would hold it), `terrace status` as a user runs it (the CLI in local
//! mode, one process per call), and the resident memory of such a process.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use terrace_store::{RunFilter, SqliteStore, Store};

use crate::fixture::{Fixture, Programs, job};
use crate::seed::{PROJECT, env_name, seed};
use crate::stats::{ms, percentile};
use crate::{Checks, Row, Size};

const QUERIES: [&str; 4] = [
    "list_environments (status, API env list)",
    "last_runs of one env (status ENV)",
    "list_runs, project, limit 100 (API run list)",
    "list_runs, one env, limit 100 (API run list)",
];

pub async fn run(size: Size, programs: &Programs) -> anyhow::Result<Checks> {
    let (envs, runs_per_env, clients, rounds, cli_rounds) = match size {
        Size::Tiny => (50, 10, 5, 2, 1),
        Size::Full => (10_000, 10, 50, 5, 2),
    };
    let mut checks = Checks::default();
    let jobs: serde_json::Map<String, serde_json::Value> =
        (0..10).map(|j| (format!("j{j}"), job(&["true".to_string()], &[]))).collect();
    let project = json!({"project": PROJECT, "environments": {env_name(0): {}}, "jobs": jobs});
    let fx = Fixture::new(&project)?;
    fx.store().await?.close().await;
    let t = Instant::now();
    seed(&fx.data.join("terrace.db"), envs, runs_per_env).await?;
    let seeded = t.elapsed();
    let store = fx.store().await?;

    let listed = store.list_environments(Some(PROJECT)).await?.len();
    checks.check(listed == envs, || format!("E: {listed} environments listed, {envs} seeded"));
    let all = store.list_runs(&RunFilter { limit: Some(u32::MAX), ..RunFilter::default() }).await?.len();
    checks.check(all == envs * runs_per_env, || format!("E: {all} runs listed, {} seeded", envs * runs_per_env));
    checks.rows.push(
        Row::new("E", format!("fixture: {envs} environments, {} runs", envs * runs_per_env))
            .terrace(format!("seeded in {:.1} s", seeded.as_secs_f64())),
    );

    let samples = store_load(store.clone(), envs, clients, rounds).await?;
    for (q, s) in QUERIES.iter().zip(&samples) {
        checks.rows.push(
            Row::new("E", format!("store {q}, {clients} clients, p99 of {}", s.len()))
                .terrace(format!("{:.1} ms", ms(percentile(s, 99.0))))
                .floor(format!("p50 {:.1} ms", ms(percentile(s, 50.0))))
                .target("<= 20 ms", percentile(s, 99.0) <= Duration::from_millis(20)),
        );
    }
    store.close().await;

    match &programs.terrace {
        Some(bin) => {
            for (what, args) in [("`terrace status`", vec!["status"]), ("`terrace status ENV`", vec!["status", "ENV"])]
            {
                let s = cli_load(bin, &fx, &args, envs, clients, cli_rounds).await?;
                checks.check(s.iter().all(|(_, ok)| *ok), || format!("E: {what} failed"));
                let d: Vec<Duration> = s.iter().map(|(d, _)| *d).collect();
                checks.rows.push(
                    Row::new("E", format!("CLI {what}, {clients} clients, p99 of {}", d.len()))
                        .terrace(format!("{:.1} ms", ms(percentile(&d, 99.0))))
                        .floor(format!("p50 {:.1} ms", ms(percentile(&d, 50.0))))
                        .target("<= 20 ms", percentile(&d, 99.0) <= Duration::from_millis(20)),
                );
            }
            let rss = max_rss_kib(bin, &fx)?;
            checks.rows.push(
                Row::new("E", "CLI `terrace status` (all envs): max resident memory")
                    .terrace(format!("{:.1} MB", rss as f64 / 1024.0))
                    .target("<= 150 MB", rss <= 150 * 1024),
            );
        }
        None => {
            checks.rows.push(Row::new("E", "CLI `terrace status`").terrace("not measured: terrace binary not found"))
        }
    }
    checks
        .rows
        .push(Row::new("E", "HTTP env list / run list, server RSS").terrace("not measured: server not available"));
    Ok(checks)
}

/// One phase per query: `clients` tasks each running it `rounds` times at once, so a
/// cheap query is not timed queueing behind an expensive one; latencies per query.
async fn store_load(
    store: Arc<SqliteStore>,
    envs: usize,
    clients: usize,
    rounds: usize,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    let ids: Vec<_> = store.list_environments(Some(PROJECT)).await?.into_iter().map(|e| e.id).collect();
    let ids = Arc::new(ids);
    let mut all = Vec::new();
    for q in 0..QUERIES.len() {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (store, ids) = (store.clone(), ids.clone());
                tokio::spawn(async move {
                    let mut out = Vec::with_capacity(rounds);
                    for r in 0..rounds {
                        let e = (c * 7919 + r * 104_729) % envs;
                        let project =
                            RunFilter { project: Some(PROJECT.into()), limit: Some(100), ..RunFilter::default() };
                        let t = Instant::now();
                        match q {
                            0 => drop(store.list_environments(Some(PROJECT)).await?),
                            1 => drop(store.last_runs(ids[e]).await?),
                            2 => drop(store.list_runs(&project).await?),
                            _ => drop(store.list_runs(&RunFilter { environment: Some(env_name(e)), ..project }).await?),
                        }
                        out.push(t.elapsed());
                    }
                    anyhow::Ok(out)
                })
            })
            .collect();
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await??);
        }
        all.push(samples);
    }
    Ok(all)
}

/// `clients` concurrent loops of `terrace ARGS` (ENV replaced by a different
/// environment each time); each call's wall time and success.
async fn cli_load(
    bin: &Path,
    fx: &Fixture,
    args: &[&str],
    envs: usize,
    clients: usize,
    rounds: usize,
) -> anyhow::Result<Vec<(Duration, bool)>> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (bin, file, data) = (bin.to_path_buf(), fx.project_file(), fx.data.clone());
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for r in 0..rounds {
                    let env = env_name((c * 31 + r * 977) % envs);
                    let args = args.iter().map(|a| if a == "ENV" { env.clone() } else { a.clone() });
                    let t = Instant::now();
                    let status = tokio::process::Command::new(&bin)
                        .arg("--project")
                        .arg(&file)
                        .arg("--data")
                        .arg(&data)
                        .args(args)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .status()
                        .await?;
                    out.push((t.elapsed(), status.success()));
                }
                anyhow::Ok(out)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// The peak resident set of one `terrace status` listing every environment, from wait4.
fn max_rss_kib(bin: &Path, fx: &Fixture) -> anyhow::Result<u64> {
    let child = std::process::Command::new(bin)
        .arg("--project")
        .arg(fx.project_file())
        .arg("--data")
        .arg(&fx.data)
        .arg("status")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let pid = i32::try_from(child.id())?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; wait4 writes only into the two locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    anyhow::ensure!(r == pid, "wait4 failed: {}", std::io::Error::last_os_error());
    Ok(u64::try_from(usage.ru_maxrss).unwrap_or(0))
}
