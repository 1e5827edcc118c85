//! The kubernetes executor: each step is one batch/v1 Job of the job's image in the
//! cluster that the kubeconfig (or the pod's service account) names (`config`), built by
//! `spec`, followed through its pod's watch and log (`pod`) and removed at its end with
//! its Secrets (`handle`). Its handle id is `namespace/job`; every object carries its run
//! and attempt as labels, which is how a sweep finds what a dead process left.
//!
//! The output file comes back by upload (`upload`) when the executor has an inbox (a
//! server that pods reach) and knows the program to wrap (the job's `entrypoint:`, else
//! the image's ENTRYPOINT read from its registry):
//! `terrace attempt-wrap` runs the program and sends the file with a token good for that
//! step only. Otherwise it comes back as the container's termination message: the kubelet
//! reads `/terrace-output/output.json` when the container ends and keeps it in the pod's
//! status, where Terrace reads it; the price is Kubernetes' 4 KiB limit on the message (a
//! longer file is cut, and the run log says why), and the values sit in the pod's status
//! until the Job is deleted at the attempt's end. Images are not built here: the cluster
//! pulls `image:` from its registry.

mod config;
mod error;
mod handle;
mod pod;
mod spec;
pub mod upload;

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::{OnceCell, oneshot};
use tokio::time::Instant;

use crate::local::{spawn_collector, spawn_reader};
use crate::{ExecError, Executor, Handle, ImageSource, PathRole, PreparedImage, StepIo, StepSpec};
pub use config::NAMESPACE_VAR;
use config::{Cluster, Source};
use error::api_error;
use handle::{KubeHandle, Remover, Ticket};
use spec::{Names, OUTPUT_ANNOTATION, TICKET_ANNOTATION, Wrap};
use terrace_model::log::{LogBatch, Stream};
use upload::Uploads;

/// Runs steps as Kubernetes Jobs.
#[derive(Default)]
pub struct KubernetesExecutor {
    source: Source,
    namespace: Option<String>,
    cluster: OnceCell<Cluster>,
    /// Outputs come back by upload; `None`: as the termination message.
    uploads: Option<Uploads>,
}

impl KubernetesExecutor {
    /// The cluster of `KUBECONFIG` (or `~/.kube/config`, or the pod's service account),
    /// in the namespace `TERRACE_KUBERNETES_NAMESPACE` names; reached on first use.
    pub fn new() -> Self {
        KubernetesExecutor {
            namespace: std::env::var(NAMESPACE_VAR).ok().filter(|n| !n.is_empty()),
            ..Default::default()
        }
    }

    /// The cluster of this kubeconfig file's current context.
    pub fn with_kubeconfig(path: impl Into<PathBuf>) -> Self {
        KubernetesExecutor { source: Source::File(path.into()), ..KubernetesExecutor::new() }
    }

    /// Works in `namespace` rather than the configuration's.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Returns outputs by upload to `uploads.inbox`, wrapping each job's program with the
    /// `terrace` of `uploads.helper_image`.
    pub fn with_uploads(mut self, uploads: Uploads) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// The upload path of a step (its ticket and the program to wrap), or `None` when its
    /// outputs come back as the termination message (the log says why).
    async fn upload(&self, step: &StepSpec, image: &str, io: &StepIo) -> Result<Option<Upload>, ExecError> {
        let Some(uploads) = &self.uploads else { return Ok(None) };
        if step.output_file.is_none() {
            return Ok(None);
        }
        let say = |why: String| async move {
            let note = format!(
                "{why}: the output file comes back as the container's termination message (4 KiB at most); set \
                 `entrypoint:` to have it uploaded"
            );
            let _ = io.events.send(crate::ExecEvent::Lines(LogBatch::now(Stream::Terrace, &note))).await;
        };
        // The program as Kubernetes would run it: `entrypoint:`, else the image's ENTRYPOINT,
        // with the step's arguments (in place of the image's CMD).
        let (entrypoint, args) = match (&step.container.entrypoint, &uploads.images) {
            (Some(entrypoint), _) => (entrypoint.clone(), step.argv.clone()),
            (None, Some(images)) => match images.command(image).await {
                Ok(own) => (own.entrypoint, step.argv.clone()),
                Err(e) => {
                    say(format!(
                        "the job sets no `entrypoint:` and the command of image `{image}` cannot be read ({e})"
                    ))
                    .await;
                    return Ok(None);
                }
            },
            (None, None) => {
                say("the job sets no `entrypoint:`, so Terrace cannot wrap its program".into()).await;
                return Ok(None);
            }
        };
        if entrypoint.is_empty() && args.is_empty() {
            return Err(ExecError::EmptyCommand);
        }
        let opened = uploads.inbox.open(&step.run, step.attempt, upload::ticket_life(step.limits.max_duration)).await?;
        // The job could print its environment: the token is masked like any secret.
        io.secrets.extend([opened.token.clone()]).await;
        let ticket = Ticket { inbox: uploads.inbox.clone(), id: opened.id.clone() };
        Ok(Some(Upload { ticket, opened, entrypoint, args }))
    }

