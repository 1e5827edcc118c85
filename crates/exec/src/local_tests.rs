//! The local executor against real processes (/bin/sh, sleep, printf).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::Duration;

use terrace_model::log::{LogLine, Stream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::process::is_alive;
use crate::{
    ExecError, ExecEvent, ExecOutcome, Executor, ExitStatus, Limits, LocalExecutor, Resources, SecretSet, StepIo,
    StepSpec,
};

fn spec(script: &str, dir: &Path) -> StepSpec {
    StepSpec {
        run: "01test".into(),
        attempt: 1,
        argv: vec!["sh".into(), "-c".into(), script.into()],
        image: None,
        container: Default::default(),
        workdir: dir.to_path_buf(),
        input: None,
        output_file: None,
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        resources: Resources::default(),
        limits: Limits { max_duration: None, kill_grace: Duration::from_secs(1) },
        capture_stdout: false,
        agent: None,
    }
}

fn io(secrets: SecretSet, events: mpsc::Sender<ExecEvent>, cancel: CancellationToken) -> StepIo {
    StepIo { secrets, events, cancel }
}

struct Ran {
    result: Result<ExecOutcome, ExecError>,
    /// Handle ids, as `start` gave them.
    started: Vec<String>,
    lines: Vec<LogLine>,
    batches: usize,
}

impl Ran {
    fn status(&self) -> ExitStatus {
        self.result.as_ref().map(|o| o.status).unwrap_or_else(|e| panic!("{e}"))
    }
    fn texts(&self, stream: Stream) -> Vec<&str> {
        self.lines.iter().filter(|l| l.stream == stream).map(|l| l.text.as_str()).collect()
    }
    fn all_text(&self) -> String {
        self.lines.iter().map(|l| format!("{}\n", l.text)).collect()
    }
}

async fn run_with(spec: StepSpec, secrets: SecretSet, cancel: CancellationToken) -> Ran {
    let (tx, mut rx) = mpsc::channel(16);
    let collector = tokio::spawn(async move {
        let (mut lines, mut batches) = (Vec::new(), 0);
        while let Some(ExecEvent::Lines(l)) = rx.recv().await {
            batches += 1;
            lines.extend(l.to_lines())
        }
        (lines, batches)
    });
    let mut started = Vec::new();
    let result = match LocalExecutor.start(spec, io(secrets, tx, cancel)).await {
        Ok(mut handle) => {
            started.push(handle.id().to_string());
            handle.wait().await
        }
        Err(e) => Err(e),
    };
    let (lines, batches) = collector.await.unwrap();
    Ran { result, started, lines, batches }
}

/// The group id and start time in a local handle id (`host/pgid/start`).
fn group_of(id: &str) -> (u32, Option<u64>) {
    let parts: Vec<&str> = id.rsplitn(3, '/').collect();
    (parts[1].parse().unwrap(), parts[0].parse().ok())
}

async fn run(spec: StepSpec) -> Ran {
    run_with(spec, SecretSet::new(), CancellationToken::new()).await
}

/// Waits (boundedly) for a pid the job wrote to `file`.
async fn read_pid(file: &Path) -> u32 {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job never wrote {}", file.display());
}

async fn assert_gone(pid: u32) {
    for _ in 0..200 {
        if !is_alive(pid, None) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("process {pid} is still alive");
}

#[tokio::test]
async fn child_gets_exactly_the_given_env_and_workdir() {
    let d = tempfile::tempdir().unwrap();
    let mut s = spec("env; pwd; cat; echo cat-done", d.path());
    s.env.push(("FOO".into(), "bar baz".into()));
    let ran = run(s).await;
    assert_eq!(ran.status(), ExitStatus::Exited(0));
    let out = ran.texts(Stream::Stdout);
    assert!(out.contains(&"FOO=bar baz"), "{out:?}");
    assert!(out.contains(&"PATH=/usr/bin:/bin"), "{out:?}");
    // cargo runs tests with CARGO_* in the environment: none may leak through.
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO")));
    assert!(!out.iter().any(|l| l.starts_with("CARGO") || l.starts_with("HOME=")), "{out:?}");
    let dir = d.path().canonicalize().unwrap();
    assert!(out.contains(&dir.to_str().unwrap()), "{out:?}");
    // stdin is null, so `cat` ends at once.
    assert_eq!(out.last(), Some(&"cat-done"));
    assert_eq!(ran.started.len(), 1);
    let (pgid, start) = group_of(&ran.started[0]);
    assert!(pgid > 1 && start.is_some(), "{:?}", ran.started);
    assert!(ran.started[0].starts_with(&format!("{}/", crate::local::hostname())));
    assert!(out.contains(&"TERRACE_RUN_ID=01test"), "the run's mark: {out:?}");
}

#[tokio::test]
async fn exit_codes_and_signals() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(run(spec("exit 3", d.path())).await.status(), ExitStatus::Exited(3));
    assert_eq!(run(spec("kill -9 $$", d.path())).await.status(), ExitStatus::Signaled(9));
    let ok = run(spec("true", d.path())).await;
    assert!(ok.status().success());
    assert!(ok.lines.is_empty());
}

#[tokio::test]
async fn missing_program_and_workdir_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let mut s = spec("", d.path());
    s.argv = vec!["no-such-program-terrace".into()];
    let err = run(s).await.result.unwrap_err();
    assert!(matches!(err, ExecError::Spawn { .. }));
    assert_eq!(
        err.to_string(),
        "cannot start `no-such-program-terrace`: No such file or directory (is it installed and on PATH?)"
    );
    let err = run(spec("true", &d.path().join("missing"))).await.result.unwrap_err();
    assert!(matches!(err, ExecError::Workdir { .. }), "{err}");
}

