//! F. Docker: one container job (executor `docker`, an image the daemon has) from the
//! event to its recorded end, output file read; floor: a bare `docker run --rm` of the same
//! image with the same command, limits and output folder mounted, one after the other.
//! The image is built FROM scratch with a static busybox (`TERRACE_TEST_BUSYBOX`, else
//! /bin/busybox), as the tests build theirs: nothing is pulled.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use terrace_engine::Request;
use terrace_model::Event;
use terrace_store::Store;
use tokio_util::sync::CancellationToken;

use crate::fixture::Fixture;
use crate::stats::{median, ms};
use crate::{Checks, Row, Size};

const IMAGE: &str = "terrace-bench/busybox:1";
const SCRIPT: &str = r#"printf '{"N":{"value":"1","sensitive":false}}' > "$TERRACE_OUTPUT_FILE""#;

pub async fn run(size: Size) -> anyhow::Result<Checks> {
    let reps = match size {
        Size::Tiny => 1,
        Size::Full => 20,
    };
    let mut checks = Checks::default();
    tokio::task::spawn_blocking(build_image).await??;
    let project = json!({
        "project": "bench", "executor": "docker", "environments": {"box": {}},
        "jobs": {"c": {
            "source": "src", "image": IMAGE, "entrypoint": ["/bin/sh", "-c"],
            "events": ["start"], "commands": {"start": [SCRIPT]},
            "resources": {"cpu": "500m", "memory": "512Mi"},
        }},
    });
    let fx = Fixture::new(&project)?;
    let store = fx.store().await?;
    let engine = fx.engine(store.clone(), 1).await?;
    let out_dir = fx.dir.path().join("floor-output");
    std::fs::create_dir_all(&out_dir)?;

    let (mut terrace, mut floor) = (Vec::new(), Vec::new());
    // One warm-up of each, then alternate so noise on this shared machine hits both alike.
    for rep in 0..=reps {
        let t = Instant::now();
        let req = Request::new("box", Event::Start);
        let outcome = engine.run_event(req, crate::silent(), CancellationToken::new()).await?;
        let took = t.elapsed();
        checks.check(outcome.succeeded(), || format!("F: the container job failed: {:?}", outcome.jobs));
        let env = store.get_environment("bench", "box").await?.ok_or_else(|| anyhow::anyhow!("no environment"))?;
        let value = store.outputs(env.id).await?.into_iter().find(|o| o.name == "N").map(|o| o.value);
        checks.check(value.as_deref() == Some("1"), || format!("F: the job's output is {value:?}"));
        let dir = out_dir.clone();
        let f = tokio::task::spawn_blocking(move || bare_run(&dir)).await??;
        if rep > 0 {
            terrace.push(took);
            floor.push(f);
        }
    }
    let (t, f) = (median(&terrace), median(&floor));
    checks.rows.push(
        Row::new("F", format!("one container job, event → recorded end (median of {reps})"))
            .terrace(format!("{:.1} ms", ms(t)))
            .floor(format!("{:.1} ms (docker run --rm)", ms(f)))
            .delta(format!("{:+.1} ms ({:.2}x)", ms(t) - ms(f), ms(t) / ms(f))),
    );
    Ok(checks)
}

fn busybox() -> PathBuf {
    std::env::var_os("TERRACE_TEST_BUSYBOX").map(PathBuf::from).unwrap_or_else(|| "/bin/busybox".into())
}

/// The image, built once (the daemon's cache makes a rebuild a no-op).
fn build_image() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(busybox(), dir.path().join("busybox"))
        .map_err(|e| anyhow::anyhow!("F needs a static busybox at {} ({e})", busybox().display()))?;
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )?;
    let status = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| anyhow::anyhow!("F needs the docker CLI and a Docker Engine ({e})"))?;
    anyhow::ensure!(status.success(), "F: building {IMAGE} failed: {status}");
    Ok(())
}

/// `docker run --rm` of the same image, command, limits and output folder; the output
/// file read back as Terrace reads it.
fn bare_run(out_dir: &std::path::Path) -> anyhow::Result<Duration> {
    let file = out_dir.join("output.json");
    std::fs::write(&file, "")?;
    let t = Instant::now();
    let status = Command::new("docker")
        .args(["run", "--rm", "--log-driver", "none", "--cpus", "0.5", "--memory", "512m", "--memory-swap", "512m"])
        .args(["-e", "TERRACE_OUTPUT_FILE=/terrace-output/output.json", "-v"])
        .arg(format!("{}:/terrace-output", out_dir.display()))
        .args(["--entrypoint", "/bin/sh", IMAGE, "-c", SCRIPT])
        .stdin(Stdio::null())
        .status()?;
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    let took = t.elapsed();
    anyhow::ensure!(status.success() && value["N"]["value"] == "1", "F: the bare docker run failed: {status}");
    Ok(took)
}