    async fn cluster(&self) -> Result<&Cluster, ExecError> {
        self.cluster.get_or_try_init(|| config::connect(&self.source, self.namespace.as_deref())).await
    }
}

#[async_trait::async_trait]
impl Executor for KubernetesExecutor {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    /// The same places as in a Docker container; only the output and parameters files
    /// are there (the image carries the job's code: no host folder reaches a cluster).
    fn job_path(&self, role: PathRole, host: &Path) -> PathBuf {
        crate::docker::paths::job_path(role, host)
    }

    fn runs_images(&self) -> bool {
        true
    }

    /// A Job runs in the cluster whatever becomes of the process that made it.
    fn follows_after_restart(&self) -> bool {
        true
    }

    async fn prepare_image(&self, source: &ImageSource, _io: &StepIo) -> Result<PreparedImage, ExecError> {
        match source {
            ImageSource::Pull(reference) => Ok(PreparedImage {
                id: reference.clone(),
                reference: reference.clone(),
                digest: reference.contains("@sha256:").then(|| reference.clone()),
                fresh: false,
            }),
            ImageSource::Build { .. } => Err(ExecError::Unsupported(
                "the kubernetes executor runs an image the cluster pulls: build the job's image, push it to a \
                 registry the cluster can reach, and name it with `image:`"
                    .into(),
            )),
        }
    }

    async fn start(&self, step: StepSpec, io: StepIo) -> Result<Box<dyn Handle>, ExecError> {
        let Some(image) = step.image.clone() else {
            return Err(ExecError::Unsupported(
                "the kubernetes executor runs a step in an image, and this one has none".into(),
            ));
        };
        if step.argv.is_empty() && step.container.entrypoint.is_none() {
            return Err(ExecError::EmptyCommand);
        }
        let cluster = self.cluster().await?.clone();
        let names = Names::new(&step.run, step.attempt, &unique());
        let input = read_input(&step).await?;
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let mut made = Vec::new();
        let upload = self.upload(&step, &image, &io).await?;
        // Whatever this makes is removed if a later part fails (or the handle is dropped).
        let mut guard =
            Remover(Some((cluster.clone(), names.job.clone(), Vec::new())), upload.as_ref().map(|u| u.ticket.clone()));
        let mut objects = vec![spec::env_secret(&step, &names, upload.as_ref().map(|u| &u.opened))];
        if let Some((file_name, content)) = input.clone() {
            objects.push(spec::input_secret(&step, &names, &file_name, content));
        }
        for secret in objects {
            let name = secret.metadata.name.clone().unwrap_or_default();
            secrets.create(&PostParams::default(), &secret).await.map_err(|e| {
                api_error(&format!("creating Secret `{name}` in namespace `{}`", cluster.namespace), &e)
            })?;
            made.push(name);
            guard.0 = Some((cluster.clone(), names.job.clone(), made.clone()));
        }
        let wrap = match (&upload, &self.uploads) {
            (Some(u), Some(uploads)) => Some(Wrap {
                helper_image: &uploads.helper_image,
                entrypoint: u.entrypoint.clone(),
                args: u.args.clone(),
                ticket: &u.ticket.id,
            }),
            _ => None,
        };
        let job = spec::job(&step, &image, &names, input.is_some(), wrap.as_ref())?;
        let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        jobs.create(&PostParams::default(), &job).await.map_err(|e| {
            api_error(
                &format!("creating Job `{}` of image `{image}` in namespace `{}`", names.job, cluster.namespace),
                &e,
            )
        })?;
        let started = Instant::now();
        let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let (running, pod_named) = oneshot::channel();
        let log = pod::follow_log(pods.clone(), pod_named);
        let reader = match step.capture_stdout {
            // Kubernetes keeps one log per container: stderr comes with stdout.
            true => spawn_collector(log, &io.events),
            false => spawn_reader(log, Stream::Stdout, &io.secrets, &None, &io.events),
        };
        let image_seen = pod::ImageSeen::default();
        let watch = tokio::spawn(pod::watch_to_end(pods, names.job.clone(), image, Some(running), image_seen.clone()));
        Ok(Box::new(KubeHandle {
            id: format!("{}/{}", cluster.namespace, names.job),
            cluster,
            job: names.job,
            secrets: made,
            pod: Some(watch),
            image_seen,
            reader: Some(reader),
            output_file: step.output_file.clone(),
            ticket: upload.map(|u| u.ticket),
            deadline: step.limits.max_duration.map(|d| started + d),
            grace: step.limits.kill_grace,
            cancel: io.cancel.child_token(),
            events: Some(io.events),
            started,
            keep: std::env::var_os("TERRACE_KEEP_WORK").is_some(),
            attached: false,
            guard,
        }))
    }