#[tokio::test]
async fn a_step_cancelled_as_it_starts_is_stopped() {
    let d = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let ran = run_with(spec("sleep 1000", d.path()), SecretSet::new(), cancel).await;
    assert_eq!(ran.status(), ExitStatus::Cancelled);
    let (pgid, start) = group_of(&ran.started[0]);
    assert!(!is_alive(pgid, start));
}

#[tokio::test]
async fn the_local_executor_runs_no_image() {
    let d = tempfile::tempdir().unwrap();
    let mut s = spec("true", d.path());
    s.image = Some("alpine:3.20".into());
    let err = run(s).await.result.unwrap_err();
    assert!(matches!(err, ExecError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("not the image `alpine:3.20`"), "{err}");
}

#[tokio::test]
async fn secret_split_across_two_writes_is_masked() {
    let d = tempfile::tempdir().unwrap();
    let secrets = SecretSet::new();
    secrets.add("abcdef");
    let ran =
        run_with(spec("printf 'abc'; sleep 0.2; printf 'def\\n'", d.path()), secrets, CancellationToken::new()).await;
    assert_eq!(ran.texts(Stream::Stdout), ["***"]);
}

#[tokio::test]
async fn secret_in_stderr_is_masked_and_streams_interleave() {
    let d = tempfile::tempdir().unwrap();
    let secrets = SecretSet::new();
    secrets.add("hunter2");
    let script = "i=0; while [ $i -lt 50 ]; do echo out$i; echo err$i hunter2 >&2; i=$((i+1)); done; printf 'tail'";
    let ran = run_with(spec(script, d.path()), secrets, CancellationToken::new()).await;
    let out = ran.texts(Stream::Stdout);
    let err = ran.texts(Stream::Stderr);
    let mut want_out: Vec<String> = (0..50).map(|i| format!("out{i}")).collect();
    want_out.push("tail".into());
    assert_eq!(out, want_out);
    assert_eq!(err, (0..50).map(|i| format!("err{i} ***")).collect::<Vec<_>>());
    assert!(!ran.all_text().contains("hunter2"));
}

#[tokio::test]
async fn lines_come_in_batches() {
    let d = tempfile::tempdir().unwrap();
    let ran = run(spec("i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done", d.path())).await;
    assert_eq!(ran.texts(Stream::Stdout).len(), 20000);
    assert!(ran.batches < 20000 / 2, "{} batches", ran.batches);
}

#[tokio::test]
async fn captured_stdout_is_returned_whole_and_kept_out_of_the_log() {
    let d = tempfile::tempdir().unwrap();
    let secrets = SecretSet::new();
    secrets.add("hunter2");
    let mut s = spec(r#"printf '{"pw": "hunter2"}\n\nno newline'; echo 'warn hunter2' >&2"#, d.path());
    s.capture_stdout = true;
    let ran = run_with(s, secrets, CancellationToken::new()).await;
    let outcome = ran.result.as_ref().unwrap();
    assert_eq!(outcome.stdout, b"{\"pw\": \"hunter2\"}\n\nno newline");
    assert!(ran.texts(Stream::Stdout).is_empty());
    assert_eq!(ran.texts(Stream::Stderr), ["warn ***"]);

    let logged = run(spec("echo hi", d.path())).await;
    assert!(logged.result.unwrap().stdout.is_empty());
}

#[tokio::test]
async fn captured_stdout_is_bounded() {
    let d = tempfile::tempdir().unwrap();
    let mut s = spec(&format!("head -c {} /dev/zero", crate::MAX_CAPTURE + 1000), d.path());
    s.capture_stdout = true;
    let ran = run(s).await;
    assert_eq!(ran.status(), ExitStatus::Exited(0));
    assert_eq!(ran.result.as_ref().unwrap().stdout.len(), crate::MAX_CAPTURE);
    assert_eq!(ran.texts(Stream::Terrace), ["the captured output was cut at 64 MiB"]);
}

#[tokio::test]
async fn timeout_kills_the_group_even_when_it_ignores_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("child.pid");
    let mut s = spec("trap '' TERM; sleep 1000 & echo $! > child.pid; echo started; wait; wait", d.path());
    s.limits.max_duration = Some(Duration::from_millis(1500));
    let t0 = std::time::Instant::now();
    let ran = run(s).await;
    assert_eq!(ran.status(), ExitStatus::TimedOut);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(ran.result.as_ref().unwrap().duration >= Duration::from_millis(1500));
    assert_eq!(ran.texts(Stream::Stdout), ["started"]);
    let (pid, start) = group_of(&ran.started[0]);
    assert_gone(read_pid(&pidfile).await).await;
    assert!(!is_alive(pid, start));
}

#[tokio::test]
async fn cancel_kills_the_group() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("child.pid");
    let s = spec("trap '' TERM; sleep 1000 & echo $! > child.pid; wait; wait", d.path());
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let pf = pidfile.clone();
    tokio::spawn(async move {
        read_pid(&pf).await;
        trigger.cancel();
    });
    let t0 = std::time::Instant::now();
    let ran = run_with(s, SecretSet::new(), cancel).await;
    assert_eq!(ran.status(), ExitStatus::Cancelled);
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_gone(read_pid(&pidfile).await).await;
}

