//! The kubernetes executor's handle: a step's Job, followed to its end through its pod
//! (limits, cancellation, out-of-memory told apart, the log drained), its uploaded output
//! file (or else its termination message) written to the output file on Terrace's host,
//! and its Job, Secrets and output ticket removed.
//! The same handle serves a Job found again after a restart (`attach`): it is followed to
//! its true end, outputs included; only its log is not (it has no log sink).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use terrace_model::log::{LogBatch, Stream};
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::Cluster;
use super::error::{api_error, is_not_found};
use super::pod::PodEnd;
use super::spec::RUN_LABEL;
use super::upload::OutputInbox;
use crate::local_handle::{Reader, drain};
use crate::{ExecError, ExecEvent, ExecOutcome, ExitStatus, Handle};

/// The kubelet keeps at most this much of a termination message.
const MESSAGE_LIMIT: usize = 4096;

/// How long a deleted Job's pod may take past its grace to be seen gone.
const GONE_SLACK: Duration = Duration::from_secs(30);

/// A step's Job and what follows it.
pub(crate) struct KubeHandle {
    pub cluster: Cluster,
    /// `namespace/job`.
    pub id: String,
    pub job: String,
    pub secrets: Vec<String>,
    pub pod: Option<JoinHandle<Result<PodEnd, ExecError>>>,
    /// The container's `imageID`, once the pod's watch saw it.
    pub image_seen: super::pod::ImageSeen,
    /// The log's reader; `None` for a re-attached Job.
    pub reader: Option<Reader>,
    pub output_file: Option<PathBuf>,
    /// Where the pod uploads its output file, and the ticket's id; `None`: it comes back
    /// as the termination message.
    pub ticket: Option<Ticket>,
    pub deadline: Option<Instant>,
    pub grace: Duration,
    pub cancel: CancellationToken,
    pub events: Option<Sender<ExecEvent>>,
    pub started: Instant,
    /// Leave the Job and its Secrets for debugging (`TERRACE_KEEP_WORK`).
    pub keep: bool,
    /// Found again by `attach`: not this process's to remove unless cancelled or followed
    /// to its end (another holder may be following it).
    pub attached: bool,
    /// Removes them if the handle is dropped before its end was seen.
    pub guard: Remover,
}

/// A step's output ticket, taken (and so closed) once.
#[derive(Clone)]
pub(crate) struct Ticket {
    pub inbox: Arc<dyn OutputInbox>,
    pub id: String,
}

impl Ticket {
    async fn take(&self) -> Result<Option<Vec<u8>>, ExecError> {
        self.inbox.take(&self.id).await
    }
}

enum End {
    Pod(Result<PodEnd, ExecError>),
    TimedOut,
    Cancelled,
}

#[async_trait::async_trait]
impl Handle for KubeHandle {
    fn id(&self) -> &str {
        &self.id
    }

    fn image_ran(&self) -> Option<String> {
        self.image_seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn cancel(&self) {
        self.cancel.cancel();
        // A Job found again may have nobody waiting on it (recovery stopping an orphan).
        if self.attached {
            let (cluster, job, secrets) = (self.cluster.clone(), self.job.clone(), self.secrets.clone());
            let ticket = self.ticket.clone();
            tokio::spawn(async move {
                remove(&cluster, &job, &secrets).await;
                close(ticket.as_ref()).await;
            });
        }
    }

    async fn wait(&mut self) -> Result<ExecOutcome, ExecError> {
        let Some(mut pod) = self.pod.take() else {
            return Err(ExecError::Attach { id: self.id.clone(), reason: "this step was already waited for".into() });
        };
        let end = tokio::select! {
            biased;
            r = &mut pod => End::Pod(r.unwrap_or_else(|e| Err(ExecError::Container(format!("following the pod failed: {e}"))))),
            _ = self.cancel.cancelled() => End::Cancelled,
            _ = sleep_until(self.deadline) => End::TimedOut,
        };
        match end {
            End::Pod(Ok(PodEnd::Terminated { .. })) => {}
            End::Pod(_) => delete_job(&self.cluster, &self.job).await,
            End::Cancelled | End::TimedOut => {
                delete_job(&self.cluster, &self.job).await;
                // The pod's end (or disappearance) ends its log too.
                if tokio::time::timeout(self.grace + GONE_SLACK, &mut pod).await.is_err() {
                    pod.abort();
                }
            }
        }
        let stdout = match (self.reader.take(), &self.events) {
            (Some(reader), Some(events)) => drain([Some(reader), None], events).await,
            _ => Vec::new(),
        };
        let status = match end {
            End::TimedOut => Ok(ExitStatus::TimedOut),
            End::Cancelled => Ok(ExitStatus::Cancelled),
            End::Pod(Err(e)) => Err(e),
            End::Pod(Ok(PodEnd::Gone)) => Ok(ExitStatus::Lost),
            End::Pod(Ok(PodEnd::Terminated { exit_code, reason, message })) => {
                match &self.ticket {
                    Some(ticket) => self.keep_upload(exit_code, ticket.take().await).await,
                    None => self.keep_outputs(exit_code, message.as_deref()).await,
                }
                Ok(match reason.as_deref() {
                    Some("OOMKilled") if exit_code != 0 => ExitStatus::OutOfMemory,
                    _ if exit_code != 0 && past_deadline(&self.cluster, &self.job).await => ExitStatus::TimedOut,
                    _ => ExitStatus::Exited(exit_code),
                })
            }
        };
        if !self.keep {
            remove(&self.cluster, &self.job, &self.secrets).await;
        }
        // Whatever the end, the token is refused from now on (taken above: already gone).
        close(self.ticket.as_ref()).await;
        (self.guard.0, self.guard.1) = (None, None);
        Ok(ExecOutcome { status: status?, duration: self.started.elapsed(), stdout })
    }
}

impl KubeHandle {
    /// Writes the file the pod uploaded where Terrace reads it (nothing uploaded: nothing
    /// written, as when a job writes no output file).
    async fn keep_upload(&self, exit_code: i32, upload: Result<Option<Vec<u8>>, ExecError>) {
        let bytes = match upload {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return,
            Err(e) => {
                self.say(&format!("cannot take the job's uploaded output file: {e}")).await;
                return;
            }
        };
        let Some(path) = self.output_file.clone() else { return };
        let written = tokio::task::spawn_blocking(move || std::fs::write(&path, bytes)).await;
        if !matches!(written, Ok(Ok(()))) && exit_code == 0 {
            self.say("cannot write the job's outputs to its output file on Terrace's host").await;
        }
    }

