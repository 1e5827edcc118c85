//! G. Promotion (seed 003, issue #14): from the promotion asked to its consumer redeployed,
//! against Debian's `docker-registry` on 127.0.0.1: the version checked in the registry,
//! the order rule, the promotion recorded `started`, the tag moved (manifest GET + PUT),
//! the pin, audit and history written, then the consuming job's `commands.redeploy` run
//! and recorded. Floor: the same manifest GET and PUT done bare with one HTTP client, and
//! the same redeploy command spawned bare. Also the registry round trips one re-tag needs
//! (cold client: challenges and tokens included; warm). The seed's bar: under two minutes.

use std::time::{Duration, Instant};

use serde_json::json;
use terrace_engine::promote::{PromoteRequest, Promoted, Promoter, Source};
use terrace_engine::{Request, SecretValues};
use terrace_model::parse::parse_project;
use terrace_store::Store;
use tokio_util::sync::CancellationToken;

use crate::fixture::Fixture;
use crate::stats::{median, ms};
use crate::{Checks, Row, Size};

#[allow(dead_code)]
#[path = "../../cli/tests/common/registry.rs"]
mod registry;

const REPO: &str = "library/software";
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

pub async fn run(size: Size) -> anyhow::Result<Checks> {
    let reps = match size {
        Size::Tiny => 2,
        Size::Full => 20,
    };
    let mut checks = Checks::default();
    let registry = tokio::task::spawn_blocking(|| {
        let r = registry::Registry::start();
        let digests: Vec<String> = ["0.0.1", "0.0.2"].iter().map(|v| r.push_image(REPO, Some(v), v, "amd64")).collect();
        (r, digests)
    });
    let (registry, digests) = registry.await?;
    let project = json!({
        "project": "bench",
        "artifacts": {"software": {"image": format!("{}/{REPO}", registry.host)}},
        "environments": {"dev": {}},
        "jobs": {"service": {
            "source": "src", "artifacts": ["software"], "events": ["start"],
            "commands": {"start": ["true"], "redeploy": ["true"]},
        }},
    });
    let fx = Fixture::new(&project)?;
    let store = fx.store().await?;
    let engine = fx.engine(store.clone(), 1).await?;
    let text = std::fs::read_to_string(fx.project_file())?;
    let model = parse_project("terrace.yaml", &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let secrets = SecretValues::default();
    let no_env = |_: &str| None;
    let promoter =
        Promoter { project: &model, store: store.as_ref(), control: store.as_ref(), secrets: &secrets, env: &no_env };
    let http = reqwest::Client::new();
    let true_bin = crate::fixture::which("true");

    let (mut terrace, mut floor) = (Vec::new(), Vec::new());
    // One warm-up of each, then alternate so noise on this shared machine hits both alike.
    for rep in 0..=reps {
        let version = ["0.0.1", "0.0.2"][rep % 2];
        let t = Instant::now();
        let req = PromoteRequest {
            artifact: "software".into(),
            to: "dev".into(),
            source: Source::Version(version.into()),
            skip_order: false,
            who: "bench".into(),
        };
        let Promoted::Done(p) = promoter.request(&req).await? else {
            anyhow::bail!("G: the promotion waits for an approval");
        };
        let mut redeployed = true;
        for (job, event) in promoter.consumers(&p.to_env, &p.artifact) {
            let req = Request { job: Some(job), ..Request::new(p.to_env.clone(), event) };
            redeployed &= engine.run_event(req, crate::silent(), CancellationToken::new()).await?.succeeded();
        }
        let took = t.elapsed();
        checks.check(redeployed, || "G: the redeploy failed".into());
        checks.check(p.digest == digests[rep % 2], || {
            format!("G: promoted {} instead of {}", p.digest, digests[rep % 2])
        });
        let f = bare(&http, &registry.host, version, &true_bin).await?;
        if rep > 0 {
            terrace.push(took);
            floor.push(f);
        }
    }
    let runs = store.list_runs(&terrace_store::RunFilter { limit: Some(1000), ..Default::default() }).await?;
    let redeploys = runs.iter().filter(|r| r.event == terrace_model::Event::Redeploy).count();
    checks.check(redeploys == reps + 1, || format!("G: {redeploys} redeploy runs for {} promotions", reps + 1));
    let (t, f) = (median(&terrace), median(&floor));
    checks.rows.push(
        Row::new("G", format!("promotion → consumer redeployed (median of {reps})"))
            .terrace(format!("{:.1} ms", ms(t)))
            .floor(format!("{:.1} ms (manifest GET+PUT, `true`)", ms(f)))
            .delta(format!("{:+.1} ms ({:.2}x)", ms(t) - ms(f), ms(t) / ms(f)))
            .target("< 2 min (seed 003)", t < Duration::from_secs(120)),
    );
    let def = &model.artifacts["software"];
    let source = terrace_registry::Reference::parse(&format!("{}:0.0.2", def.image))?;
    let trips =
        terrace_registry::bench::retag_round_trips(terrace_registry::Client::builder(), &source, "bench").await?;
    checks.check(trips.warm >= 2, || format!("G: a warm re-tag took {} round trips", trips.warm));
    checks.rows.push(
        Row::new("G", "registry round trips of one re-tag (cold / warm client)")
            .terrace(format!("{} / {}", trips.cold, trips.warm))
            .floor("2 (GET + PUT)")
            .delta(format!("+{}", trips.warm.saturating_sub(2))),
    );
    drop(registry);
    Ok(checks)
}

/// The re-tag done bare: GET the version's manifest, PUT the same bytes under `dev`; then
/// the redeploy command spawned.
async fn bare(
    http: &reqwest::Client,
    host: &str,
    version: &str,
    true_bin: &std::path::Path,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let got = http
        .get(format!("http://{host}/v2/{REPO}/manifests/{version}"))
        .header("accept", MANIFEST_TYPES)
        .send()
        .await?
        .error_for_status()?;
    let media = got.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes = got.bytes().await?;
    http.put(format!("http://{host}/v2/{REPO}/manifests/dev"))
        .header("content-type", media)
        .body(bytes)
        .send()
        .await?
        .error_for_status()?;
    let status = tokio::process::Command::new(true_bin).status().await?;
    anyhow::ensure!(status.success(), "G: the bare redeploy failed");
    Ok(t.elapsed())
}