#[tokio::test]
async fn the_grace_lets_the_group_clean_up_after_the_main_process_died() {
    let d = tempfile::tempdir().unwrap();
    // The main shell dies at SIGTERM at once; its child needs a moment to clean up. The
    // child itself says it is ready, once its trap is set: were the parent to say so, a
    // loaded machine could deliver SIGTERM before the trap exists and kill the child.
    let script = "(trap 'sleep 0.3; echo cleaned > cleaned.txt; exit 0' TERM; \
                  echo ready > ready.txt; while :; do sleep 0.1; done) & wait";
    let mut s = spec(script, d.path());
    // Long enough that ending before it proves the group was waited for, not timed out.
    let grace = Duration::from_secs(120);
    s.limits.kill_grace = grace;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let ready = d.path().join("ready.txt");
    tokio::spawn(async move {
        while !ready.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        trigger.cancel();
    });
    let ran = run_with(s, SecretSet::new(), cancel).await;
    assert_eq!(ran.status(), ExitStatus::Cancelled);
    assert_eq!(std::fs::read_to_string(d.path().join("cleaned.txt")).unwrap_or_default(), "cleaned\n");
    // It ended when the group did, not at the end of the grace.
    assert!(ran.result.unwrap().duration < grace);
}

#[tokio::test]
async fn leftover_background_process_is_killed_at_exit() {
    let d = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let ran = run(spec("sleep 1000 & echo $! > child.pid; echo done", d.path())).await;
    assert_eq!(ran.status(), ExitStatus::Exited(0));
    assert_eq!(ran.texts(Stream::Stdout), ["done"]);
    assert!(ran.texts(Stream::Terrace).is_empty(), "the pipes must reach EOF by themselves");
    assert!(t0.elapsed() < Duration::from_secs(9), "{:?}", t0.elapsed());
    assert_gone(read_pid(&d.path().join("child.pid")).await).await;
}