    /// Writes the termination message (the job's output file) where Terrace reads it.
    async fn keep_outputs(&self, exit_code: i32, message: Option<&str>) {
        let (Some(path), Some(message)) = (&self.output_file, message.filter(|m| !m.is_empty())) else { return };
        if message.len() >= MESSAGE_LIMIT && serde_json::from_str::<serde_json::Value>(message).is_err() {
            let note = format!(
                "the output file was cut at {MESSAGE_LIMIT} bytes: on the kubernetes executor it comes back as the \
                 container's termination message, which Kubernetes keeps to 4 KiB"
            );
            self.say(&note).await;
        }
        let (path, bytes) = (path.clone(), message.as_bytes().to_vec());
        let written = tokio::task::spawn_blocking(move || std::fs::write(&path, bytes)).await;
        if !matches!(written, Ok(Ok(()))) && exit_code == 0 {
            self.say("cannot write the job's outputs to its output file on Terrace's host").await;
        }
    }

    async fn say(&self, text: &str) {
        if let Some(events) = &self.events {
            let _ = events.send(ExecEvent::Lines(LogBatch::now(Stream::Terrace, text))).await;
        } else {
            tracing::warn!("{text}");
        }
    }
}

/// Whether the Job failed for its `activeDeadlineSeconds` (seen after a restart, when no
/// deadline of this process was running).
async fn past_deadline(cluster: &Cluster, job: &str) -> bool {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let Ok(Some(job)) = jobs.get_opt(job).await else { return false };
    job.status
        .and_then(|s| s.conditions)
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Failed" && c.status == "True" && c.reason.as_deref() == Some("DeadlineExceeded"))
}

/// Deletes the Job and its pods (the kubelet stops the container: SIGTERM, SIGKILL after
/// the pod's grace). Foreground: the Job goes only once its pods are gone.
pub(crate) async fn delete_job(cluster: &Cluster, job: &str) {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    match jobs.delete(job, &DeleteParams::foreground()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::warn!("{}", api_error(&format!("deleting Job `{job}`"), &e)),
    }
}

async fn delete_secret(cluster: &Cluster, name: &str) {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    match secrets.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::warn!("{}", api_error(&format!("deleting Secret `{name}`"), &e)),
    }
}

/// Removes a step's Job and Secrets.
pub(crate) async fn remove(cluster: &Cluster, job: &str, secrets: &[String]) {
    delete_job(cluster, job).await;
    for name in secrets {
        delete_secret(cluster, name).await;
    }
}

/// Removes every Job and Secret of `run` (a sweep after its holder died).
pub(crate) async fn remove_run(cluster: &Cluster, run: &str) {
    let params = ListParams::default().labels(&format!("{RUN_LABEL}={}", super::spec::label_value(run)));
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    if let Ok(list) = jobs.list(&params).await {
        for job in list.items.into_iter().filter_map(|j| j.metadata.name) {
            delete_job(cluster, &job).await;
        }
    }
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    if let Ok(list) = secrets.list(&params).await {
        for name in list.items.into_iter().filter_map(|s| s.metadata.name) {
            delete_secret(cluster, &name).await;
        }
    }
}

/// Closes a step's output ticket (its token refused from now on), whatever was uploaded.
pub(crate) async fn close(ticket: Option<&Ticket>) {
    if let Some(ticket) = ticket
        && let Err(e) = ticket.take().await
    {
        tracing::warn!(ticket = %ticket.id, "cannot close an output ticket: {e}");
    }
}

/// Removes a step's objects (and closes its ticket) when dropped armed: a handle given
/// up on leaves nothing.
pub(crate) struct Remover(pub Option<(Cluster, String, Vec<String>)>, pub Option<Ticket>);

impl Drop for Remover {
    fn drop(&mut self) {
        let objects = self.0.take();
        let ticket = self.1.take();
        if (objects.is_some() || ticket.is_some())
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                if let Some((cluster, job, secrets)) = objects {
                    remove(&cluster, &job, &secrets).await;
                }
                close(ticket.as_ref()).await;
            });
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
