//! A. Chain: one environment, N shell jobs in a chain; each reads its upstream's output
//! from the environment and writes its own. Floor: the same N `/bin/sh -c` processes one
//! after the other, the value passed through the same way (environment in, file out).

use std::time::{Duration, Instant};

use serde_json::json;
use terrace_engine::Request;
use terrace_model::Event;
use terrace_store::Store;
use tokio_util::sync::CancellationToken;

use crate::fixture::{Fixture, job, path_var};
use crate::stats::{median, ms};
use crate::{Checks, Row, Size};

fn name(k: usize) -> String {
    format!("V{k:02}")
}

/// The command of job `k`: upstream value + 1, as the output `V<k>`.
fn command(k: usize) -> Vec<String> {
    let upstream = if k == 0 { "0".to_string() } else { name(k - 1) };
    let script = format!(
        r#"printf '{{"{out}":{{"value":"%s","sensitive":false}}}}' "$(({upstream} + 1))" > "$TERRACE_OUTPUT_FILE""#,
        out = name(k)
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

pub async fn run(size: Size) -> anyhow::Result<Checks> {
    let (jobs, reps) = match size {
        Size::Tiny => (5, 1),
        Size::Full => (40, 10),
    };
    let mut checks = Checks::default();
    let mut project = json!({"project": "bench", "environments": {"chain": {}}, "jobs": {}});
    for k in 0..jobs {
        let deps: Vec<String> = if k == 0 { vec![] } else { vec![format!("j{:02}", k - 1)] };
        project["jobs"][format!("j{k:02}")] = job(&command(k), &deps);
    }
    let fx = Fixture::new(&project)?;
    let store = fx.store().await?;
    let engine = fx.engine(store.clone(), 1).await?;

    let mut terrace = Vec::new();
    let mut floor = Vec::new();
    // One warm-up of each (page cache, first environment record), then alternate so
    // noise on this shared machine hits both alike.
    for rep in 0..=reps {
        let t = Instant::now();
        let req = Request::new("chain", Event::Start);
        let outcome = engine.run_event(req, crate::silent(), CancellationToken::new()).await?;
        let took = t.elapsed();
        checks.check(outcome.succeeded(), || format!("A: chain failed at {:?}", outcome.failed_job));
        let env = store.get_environment("bench", "chain").await?.ok_or_else(|| anyhow::anyhow!("no environment"))?;
        let last = store.outputs(env.id).await?.into_iter().find(|o| o.name == name(jobs - 1));
        checks.check(last.as_ref().map(|o| o.value.as_str()) == Some(&jobs.to_string()), || {
            format!("A: the last job's output is {:?}, expected {jobs}", last.map(|o| o.value))
        });
        let (f, value) = chain_floor(&fx, jobs)?;
        checks.check(value == jobs.to_string(), || format!("A: the floor's chain ended at {value}"));
        if rep > 0 {
            terrace.push(took);
            floor.push(f);
        }
    }
    let (t, f) = (median(&terrace), median(&floor));
    let per_job = (ms(t) - ms(f)) / jobs as f64;
    checks.rows.push(
        Row::new("A", format!("chain of {jobs} jobs, wall time (median of {reps})"))
            .terrace(format!("{:.1} ms", ms(t)))
            .floor(format!("{:.1} ms", ms(f)))
            .delta(format!("{:.2}x", ms(t) / ms(f))),
    );
    checks.rows.push(
        Row::new("A", "overhead per job above the floor")
            .terrace(format!("{per_job:.2} ms"))
            .floor(format!("{:.2} ms/job", ms(f) / jobs as f64))
            .delta(format!("+{per_job:.2} ms/job"))
            .target("<= 2 ms", per_job <= 2.0),
    );
    Ok(checks)
}

/// The same processes without Terrace: spawn, wait, read the output file, pass it on.
fn chain_floor(fx: &Fixture, jobs: usize) -> anyhow::Result<(Duration, String)> {
    let out = fx.dir.path().join("floor-output.json");
    let path = path_var();
    let mut value = String::new();
    let t = Instant::now();
    for k in 0..jobs {
        let argv = command(k);
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]).env_clear().env("PATH", &path).env("TERRACE_OUTPUT_FILE", &out);
        cmd.stdin(std::process::Stdio::null());
        if k > 0 {
            cmd.env(name(k - 1), &value);
        }
        let status = cmd.status()?;
        anyhow::ensure!(status.success(), "floor job {k} failed: {status}");
        let parsed: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
        value = parsed[name(k)]["value"].as_str().unwrap_or_default().to_string();
    }
    Ok((t.elapsed(), value))
}
