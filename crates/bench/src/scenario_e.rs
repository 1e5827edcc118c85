//! E. Scale: a store holding many environments and runs, read by 50 concurrent clients:
//! the store queries behind `status` and the API's lists (in-process, one shared store,
//! as a server would hold it); the HTTP API of a real `terrace server` over that store
//! (its environment list, first and middle page, and its run list) with the server's
//! peak resident memory; and `terrace status` as a user runs it (the CLI in local mode
//! and in client mode, one process per call) with its peak resident memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use terrace_store::{EnvPage, RunCursor, RunFilter, SqlStore, Store};

use crate::fixture::{Fixture, Programs, job};
use crate::seed::{PROJECT, env_name, seed};
use crate::server::{Server, create_token};
use crate::stats::{ms, percentile};
use crate::{Checks, Row, Size};

/// Environments per page of the store queries and HTTP requests (the API's default).
const PAGE: u32 = 100;

const QUERIES: [&str; 5] = [
    "list_environments, first page of 100 (API env list)",
    "list_environments, a middle page of 100 (API env list)",
    "last_runs of one env (status ENV)",
    "list_runs, project, limit 100 (API run list)",
    "list_runs, one env, limit 100 (API run list)",
];

pub async fn run(size: Size, programs: &Programs) -> anyhow::Result<Checks> {
    let (envs, runs_per_env, clients, rounds, http_rounds, cli_rounds) = match size {
        Size::Tiny => (50, 10, 5, 2, 2, 1),
        Size::Full => (10_000, 10, 50, 5, 20, 2),
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

    let listed = count_environments(&*store).await?;
    checks.check(listed == envs, || format!("E: {listed} environments listed, {envs} seeded"));
    let all = store.list_runs(&RunFilter { limit: Some(u32::MAX), ..RunFilter::default() }).await?.len();
    checks.check(all == envs * runs_per_env, || format!("E: {all} runs listed, {} seeded", envs * runs_per_env));
    checks.rows.push(
        Row::new("E", format!("fixture: {envs} environments, {} runs", envs * runs_per_env))
            .terrace(format!("seeded in {:.1} s", seeded.as_secs_f64())),
    );
    // The run list's middle: the newest run of the middle environment.
    let middle = RunFilter {
        project: Some(PROJECT.into()),
        environment: Some(env_name(envs / 2)),
        limit: Some(1),
        ..RunFilter::default()
    };
    let middle_run = store.list_runs(&middle).await?.first().map(RunCursor::of).context("no run in the middle")?;

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

    let Some(bin) = &programs.terrace else {
        checks.rows.push(Row::new("E", "HTTP API, `terrace status`").terrace("not measured: terrace binary not found"));
        return Ok(checks);
    };
    let load = Load { envs, clients, rounds: http_rounds };
    let token = create_token(bin, &fx, "viewer")?;
    let server = Server::start(bin, &fx)?;
    // One client alone first: the time a request takes without queueing behind others.
    let alone = http_load(&server.url, &token, Load { clients: 1, ..load }, middle_run).await?;
    for (what, s) in &alone {
        checks.check(s.iter().all(|(_, ok)| *ok), || format!("E: HTTP {what}: a request failed or answered wrong"));
        let d: Vec<Duration> = s.iter().map(|(d, _)| *d).collect();
        checks.rows.push(
            Row::new("E", format!("HTTP {what}, 1 client alone, p50 / p99 of {}", d.len())).terrace(format!(
                "{:.2} / {:.2} ms",
                ms(percentile(&d, 50.0)),
                ms(percentile(&d, 99.0))
            )),
        );
    }
    let http = http_load(&server.url, &token, load, middle_run).await?;
    for (what, s) in &http {
        checks.check(s.iter().all(|(_, ok)| *ok), || format!("E: HTTP {what}: a request failed or answered wrong"));
        let d: Vec<Duration> = s.iter().map(|(d, _)| *d).collect();
        checks.rows.push(
            Row::new("E", format!("HTTP {what}, {clients} clients, p99 of {}", d.len()))
                .terrace(format!("{:.1} ms", ms(percentile(&d, 99.0))))
                .floor(format!("p50 {:.1} ms", ms(percentile(&d, 50.0))))
                .target("<= 20 ms", percentile(&d, 99.0) <= Duration::from_millis(20)),
        );
    }

    let client_mode = Mode::Client { url: server.url.clone(), token: token.clone() };
    for (mode, label) in [(Mode::Local, "local mode"), (client_mode, "client mode")] {
        for (what, args) in [("`terrace status`", vec!["status"]), ("`terrace status ENV`", vec!["status", "ENV"])] {
            let s = cli_load(bin, &fx, &mode, &args, envs, clients, cli_rounds).await?;
            checks.check(s.iter().all(|(_, ok)| *ok), || format!("E: {what} ({label}) failed"));
            let d: Vec<Duration> = s.iter().map(|(d, _)| *d).collect();
            checks.rows.push(
                Row::new("E", format!("CLI {what} ({label}), {clients} clients, p99 of {}", d.len()))
                    .terrace(format!("{:.1} ms", ms(percentile(&d, 99.0))))
                    .floor(format!("p50 {:.1} ms", ms(percentile(&d, 50.0))))
                    .target("<= 20 ms", percentile(&d, 99.0) <= Duration::from_millis(20)),
            );
        }
        let alone = cli_load(bin, &fx, &mode, &["status"], envs, 1, cli_rounds * 3).await?;
        checks.check(alone.iter().all(|(_, ok)| *ok), || format!("E: `terrace status` ({label}) failed"));
        let d: Vec<Duration> = alone.iter().map(|(d, _)| *d).collect();
        checks.rows.push(
            Row::new("E", format!("CLI `terrace status` ({label}), 1 client alone, p50 / max of {}", d.len()))
                .terrace(format!("{:.1} / {:.1} ms", ms(percentile(&d, 50.0)), ms(percentile(&d, 100.0)))),
        );
        // Every environment printed, one line each under the header.
        let out = status_command(bin, &fx, &mode).stdout(Stdio::piped()).output()?;
        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
        checks.check(out.status.success() && lines == envs + 1, || {
            format!("E: `terrace status` ({label}) printed {lines} lines for {envs} environments")
        });
        let rss = peak_rss_kib(&programs.helper, status_command(bin, &fx, &mode))?;
        checks.rows.push(
            Row::new("E", format!("CLI `terrace status` (all envs, {label}): peak resident memory"))
                .terrace(format!("{:.1} MB", rss as f64 / 1024.0))
                .target("<= 150 MB", rss <= 150 * 1024),
        );
    }

    let hwm = server.peak_rss_kib()?;
    checks.rows.push(
        Row::new("E", "`terrace server` after the HTTP and client-mode load: peak resident memory (VmHWM)")
            .terrace(format!("{:.1} MB", hwm as f64 / 1024.0))
            .target("<= 150 MB", hwm <= 150 * 1024),
    );
    drop(server);
    Ok(checks)
}

/// Every environment of the project, walked in pages of 1,000.
async fn count_environments(store: &dyn Store) -> anyhow::Result<usize> {
    let mut page = EnvPage::first(1000);
    let mut n = 0;
    loop {
        let envs = store.list_environments(PROJECT, &page).await?;
        n += envs.len();
        match envs.last() {
            Some(last) if envs.len() == 1000 => page.after = Some(last.name.clone()),
            _ => return Ok(n),
        }
    }
}

/// One phase per query: `clients` tasks each running it `rounds` times at once, so a
/// cheap query is not timed queueing behind an expensive one; latencies per query.
async fn store_load(
    store: Arc<SqlStore>,
    envs: usize,
    clients: usize,
    rounds: usize,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    let ids: Vec<_> = {
        let mut ids = Vec::with_capacity(envs);
        let mut page = EnvPage::first(1000);
        loop {
            let got = store.list_environments(PROJECT, &page).await?;
            ids.extend(got.iter().map(|e| e.id));
            match got.last() {
                Some(last) if got.len() == 1000 => page.after = Some(last.name.clone()),
                _ => break ids,
            }
        }
    };
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
                            RunFilter { project: Some(PROJECT.into()), limit: Some(PAGE), ..RunFilter::default() };
                        let t = Instant::now();
                        match q {
                            0 => drop(store.list_environments(PROJECT, &EnvPage::first(PAGE)).await?),
                            1 => {
                                let page = EnvPage { limit: PAGE, after: Some(env_name(envs / 2)) };
                                drop(store.list_environments(PROJECT, &page).await?)
                            }
                            2 => drop(store.last_runs(ids[e]).await?),
                            3 => drop(store.list_runs(&project).await?),
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

/// An endpoint's path for a client's environment, and how many items it must answer.
type Endpoint = Box<dyn Fn(usize) -> (String, usize) + Send + Sync>;

#[derive(Clone, Copy)]
struct Load {
    envs: usize,
    clients: usize,
    rounds: usize,
}

/// One phase per endpoint: `clients` tasks, each with its own connection, sending
/// `rounds` requests one after the other; each answer's time and whether it was a 200
/// (and, for each client's first request, holds the expected number of items).
async fn http_load(
    url: &str,
    token: &str,
    load: Load,
    middle_run: RunCursor,
) -> anyhow::Result<Vec<(String, Vec<(Duration, bool)>)>> {
    let Load { envs, clients, rounds } = load;
    let page = PAGE as usize;
    let middle_env = env_name(envs / 2);
    let endpoints: Vec<(&str, Endpoint)> = vec![
        (
            "env list, first page of 100",
            Box::new(move |_| (format!("/projects/{PROJECT}/environments?limit={PAGE}"), page.min(envs))),
        ),
        (
            "env list, a middle page of 100",
            Box::new(move |_| {
                let path = format!("/projects/{PROJECT}/environments?limit={PAGE}&after={middle_env}");
                (path, page.min(envs - envs / 2 - 1))
            }),
        ),
        (
            "run list, project, first page of 100",
            Box::new(move |_| (format!("/runs?project={PROJECT}&limit={PAGE}"), page)),
        ),
        (
            "run list, project, a middle page of 100",
            Box::new(move |_| (format!("/runs?project={PROJECT}&limit={PAGE}&before={middle_run}"), page)),
        ),
        (
            "run list, one env, limit 100",
            Box::new(move |e| (format!("/runs?project={PROJECT}&environment={}&limit={PAGE}", env_name(e)), 10)),
        ),
    ];
    let mut all = Vec::new();
    for (what, path) in endpoints {
        let path = Arc::new(path);
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (path, base, token) = (path.clone(), format!("{url}/api/v1"), token.to_string());
                tokio::spawn(async move {
                    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
                    let mut out = Vec::with_capacity(rounds);
                    for r in 0..rounds {
                        let (p, items) = path((c * 7919 + r * 104_729) % envs);
                        let t = Instant::now();
                        let resp = http.get(format!("{base}{p}")).bearer_auth(&token).send().await?;
                        let ok = resp.status().is_success();
                        let body = resp.bytes().await?;
                        let took = t.elapsed();
                        let ok = ok
                            && (r > 0
                                || serde_json::from_slice::<Value>(&body)
                                    .is_ok_and(|v| v["items"].as_array().is_some_and(|a| a.len() == items)));
                        out.push((took, ok));
                    }
                    anyhow::Ok(out)
                })
            })
            .collect();
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await??);
        }
        all.push((what.to_string(), samples));
    }
    Ok(all)
}

