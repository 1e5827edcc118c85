//! One step on this agent: its files unpacked into a fresh folder (the server's paths in
//! its arguments and variables replaced by this folder's), run with the local executor
//! while its lease is renewed and its log sent, then its end and output file reported.
//! The folder is removed afterwards, whatever the end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use terrace_exec::{ExecOutcome, Executor, ExitStatus, Limits, LocalExecutor, SecretSet, StepIo, StepSpec};
use terrace_server::agents::protocol::{StepEnd, StepPayload, StepResult};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Link;
use super::report::{self, Lost};
use crate::out::errln;

/// The variables an agent's host gives its jobs, in place of the server's.
const HOST_VARIABLES: [&str; 4] = ["PATH", "HOME", "LANG", "TZ"];

fn decode(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| format!("a file of the step is not base64: {e}"))
}

/// The step's folders here: the working copy, the parameters file, the output file.
struct Folder {
    root: PathBuf,
    src: PathBuf,
    input: Option<PathBuf>,
    output: PathBuf,
}

fn prepare(work: &Path, step: &StepPayload) -> Result<Folder, String> {
    let root = work.join(format!("{}-{}", step.run, step.step));
    let src = root.join("src");
    let io = |e: std::io::Error| format!("cannot prepare the step's folder {}: {e}", root.display());
    std::fs::create_dir_all(&src).map_err(io)?;
    terrace_exec::bundle::unpack(&decode(&step.workdir)?, &src).map_err(io)?;
    let input = match &step.input {
        Some((name, content)) => {
            let dir = root.join("input");
            std::fs::create_dir_all(&dir).map_err(io)?;
            let name = Path::new(name).file_name().map(PathBuf::from).unwrap_or_else(|| "input".into());
            let path = dir.join(name);
            std::fs::write(&path, decode(content)?).map_err(io)?;
            Some(path)
        }
        None => None,
    };
    let out = root.join("out");
    std::fs::create_dir_all(&out).map_err(io)?;
    let output = out.join("output.json");
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&output).map_err(io)?;
    }
    Ok(Folder { root, src, input, output })
}

/// `text` with the server's paths replaced by this agent's.
fn relocate(text: &str, moves: &[(String, PathBuf)]) -> String {
    for (from, to) in moves {
        if let Some(rest) = text.strip_prefix(from.as_str()) {
            return format!("{}{rest}", to.display());
        }
    }
    text.to_string()
}

fn spec_of(step: &StepPayload, folder: &Folder) -> StepSpec {
    let moves: Vec<(String, PathBuf)> = step
        .paths
        .iter()
        .filter_map(|(from, role)| {
            let to = match role.as_str() {
                "workdir" => folder.src.clone(),
                "input" => folder.input.clone()?,
                "output" => folder.output.clone(),
                _ => return None,
            };
            Some((from.clone(), to))
        })
        .collect();
    let mut env: Vec<(String, String)> = step
        .env
        .iter()
        .filter(|(k, _)| !HOST_VARIABLES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), relocate(v, &moves)))
        .collect();
    env.extend(HOST_VARIABLES.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))));
    StepSpec {
        run: step.run.clone(),
        attempt: step.attempt,
        argv: step.argv.iter().map(|a| relocate(a, &moves)).collect(),
        image: None,
        container: Default::default(),
        workdir: folder.src.clone(),
        input: folder.input.clone(),
        output_file: Some(folder.output.clone()),
        env,
        resources: Default::default(),
        limits: Limits {
            max_duration: step.max_duration_ms.map(Duration::from_millis),
            kill_grace: Duration::from_millis(step.kill_grace_ms),
        },
        capture_stdout: step.capture_stdout,
        agent: None,
    }
}

fn end_of(outcome: &ExecOutcome) -> StepEnd {
    match outcome.status {
        ExitStatus::Exited(code) => StepEnd::Exited { code },
        ExitStatus::Signaled(signal) => StepEnd::Signaled { signal },
        ExitStatus::TimedOut => StepEnd::TimedOut,
        ExitStatus::Cancelled => StepEnd::Cancelled,
        ExitStatus::OutOfMemory => StepEnd::OutOfMemory,
        ExitStatus::Lost => StepEnd::Failed { message: "the step's end was not seen".into() },
    }
}

/// Runs `step` to its end and reports it; never fails: what goes wrong is reported.
pub(super) async fn run(link: &Link, work: &Path, step: StepPayload) {
    errln!("step {} (run {}, attempt {}): {}", step.step, step.run, step.attempt, step.argv.join(" "));
    let started = std::time::Instant::now();
    let prepared = {
        let (work, files) = (work.to_path_buf(), step.clone());
        tokio::task::spawn_blocking(move || prepare(&work, &files)).await.unwrap_or_else(|e| Err(e.to_string()))
    };
    let folder = match prepared {
        Ok(f) => f,
        Err(message) => {
            let result = StepResult { end: StepEnd::Failed { message }, duration_ms: 0, stdout: String::new() };
            report::finish(link, &step, result, None).await;
            return;
        }
    };
    let secrets = SecretSet::new();
    secrets.extend(step.secrets.iter().cloned()).await;
    let cancel = CancellationToken::new();
    let lost = Lost::default();
    let (tx, rx) = mpsc::channel(256);
    let io = StepIo { secrets, events: tx, cancel: cancel.clone() };
    let sender =
        tokio::spawn(report::send_logs(link.clone(), step.step.clone(), step.token, rx, lost.clone(), cancel.clone()));
    let renewer = tokio::spawn(report::renew(
        link.clone(),
        step.step.clone(),
        step.token,
        step.renew_every_ms,
        lost.clone(),
        cancel.clone(),
    ));
    let outcome = LocalExecutor::new().run(spec_of(&step, &folder), io).await;
    let _ = sender.await;
    renewer.abort();
    if lost.is_lost() {
        errln!("step {}: taken back by the server; its end is not reported", step.step);
    } else {
        let result = match &outcome {
            Ok(o) => StepResult {
                end: end_of(o),
                duration_ms: o.duration.as_millis() as u64,
                stdout: base64::engine::general_purpose::STANDARD.encode(&o.stdout),
            },
            Err(e) => StepResult {
                end: StepEnd::Failed { message: e.to_string() },
                duration_ms: started.elapsed().as_millis() as u64,
                stdout: String::new(),
            },
        };
        let output = std::fs::read(&folder.output).ok().filter(|o| !o.is_empty());
        report::finish(link, &step, result, output.as_deref()).await;
    }
    if std::env::var_os("TERRACE_KEEP_WORK").is_none() {
        let _ = std::fs::remove_dir_all(&folder.root);
    }
}