#[tokio::test]
async fn sensitive_output_is_masked_from_then_on() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("output.json");
    let script = r#"echo before s3cr3t-xyz
printf '{"pw": {"value": "s3cr3t-xyz", "sensitive": true}, "host": {"value": "db.local", "sensitive": false}}' > "$TERRACE_OUTPUT_FILE"
echo after s3cr3t-xyz db.local"#;
    let mut s = spec(script, d.path());
    s.env.push(("TERRACE_OUTPUT_FILE".into(), out.display().to_string()));
    s.output_file = Some(out);
    let secrets = SecretSet::new();
    let ran = run_with(s, secrets.clone(), CancellationToken::new()).await;
    // The first line is masked too when the job ran ahead and both arrived in one read.
    let stdout = ran.texts(Stream::Stdout);
    assert_eq!(stdout.last(), Some(&"after *** db.local"), "{stdout:?}");
    assert_eq!(secrets.len(), 1);
}

/// The write to the output file comes before the echo in the job's own order, so the echo
/// is masked, with no delay between them, every time, on both streams, also while the job
/// rewrites the file (`>`: truncated, then written) for the next value. Each version keeps
/// the values before it (one the job replaces at once may race: see `OutputWatch`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_written_then_printed_at_once_is_always_masked() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("output.json");
    std::fs::write(&out, "").unwrap();
    let script = r#"i=0; all=''
while [ $i -lt 300 ]; do
  all="$all\"T$i\": {\"value\": \"s3cr3t-$i-tok\", \"sensitive\": true}, "
  printf '{%s"LAST": {"value": "v%04d", "sensitive": false}}' "$all" $i > "$TERRACE_OUTPUT_FILE"
  cat "$TERRACE_OUTPUT_FILE"; echo
  cat "$TERRACE_OUTPUT_FILE" >&2; echo >&2
  i=$((i+1))
done
rm "$TERRACE_OUTPUT_FILE""#;
    let mut s = spec(script, d.path());
    s.env.push(("TERRACE_OUTPUT_FILE".into(), out.display().to_string()));
    s.output_file = Some(out);
    let secrets = SecretSet::new();
    let ran = run_with(s, secrets.clone(), CancellationToken::new()).await;
    assert_eq!(ran.status(), ExitStatus::Exited(0));
    let text = ran.all_text();
    assert!(!text.contains("s3cr3t"), "a secret leaked:\n{text}");
    assert_eq!(text.matches(r#""T0": {"value": "***", "sensitive": true}"#).count(), 600, "{text}");
    assert_eq!(secrets.len(), 300);
}

/// A FIFO in place of the output file is never opened for reading: the run ends.
#[tokio::test]
async fn a_fifo_as_the_output_file_does_not_hang_the_run() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("output.json");
    let mut s =
        spec(r#"rm -f "$TERRACE_OUTPUT_FILE"; mkfifo "$TERRACE_OUTPUT_FILE"; echo made; echo more >&2"#, d.path());
    s.env.push(("TERRACE_OUTPUT_FILE".into(), out.display().to_string()));
    s.output_file = Some(out.clone());
    let ran = run(s).await;
    assert_eq!(ran.status(), ExitStatus::Exited(0));
    assert_eq!(ran.texts(Stream::Stdout), ["made"]);
    assert!(std::fs::symlink_metadata(&out).unwrap().file_type().is_fifo());
}

#[tokio::test]
async fn a_dropped_receiver_does_not_block_the_job() {
    let d = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let s = spec("head -c 5000000 /dev/zero | tr '\\0' 'a'; echo", d.path());
    let outcome = LocalExecutor.run(s, io(SecretSet::new(), tx, CancellationToken::new())).await.unwrap();
    assert_eq!(outcome.status, ExitStatus::Exited(0));
}

#[tokio::test]
async fn dropping_the_run_kills_the_group() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("child.pid");
    let (tx, _rx) = mpsc::channel(16);
    let run = LocalExecutor.run(
        spec("sleep 1000 & echo $! > child.pid; wait", d.path()),
        io(SecretSet::new(), tx, CancellationToken::new()),
    );
    let pid = tokio::select! {
        _ = run => panic!("the job cannot end by itself"),
        pid = read_pid(&pidfile) => pid,
    };
    assert_gone(pid).await;
}

