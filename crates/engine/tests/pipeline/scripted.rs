//! A scripted executor: each step answers what the test wrote for its job, event and
//! attempt (an exit code, log lines, an output file), and every start, attach, cancel and
//! sweep is recorded in order. It is registered as `local`, the name jobs use by default.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use terrace_exec::{ExecError, ExecEvent, ExecOutcome, Executor, ExitStatus, Handle, StepIo, StepSpec};
use terrace_model::log::{LogBatch, Stream};

/// What one step does.
#[derive(Clone, Debug)]
pub struct Answer {
    pub exit: i32,
    pub lines: Vec<String>,
    pub output_file: Option<String>,
    /// Runs until cancelled (to leave a run behind, or to be stopped).
    pub hang: bool,
}

impl Answer {
    pub fn ok() -> Answer {
        Answer { exit: 0, lines: vec![], output_file: None, hang: false }
    }
    pub fn fail(exit: i32) -> Answer {
        Answer { exit, ..Answer::ok() }
    }
    pub fn outputs(json: &str) -> Answer {
        Answer { output_file: Some(json.into()), ..Answer::ok() }
    }
    pub fn hang() -> Answer {
        Answer { hang: true, ..Answer::ok() }
    }
}

/// What the executor was asked, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// job, event, attempt, handle id.
    Start {
        job: String,
        event: String,
        attempt: u32,
        handle: String,
    },
    Attach(String),
    Cancel(String),
    Sweep(String),
}

#[derive(Default)]
struct State {
    /// (job, event) → answers for attempt 1, 2, ...; the last one repeats.
    script: BTreeMap<(String, String), Vec<Answer>>,
    calls: Vec<Call>,
    next: u32,
}

#[derive(Clone, Default)]
pub struct Scripted {
    state: Arc<Mutex<State>>,
}

impl Scripted {
    pub fn new() -> Scripted {
        Scripted::default()
    }

    /// `job` answers `answers` on `event`, attempt after attempt.
    pub fn on(&self, job: &str, event: &str, answers: Vec<Answer>) -> &Self {
        self.state.lock().unwrap().script.insert((job.into(), event.into()), answers);
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The jobs started, in order, as `job:event`.
    pub fn started(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Start { job, event, .. } => Some(format!("{job}:{event}")),
                _ => None,
            })
            .collect()
    }

    fn record(&self, call: Call) {
        self.state.lock().unwrap().calls.push(call);
    }
}

fn var<'a>(spec: &'a StepSpec, name: &str) -> &'a str {
    spec.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

#[async_trait::async_trait]
impl Executor for Scripted {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn start(&self, spec: StepSpec, io: StepIo) -> Result<Box<dyn Handle>, ExecError> {
        let (job, event) = (var(&spec, "TERRACE_JOB").to_string(), var(&spec, "TERRACE_EVENT").to_string());
        let answer = {
            let mut s = self.state.lock().unwrap();
            s.next += 1;
            let answers = s.script.get(&(job.clone(), event.clone())).cloned().unwrap_or_else(|| vec![Answer::ok()]);
            let i = (spec.attempt as usize - 1).min(answers.len() - 1);
            answers[i].clone()
        };
        let handle = format!("scripted-{}", self.state.lock().unwrap().next);
        self.record(Call::Start { job, event, attempt: spec.attempt, handle: handle.clone() });
        if let (Some(content), Some(path)) = (&answer.output_file, &spec.output_file) {
            std::fs::write(path, content).map_err(|source| ExecError::Wait { source })?;
        }
        Ok(Box::new(ScriptedStep { id: handle, answer, io, executor: self.clone() }))
    }

    async fn attach(&self, id: &str) -> Result<Box<dyn Handle>, ExecError> {
        self.record(Call::Attach(id.to_string()));
        let io =
            StepIo { secrets: Default::default(), events: tokio::sync::mpsc::channel(1).0, cancel: Default::default() };
        Ok(Box::new(ScriptedStep { id: id.to_string(), answer: Answer::ok(), io, executor: self.clone() }))
    }

    async fn sweep(&self, run: &str) {
        self.record(Call::Sweep(run.to_string()));
    }

    fn has_program(&self, _: &str, _: &[(String, String)], _: &Path) -> bool {
        true
    }
}

struct ScriptedStep {
    id: String,
    answer: Answer,
    io: StepIo,
    executor: Scripted,
}

#[async_trait::async_trait]
impl Handle for ScriptedStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn cancel(&self) {
        self.executor.record(Call::Cancel(self.id.clone()));
        self.io.cancel.cancel();
    }

    async fn wait(&mut self) -> Result<ExecOutcome, ExecError> {
        for line in &self.answer.lines {
            let masked = self.io.secrets.mask(line).into_owned();
            let _ = self.io.events.send(ExecEvent::Lines(LogBatch::now(Stream::Stdout, &masked))).await;
        }
        if self.answer.hang {
            self.io.cancel.cancelled().await;
            return Ok(ExecOutcome { status: ExitStatus::Cancelled, duration: Duration::ZERO, stdout: vec![] });
        }
        Ok(ExecOutcome { status: ExitStatus::Exited(self.answer.exit), duration: Duration::ZERO, stdout: vec![] })
    }
}