    async fn attach(&self, id: &str) -> Result<Box<dyn Handle>, ExecError> {
        let attach_error = |reason: String| ExecError::Attach { id: id.into(), reason };
        let Some((namespace, name)) = id.split_once('/') else {
            return Err(attach_error("not a Job of the kubernetes executor (`namespace/job`)".into()));
        };
        let cluster = self.cluster().await?;
        let cluster = Cluster { client: cluster.client.clone(), namespace: namespace.to_string() };
        let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), namespace);
        let job = match jobs.get_opt(name).await {
            Ok(Some(job)) => job,
            Ok(None) => return Err(attach_error(format!("no Job `{name}` in namespace `{namespace}` any more"))),
            Err(e) => return Err(attach_error(api_error(&format!("reading Job `{name}`"), &e).to_string())),
        };
        let image = job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let annotation = |key: &str| job.metadata.annotations.as_ref().and_then(|a| a.get(key)).cloned();
        let output_file = annotation(OUTPUT_ANNOTATION).map(PathBuf::from);
        let ticket = match (annotation(TICKET_ANNOTATION), &self.uploads) {
            (Some(id), Some(uploads)) => Some(Ticket { inbox: uploads.inbox.clone(), id }),
            (Some(_), None) => {
                tracing::warn!(job = %name, "the Job uploads its outputs, and this process has no inbox to take them");
                None
            }
            (None, _) => None,
        };
        let names = Names { job: name.to_string(), secret: name.to_string(), input_secret: format!("{name}-input") };
        let secrets = vec![names.secret, names.input_secret];
        let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
        let image_seen = pod::ImageSeen::default();
        let watch = tokio::spawn(pod::watch_to_end(pods, name.to_string(), image, None, image_seen.clone()));
        Ok(Box::new(KubeHandle {
            id: id.to_string(),
            cluster: cluster.clone(),
            job: name.to_string(),
            secrets: secrets.clone(),
            pod: Some(watch),
            image_seen,
            reader: None,
            output_file,
            ticket,
            // The Job's own `activeDeadlineSeconds` still holds in the cluster.
            deadline: None,
            grace: std::time::Duration::from_secs(10),
            cancel: Default::default(),
            events: None,
            started: Instant::now(),
            keep: std::env::var_os("TERRACE_KEEP_WORK").is_some(),
            attached: true,
            guard: Remover(None, None),
        }))
    }

    async fn sweep(&self, run: &str) {
        if let Some(uploads) = &self.uploads {
            uploads.inbox.close_run(run).await;
        }
        let Ok(cluster) = self.cluster().await else { return };
        handle::remove_run(cluster, run).await;
    }
}

/// A step's way back by upload: its ticket, and the program its wrapper runs.
struct Upload {
    ticket: Ticket,
    opened: upload::Ticket,
    entrypoint: Vec<String>,
    args: Vec<String>,
}

/// The parameters file's name and content, read off the async threads.
async fn read_input(step: &StepSpec) -> Result<Option<(String, Vec<u8>)>, ExecError> {
    let Some(path) = step.input.clone() else { return Ok(None) };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "params.json".into());
    let read = tokio::task::spawn_blocking(move || std::fs::read(&path).map_err(|e| (path, e)))
        .await
        .map_err(|e| ExecError::Container(format!("reading the parameters file failed: {e}")))?;
    match read {
        Ok(content) => Ok(Some((name, content))),
        Err((_, e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err((path, source)) => Err(ExecError::Workdir { path, source }),
    }
}

/// Six characters that make a step's names unique (an attempt runs several steps).
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    let n = h.finish();
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..6).map(|i| ALPHABET[((n >> (i * 8)) % ALPHABET.len() as u64) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_names_differ() {
        let a: std::collections::BTreeSet<String> = (0..100).map(|_| super::unique()).collect();
        assert_eq!(a.len(), 100);
    }
}