/// A handle id finds the step again: attached from it, the step is stopped, and the
/// attached handle sees the end (the status itself is known only to the starter).
#[tokio::test]
async fn a_step_is_found_again_by_its_handle_id_and_stopped() {
    let d = tempfile::tempdir().unwrap();
    let (tx, _rx) = mpsc::channel(16);
    let s = spec("sleep 1000 & echo $! > child.pid; wait", d.path());
    let mut first = LocalExecutor.start(s, io(SecretSet::new(), tx, CancellationToken::new())).await.unwrap();
    let member = read_pid(&d.path().join("child.pid")).await;
    let id = first.id().to_string();

    let again = LocalExecutor.attach(&id).await.unwrap();
    assert_eq!(again.id(), id);
    again.cancel();
    assert_eq!(first.wait().await.unwrap().status, ExitStatus::Signaled(9));
    assert_gone(member).await;
    let mut again = LocalExecutor.attach(&id).await.unwrap();
    assert_eq!(again.wait().await.unwrap().status, ExitStatus::Lost);

    let elsewhere = id.replacen(&crate::local::hostname(), "another-host", 1);
    let err = LocalExecutor.attach(&elsewhere).await.err().unwrap();
    assert!(err.to_string().contains("it runs on host `another-host`"), "{err}");
    assert!(matches!(LocalExecutor.attach("42").await, Err(ExecError::Attach { .. })));
}

/// What a dead holder never recorded a handle for is still found, by the run it belongs to.
#[tokio::test]
async fn a_sweep_stops_what_a_run_left_without_a_handle() {
    let d = tempfile::tempdir().unwrap();
    let (tx, _rx) = mpsc::channel(16);
    let mut s = spec("setsid sleep 1000 & echo $! > child.pid; wait", d.path());
    s.run = format!("sweep-{}", std::process::id());
    let run = s.run.clone();
    let mut handle = LocalExecutor.start(s, io(SecretSet::new(), tx, CancellationToken::new())).await.unwrap();
    let escaped = read_pid(&d.path().join("child.pid")).await;
    LocalExecutor.sweep(&run).await;
    handle.wait().await.unwrap();
    assert_gone(escaped).await;
}

/// End-to-end capture + masking throughput; run with
/// `cargo test -p terrace-exec --release -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn end_to_end_throughput() {
    const BYTES: u64 = 2_000_000_000;
    let d = tempfile::tempdir().unwrap();
    let secrets = SecretSet::new();
    secrets.extend_blocking(["hunter2".to_string(), "AKIAIOSFODNN7EXAMPLE".to_string()]);
    let line = "aws_instance.web: Still creating... [10s elapsed] id=i-0abc hunter2 ok";
    let script = format!("yes '{line}' | head -c {BYTES}");
    let (tx, mut rx) = mpsc::channel(64);
    let counter = tokio::spawn(async move {
        let mut n = 0usize;
        while let Some(ExecEvent::Lines(l)) = rx.recv().await {
            n += l.len();
        }
        n
    });
    let t0 = std::time::Instant::now();
    let run = LocalExecutor.run(spec(&script, d.path()), io(secrets, tx, CancellationToken::new()));
    run.await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let gb = BYTES as f64 / 1e9;
    println!("{} lines, {gb} GB in {secs:.2} s: {:.2} GB/s", counter.await.unwrap(), gb / secs);
}
