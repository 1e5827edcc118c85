//! B. Fan-out: independent no-op jobs (`true`) in environments of 10, two at a time:
//! two pipelines run at once, one job each, so exactly two processes run at any moment.
//! Floor: the same spawns of `true` from two threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use terrace_engine::Request;
use terrace_model::Event;
use terrace_store::RunState;
use tokio_util::sync::CancellationToken;

use crate::fixture::{Fixture, job, path_var, which};
use crate::stats::{cpu_time, ms};
use crate::{Checks, Row, Size};

const PER_ENV: usize = 10;
const CONCURRENCY: usize = 2;

pub async fn run(size: Size) -> anyhow::Result<Checks> {
    let envs = match size {
        Size::Tiny => 4,
        Size::Full => 100,
    };
    let total = envs * PER_ENV;
    let mut checks = Checks::default();
    let mut project = json!({"project": "bench", "environments": {}, "jobs": {}});
    for e in 0..envs {
        project["environments"][format!("f{e:03}")] = json!({});
    }
    for j in 0..PER_ENV {
        project["jobs"][format!("n{j:02}")] = job(&["true".to_string()], &[]);
    }
    let fx = Fixture::new(&project)?;
    let store = fx.store().await?;
    let engine = Arc::new(fx.engine(store, 1).await?);

    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_time();
    let t = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (engine, next) = (engine.clone(), next.clone());
            tokio::spawn(async move {
                let mut succeeded = 0;
                loop {
                    let e = next.fetch_add(1, Ordering::Relaxed);
                    if e >= envs {
                        return anyhow::Ok(succeeded);
                    }
                    let req = Request::new(format!("f{e:03}"), Event::Start);
                    let outcome = engine.run_event(req, crate::silent(), CancellationToken::new()).await?;
                    succeeded += outcome.jobs.iter().filter(|j| j.state == RunState::Succeeded).count();
                }
            })
        })
        .collect();
    let mut succeeded = 0;
    for w in workers {
        succeeded += w.await??;
    }
    let terrace = t.elapsed();
    let cpu1 = cpu_time();
    checks.check(succeeded == total, || format!("B: {succeeded} of {total} jobs succeeded"));

    let floor = tokio::task::spawn_blocking(move || spawn_floor(total)).await??;
    let cpu2 = cpu_time();
    let rate = total as f64 / terrace.as_secs_f64();
    let floor_rate = total as f64 / floor.as_secs_f64();
    let ratio = terrace.as_secs_f64() / floor.as_secs_f64();
    checks.rows.push(
        Row::new("B", format!("{total} no-op jobs, {envs} envs, concurrency {CONCURRENCY}: jobs/s"))
            .terrace(format!("{rate:.0} jobs/s"))
            .floor(format!("{floor_rate:.0} spawns/s"))
            .delta(format!("{:.2} ms/job", (ms(terrace) - ms(floor)) * CONCURRENCY as f64 / total as f64))
            .target(">= 1000 jobs/s", rate >= 1000.0),
    );
    let per_job = |d: Duration| ms(d) / total as f64;
    let (own, jobs) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    checks.rows.push(
        Row::new("B", "CPU per job: Terrace's process (the jobs' own)")
            .terrace(format!("{:.3} ms ({:.3} ms)", per_job(own), per_job(jobs)))
            .floor(format!("{:.3} ms ({:.3} ms)", per_job(cpu2.0 - cpu1.0), per_job(cpu2.1 - cpu1.1))),
    );
    checks.rows.push(
        Row::new("B", "wall time vs the floor's")
            .terrace(format!("{:.2} s", terrace.as_secs_f64()))
            .floor(format!("{:.2} s", floor.as_secs_f64()))
            .delta(format!("{ratio:.2}x"))
            .target("<= 1.5x", ratio <= 1.5),
    );
    Ok(checks)
}

/// `total` spawns of `true`, `CONCURRENCY` at a time.
fn spawn_floor(total: usize) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let path = path_var();
    let program = which("true");
    let t = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (next, path, program) = (next.clone(), path.clone(), program.clone());
                s.spawn(move || -> anyhow::Result<()> {
                    while next.fetch_add(1, Ordering::Relaxed) < total {
                        let status = std::process::Command::new(&program)
                            .env_clear()
                            .env("PATH", &path)
                            .stdin(std::process::Stdio::null())
                            .status()?;
                        anyhow::ensure!(status.success(), "true failed");
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("floor thread panicked"))?)
    })?;
    Ok(t.elapsed())
}
