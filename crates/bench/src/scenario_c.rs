//! C. Latency from an event accepted to its job's process running. The job is this
//! binary's `stamp` mode, which records CLOCK_REALTIME first thing in `main`; the bench
//! takes the same clock just before handing over the event, so the difference is exact
//! to the clock's resolution (ns) and includes the exec and the program's own start-up,
//! which the floor (spawning `stamp` directly) pays too.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use terrace_engine::Request;
use terrace_model::Event;
use terrace_store::{SqlStore, Store};
use tokio_util::sync::CancellationToken;

use crate::fixture::{Fixture, Programs, job, path_var};
use crate::server::{Server, create_token};
use crate::stats::{ms, percentile, realtime_ns};
use crate::{Checks, Row, Size};

pub async fn run(size: Size, programs: &Programs) -> anyhow::Result<Checks> {
    let (events, cli_events) = match size {
        Size::Tiny => (5, 3),
        Size::Full => (1000, 1000),
    };
    let mut checks = Checks::default();
    let argv = vec![programs.helper.display().to_string(), "stamp".to_string()];
    let project = json!({"project": "bench", "environments": {"lat": {}}, "jobs": {"stamp": job(&argv, &[])}});
    let fx = Fixture::new(&project)?;
    let store = fx.store().await?;
    let engine = fx.engine(store.clone(), 1).await?;

    let mut terrace = Vec::with_capacity(events);
    let mut floor = Vec::with_capacity(events);
    for _ in 0..events {
        let req = Request::new("lat", Event::Start);
        let t0 = realtime_ns();
        let outcome = engine.run_event(req, crate::silent(), CancellationToken::new()).await?;
        checks.check(outcome.succeeded(), || format!("C: the stamp job failed: {:?}", outcome.jobs));
        terrace.push(since(t0, started(&store).await?));
        floor.push(stamp_floor(&programs.helper, fx.dir.path())?);
    }
    push_rows(&mut checks, "in-process run_event -> job running", &terrace, &floor, events);
    match &programs.terrace {
        Some(bin) => {
            let mut cli = Vec::with_capacity(cli_events);
            for _ in 0..cli_events {
                let t0 = realtime_ns();
                let status = tokio::process::Command::new(bin)
                    .arg("--project")
                    .arg(fx.project_file())
                    .arg("--data")
                    .arg(&fx.data)
                    .args(["up", "lat", "--quiet"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await?;
                if !status.success() {
                    // One report is enough: a CLI that cannot run fails every event alike.
                    checks.problems.push(format!("C: terrace up exited with {status}"));
                    break;
                }
                cli.push(since(t0, started(&store).await?));
            }
            push_rows(&mut checks, "CLI `terrace up` start -> job running", &cli, &floor, cli_events);
        }
        None => checks.rows.push(
            Row::new("C", "CLI `terrace up` start -> job running")
                .terrace("not measured: terrace binary not found (cargo build --release -p terrace-cli)"),
        ),
    }
    match &programs.terrace {
        Some(bin) => {
            let (before, after) = api_latency(bin, &fx, &store, cli_events, &mut checks).await?;
            push_rows(&mut checks, "API POST event -> job running", &before, &floor, before.len());
            checks.rows.push(
                Row::new("C", format!("  API 202 received -> job running, p50 / p99 of {}", after.len()))
                    .terrace(format!("{:.2} / {:.2} ms", ms(percentile(&after, 50.0)), ms(percentile(&after, 99.0)))),
            );
        }
        None => {
            checks.rows.push(Row::new("C", "API POST event -> job running").terrace("not measured: no terrace binary"))
        }
    }
    Ok(checks)
}

/// The same events through a `terrace server` over the same store: the clock is read
/// just before the POST (so the figure holds the HTTP request and the durable queue) and
/// again when its `202` arrives; each request is awaited before the next.
async fn api_latency(
    bin: &Path,
    fx: &Fixture,
    store: &SqlStore,
    events: usize,
    checks: &mut Checks,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let token = create_token(bin, fx, "operator")?;
    let server = Server::start(bin, fx)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let base = format!("{}/api/v1", server.url);
    let (mut before, mut after) = (Vec::with_capacity(events), Vec::with_capacity(events));
    for _ in 0..events {
        let t0 = realtime_ns();
        let resp = http
            .post(format!("{base}/projects/bench/environments/lat/events"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(r#"{"event": "start"}"#)
            .send()
            .await?;
        let accepted = realtime_ns();
        let status = resp.status();
        let body: serde_json::Value = serde_json::from_str(&resp.text().await?)?;
        anyhow::ensure!(status.as_u16() == 202, "POST event answered {status}: {body}");
        let id = body["request_id"].as_str().unwrap_or_default().to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let state = loop {
            let r = http.get(format!("{base}/requests/{id}")).bearer_auth(&token).send().await?.text().await?;
            let r: serde_json::Value = serde_json::from_str(&r)?;
            let state = r["state"].as_str().unwrap_or_default().to_string();
            if !matches!(state.as_str(), "queued" | "running") {
                break state;
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "request {id} still {state} after 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if state != "succeeded" {
            checks.problems.push(format!("C: request {id} through the API ended {state}"));
            break;
        }
        let started = started(store).await?;
        before.push(since(t0, started));
        after.push(since(accepted, started));
    }
    drop(server);
    Ok((before, after))
}

fn push_rows(checks: &mut Checks, what: &str, samples: &[Duration], floor: &[Duration], n: usize) {
    for p in [50.0, 99.0] {
        let (t, f) = (percentile(samples, p), percentile(floor, p));
        let mut row = Row::new("C", format!("{what}, p{p} of {n}"))
            .terrace(format!("{:.2} ms", ms(t)))
            .floor(format!("{:.2} ms", ms(f)))
            .delta(format!("+{:.2} ms", ms(t) - ms(f)));
        if p == 99.0 {
            row = row.target("<= 5 ms", ms(t) <= 5.0);
        }
        checks.rows.push(row);
    }
}

fn since(t0: i128, started: i128) -> Duration {
    Duration::from_nanos(u64::try_from(started - t0).unwrap_or(0))
}

/// The start time the last stamp job recorded.
async fn started(store: &SqlStore) -> anyhow::Result<i128> {
    let env = store.get_environment("bench", "lat").await?.ok_or_else(|| anyhow::anyhow!("no environment"))?;
    let out = store.outputs(env.id).await?.into_iter().find(|o| o.name == "STARTED_NS");
    Ok(out.ok_or_else(|| anyhow::anyhow!("the stamp job wrote no output"))?.value.parse()?)
}

/// The floor: spawn `stamp` directly and read its file.
fn stamp_floor(helper: &Path, dir: &Path) -> anyhow::Result<Duration> {
    let out = dir.join("stamp.json");
    let t0 = realtime_ns();
    let status = std::process::Command::new(helper)
        .arg("stamp")
        .env_clear()
        .env("PATH", path_var())
        .env("TERRACE_OUTPUT_FILE", &out)
        .stdin(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "stamp failed: {status}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    let started: i128 = v["STARTED_NS"]["value"].as_str().unwrap_or_default().parse()?;
    Ok(since(t0, started))
}
