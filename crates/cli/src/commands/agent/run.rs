//! One step on this agent: its files unpacked into a fresh folder (the server's paths in
//! its arguments and variables replaced by this folder's), run with the local executor,
//! or for a `docker` job in a container of this host's Docker Engine (its image pulled or
//! built from the working copy here), while its lease is renewed and its log sent, then
//! its end and output file reported. The folder is removed afterwards, whatever the end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use terrace_exec::{
    ContainerStep, DockerExecutor, ExecError, ExecOutcome, Executor, ExitStatus, ImageSource, Limits, LocalExecutor,
    Resources, SecretSet, StepIo, StepSpec,
};
use terrace_server::agents::protocol::{ContainerPayload, StepEnd, StepPayload, StepResult};
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

/// The step as this host runs it; `image`: the image made ready for a container step;
/// `owner`: this agent, as its containers' owner label.
fn spec_of(step: &StepPayload, folder: &Folder, image: Option<String>, owner: &str) -> StepSpec {
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
    // A container has its own PATH and HOME; a process on this host gets this host's.
    if step.container.is_none() {
        env.extend(HOST_VARIABLES.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))));
    }
    let c = step.container.clone().unwrap_or_default();
    StepSpec {
        run: step.run.clone(),
        attempt: step.attempt,
        argv: step.argv.iter().map(|a| relocate(a, &moves)).collect(),
        image,
        container: ContainerStep {
            entrypoint: c.entrypoint,
            keep_image_workdir: c.keep_image_workdir,
            state_dir: None,
            artifacts_dir: None,
            owner: Some(owner.to_string()),
        },
        workdir: folder.src.clone(),
        input: folder.input.clone(),
        output_file: Some(folder.output.clone()),
        env,
        resources: Resources { cpu: c.cpu, memory: c.memory },
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

/// Where a container step's image comes from, on this host.
fn image_source(c: &ContainerPayload, folder: &Folder) -> ImageSource {
    match &c.pull {
        Some(reference) => ImageSource::Pull(reference.clone()),
        None => ImageSource::Build {
            context: folder.src.clone(),
            dockerfile: c.dockerfile.as_ref().map(PathBuf::from),
            default_dockerfile: c.default_dockerfile.clone(),
        },
    }
}

/// Runs the step with the executor it names: a container of this host's Docker Engine
/// (its image made ready first, its pull or build in the step's log), or a process.
/// With the outcome: the image it ran (`PreparedImage::identity`), for a container step.
async fn execute(
    step: &StepPayload,
    folder: &Folder,
    io: StepIo,
    owner: &str,
) -> Result<(ExecOutcome, Option<String>), ExecError> {
    match &step.container {
        Some(c) => {
            let docker = DockerExecutor::new();
            let image = docker.prepare_image(&image_source(c, folder), &io).await?;
            let identity = image.identity().map(String::from);
            let outcome = docker.run(spec_of(step, folder, Some(image.id), owner), io).await?;
            Ok((outcome, identity))
        }
        None => LocalExecutor::new().run(spec_of(step, folder, None, owner), io).await.map(|o| (o, None)),
    }
}

/// Runs `step` to its end and reports it; never fails: what goes wrong is reported.
pub(super) async fn run(link: &Link, work: &Path, owner: &str, step: StepPayload) {
    errln!("step {} (run {}, attempt {}): {}", step.step, step.run, step.attempt, step.argv.join(" "));
    let started = std::time::Instant::now();
    let prepared = {
        let (work, files) = (work.to_path_buf(), step.clone());
        tokio::task::spawn_blocking(move || prepare(&work, &files)).await.unwrap_or_else(|e| Err(e.to_string()))
    };
    let folder = match prepared {
        Ok(f) => f,
        Err(message) => {
            let result =
                StepResult { end: StepEnd::Failed { message }, duration_ms: 0, stdout: String::new(), image: None };
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
    let outcome = execute(&step, &folder, io, owner).await;
    let _ = sender.await;
    renewer.abort();
    if lost.is_lost() {
        errln!("step {}: taken back by the server; its end is not reported", step.step);
    } else {
        let result = match &outcome {
            Ok((o, image)) => StepResult {
                end: end_of(o),
                duration_ms: o.duration.as_millis() as u64,
                stdout: base64::engine::general_purpose::STANDARD.encode(&o.stdout),
                image: image.clone(),
            },
            Err(e) => StepResult {
                end: StepEnd::Failed { message: e.to_string() },
                duration_ms: started.elapsed().as_millis() as u64,
                stdout: String::new(),
                image: None,
            },
        };
        let output = std::fs::read(&folder.output).ok().filter(|o| !o.is_empty());
        report::finish(link, &step, result, output.as_deref()).await;
    }
    if std::env::var_os("TERRACE_KEEP_WORK").is_none() {
        let _ = std::fs::remove_dir_all(&folder.root);
    }
}
