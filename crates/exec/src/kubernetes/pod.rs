//! A step's pod, followed through the API's watch: from `Pending` to its container's end
//! (exit code, reason, termination message), failing at once when the container cannot
//! start (an image the cluster cannot pull, a missing Secret) rather than waiting for the
//! deadline. Its log is followed (`follow=true`) into a pipe that the same line splitter
//! and masking as local runs reads.

use futures_util::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{LogParams, WatchEvent, WatchParams};
use tokio::io::DuplexStream;
use tokio::sync::oneshot;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::error::api_error;
use super::spec::CONTAINER;
use crate::ExecError;

/// The label on a step's pod that names its Job (set by Terrace, so finding the pod does
/// not depend on the Job controller's own labels).
pub(crate) const JOB_LABEL: &str = "terrace/job";

/// How much of the log may wait for the reader before the stream waits in turn.
const PIPE_BYTES: usize = 1 << 20;

/// Consecutive watch failures after which the cluster is deemed unreachable.
const WATCH_RETRIES: u32 = 5;

/// Why a container that has not started never will.
const CANNOT_START: &[&str] =
    &["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"];

/// How a step's pod ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PodEnd {
    Terminated {
        exit_code: i32,
        reason: Option<String>,
        message: Option<String>,
    },
    /// The pod went away before its container ended (its Job was deleted by someone else).
    Gone,
}

/// Watches the pod of Job `job` to its end. `running` is told the pod's name once its
/// container runs (or already ended), so its log can be followed.
/// `seen` receives the container's `imageID` once the pod's status gives it.
pub(crate) async fn watch_to_end(
    pods: Api<Pod>,
    job: String,
    image: String,
    mut running: Option<oneshot::Sender<String>>,
    seen: ImageSeen,
) -> Result<PodEnd, ExecError> {
    let params = WatchParams::default().labels(&format!("{JOB_LABEL}={job}")).timeout(290);
    let mut version = "0".to_string();
    let mut failures = 0;
    loop {
        let stream = match pods.watch(&params, &version).await {
            Ok(s) => s,
            Err(e) => {
                failures += 1;
                if failures >= WATCH_RETRIES {
                    return Err(api_error(&format!("watching the pod of Job `{job}`"), &e));
                }
                continue;
            }
        };
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = match stream.try_next().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e) => {
                    failures += 1;
                    if failures >= WATCH_RETRIES {
                        return Err(api_error(&format!("watching the pod of Job `{job}`"), &e));
                    }
                    break;
                }
            };
            failures = 0;
            let (pod, deleted) = match event {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => (p, false),
                WatchEvent::Deleted(p) => (p, true),
                WatchEvent::Bookmark(b) => {
                    version = b.metadata.resource_version;
                    continue;
                }
                // 410 Gone: the version is too old; start again from what is there now.
                WatchEvent::Error(e) if e.code == 410 => {
                    version = "0".into();
                    break;
                }
                WatchEvent::Error(e) => {
                    return Err(ExecError::Container(format!(
                        "the Kubernetes API stopped the watch of Job `{job}`'s pod: {} ({})",
                        e.message, e.code
                    )));
                }
            };
            if let Some(v) = &pod.metadata.resource_version {
                version = v.clone();
            }
            if let Some(id) = image_id(&pod) {
                *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
            }
            match judge(&pod, &image) {
                Seen::Waiting => {}
                Seen::CannotStart(why) => return Err(ExecError::Container(why)),
                Seen::Running(name) => {
                    if let Some(tx) = running.take() {
                        let _ = tx.send(name);
                    }
                }
                Seen::Ended(name, end) => {
                    if let Some(tx) = running.take() {
                        let _ = tx.send(name);
                    }
                    return Ok(end);
                }
            }
            if deleted {
                return Ok(PodEnd::Gone);
            }
        }
    }
}

/// Where the watch leaves the image id the pod's status gave.
pub(crate) type ImageSeen = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// The container's `imageID` (`repo@sha256:...`, the runtime's scheme prefix dropped), once
/// the kubelet filled it in.
fn image_id(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let id = &statuses.iter().find(|c| c.name == CONTAINER)?.image_id;
    let id = id.rsplit_once("://").map_or(id.as_str(), |(_, rest)| rest);
    (!id.is_empty()).then(|| id.to_string())
}

enum Seen {
    Waiting,
    CannotStart(String),
    Running(String),
    Ended(String, PodEnd),
}

fn judge(pod: &Pod, image: &str) -> Seen {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(status) = &pod.status else { return Seen::Waiting };
    let container = status.container_statuses.iter().flatten().find(|c| c.name == CONTAINER);
    let state = container.and_then(|c| c.state.as_ref());
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        let end = PodEnd::Terminated { exit_code: t.exit_code, reason: t.reason.clone(), message: t.message.clone() };
        return Seen::Ended(name, end);
    }
    if let Some(w) = state.and_then(|s| s.waiting.as_ref())
        && let Some(reason) = w.reason.as_deref().filter(|r| CANNOT_START.contains(r))
    {
        let detail = w.message.as_deref().map(|m| format!(": {}", m.trim())).unwrap_or_default();
        return Seen::CannotStart(format!(
            "the cluster cannot start the job's container of image `{image}` ({reason}{detail}): is the image \
             pushed to a registry the cluster can pull from, under that name?"
        ));
    }
    if state.and_then(|s| s.running.as_ref()).is_some() {
        return Seen::Running(name);
    }
    // A pod the kubelet failed as a whole (evicted, past its deadline) before a container status.
    match status.phase.as_deref() {
        Some("Failed") | Some("Succeeded") => {
            let end = PodEnd::Terminated { exit_code: -1, reason: status.reason.clone(), message: None };
            Seen::Ended(name, end)
        }
        _ => Seen::Waiting,
    }
}

/// A pipe that receives the pod's log once `running` names it, until the container ends.
pub(crate) fn follow_log(pods: Api<Pod>, running: oneshot::Receiver<String>) -> DuplexStream {
    let (mut writer, reader) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(async move {
        let Ok(pod) = running.await else { return };
        let params = LogParams { follow: true, container: Some(CONTAINER.into()), ..Default::default() };
        match pods.log_stream(&pod, &params).await {
            Ok(log) => {
                let mut log = log.compat();
                if let Err(e) = tokio::io::copy(&mut log, &mut writer).await {
                    tracing::debug!("the log of pod `{pod}` ended: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot follow the log of pod `{pod}`: {e}"),
        }
    });
    reader
}