/// How `terrace` reaches the store: itself (local mode) or through the server.
#[derive(Clone)]
enum Mode {
    Local,
    Client { url: String, token: String },
}

/// `terrace status` (listing every environment) in `mode`, output discarded.
fn status_command(bin: &Path, fx: &Fixture, mode: &Mode) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--project").arg(fx.project_file());
    match mode {
        Mode::Local => {
            cmd.arg("--data").arg(&fx.data).env_remove("TERRACE_SERVER");
        }
        Mode::Client { url, token } => {
            cmd.arg("--server").arg(url).env("TERRACE_TOKEN", token);
        }
    }
    cmd.arg("status").stdin(Stdio::null()).stdout(Stdio::null());
    cmd
}

/// `clients` concurrent loops of `terrace ARGS` (ENV replaced by a different
/// environment each time); each call's wall time and success.
async fn cli_load(
    bin: &Path,
    fx: &Fixture,
    mode: &Mode,
    args: &[&str],
    envs: usize,
    clients: usize,
    rounds: usize,
) -> anyhow::Result<Vec<(Duration, bool)>> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (bin, file, data): (PathBuf, PathBuf, PathBuf) =
                (bin.to_path_buf(), fx.project_file(), fx.data.clone());
            let mode = mode.clone();
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for r in 0..rounds {
                    let env = env_name((c * 31 + r * 977) % envs);
                    let args = args.iter().map(|a| if a == "ENV" { env.clone() } else { a.clone() });
                    let mut cmd = tokio::process::Command::new(&bin);
                    cmd.arg("--project").arg(&file);
                    match &mode {
                        Mode::Local => {
                            cmd.arg("--data").arg(&data).env_remove("TERRACE_SERVER");
                        }
                        Mode::Client { url, token } => {
                            cmd.arg("--server").arg(url).env("TERRACE_TOKEN", token);
                        }
                    }
                    let t = Instant::now();
                    let status = cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).status().await?;
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

/// The peak resident set of one run of `cmd`, in KiB, measured by this benchmark's
/// `peak-rss` mode (see `jobprog::peak_rss` for why not from here).
fn peak_rss_kib(helper: &Path, cmd: Command) -> anyhow::Result<u64> {
    let mut measured = Command::new(helper);
    measured.arg("peak-rss").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => measured.env(k, v),
            None => measured.env_remove(k),
        };
    }
    let out = measured.stdin(Stdio::null()).stderr(Stdio::inherit()).output()?;
    anyhow::ensure!(out.status.success(), "measuring the peak memory of `terrace status` failed");
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}
