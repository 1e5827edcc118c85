//! A step as Kubernetes objects (pure, no IO): one batch/v1 Job running the job's image
//! once (`backoffLimit: 0`: a retry is a Terrace attempt, never the Job controller's),
//! `activeDeadlineSeconds` from `max_duration`, the resources as requests and limits,
//! and a v1 Secret holding the step's whole environment, which the container reads
//! through `envFrom` (values never in the Job's spec). The parameters file travels in a
//! second Secret mounted at `/data/input` (a key of the first would also become a
//! variable). The output file comes back by upload (`Wrap`: an init container of the
//! helper image copies `terrace` into the pod, and the program runs under
//! `terrace attempt-wrap`), or else as the container's termination message (see `mod.rs`).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvFromSource, PodSpec, PodTemplateSpec, ResourceRequirements, Secret,
    SecretEnvSource, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use terrace_model::resources::{cpu_millis, memory_bytes};

use super::pod::JOB_LABEL;
use super::upload::{HELPER_BINARY, OUTPUT_TOKEN_VAR, OUTPUT_URL_VAR, TOOLS_DIR, Ticket, WRAPPER, wrapped};
use crate::docker::paths::{COMPAT_OUTPUT_DIR, INPUT_DIR, OUTPUT_DIR, file_env};
use crate::{ExecError, StepSpec};

/// The labels on every Job, pod and Secret of a step: how a sweep finds a run's objects.
pub(crate) const RUN_LABEL: &str = "terrace/run";
pub(crate) const ATTEMPT_LABEL: &str = "terrace/attempt";
/// The host path of the step's output file, kept on the Job so a process that re-attaches
/// to it after a restart knows where to put the outputs.
pub(crate) const OUTPUT_ANNOTATION: &str = "terrace/output-file";
/// The output ticket the pod uploads under (its id, not its token), for the same reason.
pub(crate) const TICKET_ANNOTATION: &str = "terrace/output-ticket";
/// The init container that copies the wrapper into the pod.
pub(crate) const TOOLS_CONTAINER: &str = "terrace-tools";
/// The container's name in the pod.
pub(crate) const CONTAINER: &str = "job";
/// The file the kubelet reads as the termination message: the job's output file.
pub(crate) const TERMINATION_MESSAGE: &str = "/terrace-output/output.json";

/// The names of one step's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Names {
    pub job: String,
    pub secret: String,
    pub input_secret: String,
}

impl Names {
    /// `terrace-<run>-<attempt>-<unique>`: lower-case, at most 63 characters (a label
    /// value names the Job on its pods), unique per step (an attempt runs several).
    pub(crate) fn new(run: &str, attempt: u32, unique: &str) -> Names {
        let run: String =
            run.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let tail = format!("-{attempt}-{unique}");
        let room = 63 - "terrace-".len() - tail.len() - "-input".len();
        let run = run.trim_matches('-');
        let run = &run[..run.len().min(room)];
        let job = format!("terrace-{}{tail}", run.trim_end_matches('-'));
        Names { secret: job.clone(), input_secret: format!("{job}-input"), job }
    }
}

fn labels(step: &StepSpec) -> BTreeMap<String, String> {
    BTreeMap::from([(RUN_LABEL.into(), label_value(&step.run)), (ATTEMPT_LABEL.into(), step.attempt.to_string())])
}

/// A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub(crate) fn label_value(text: &str) -> String {
    let clean: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    let clean = &clean[..clean.len().min(63)];
    clean.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

/// The Secret with the step's environment: its variables, where its files are, and
/// where and with what token the wrapper uploads the output file.
pub(crate) fn env_secret(step: &StepSpec, names: &Names, ticket: Option<&Ticket>) -> Secret {
    let mut data = BTreeMap::new();
    let mut files = file_env(step);
    if let Some(t) = ticket {
        files.push((OUTPUT_URL_VAR.into(), t.url.clone()));
        files.push((OUTPUT_TOKEN_VAR.into(), t.token.clone()));
    }
    for (k, v) in step.env.iter().filter(|(k, _)| !files.iter().any(|(f, _)| f == k)).chain(files.iter()) {
        data.insert(k.clone(), ByteString(v.clone().into_bytes()));
    }
    secret(step, &names.secret, data)
}

/// The Secret holding the parameters file, under its own file name.
pub(crate) fn input_secret(step: &StepSpec, names: &Names, file_name: &str, content: Vec<u8>) -> Secret {
    secret(step, &names.input_secret, BTreeMap::from([(file_name.to_string(), ByteString(content))]))
}

fn secret(step: &StepSpec, name: &str, data: BTreeMap<String, ByteString>) -> Secret {
    Secret {
        metadata: ObjectMeta { name: Some(name.into()), labels: Some(labels(step)), ..Default::default() },
        data: Some(data),
        type_: Some("Opaque".into()),
        immutable: Some(true),
        ..Default::default()
    }
}

/// How the main container runs under the wrapper, which uploads the output file.
pub(crate) struct Wrap<'a> {
    pub helper_image: &'a str,
    /// The program the wrapper runs: the job's `entrypoint`, else the image's.
    pub entrypoint: Vec<String>,
    /// Its arguments: the step's, else the image's CMD when the step has none.
    pub args: Vec<String>,
    pub ticket: &'a str,
}

/// The Job of a step. `with_input`: whether the input Secret exists to be mounted.
pub(crate) fn job(
    step: &StepSpec,
    image: &str,
    names: &Names,
    with_input: bool,
    wrap: Option<&Wrap>,
) -> Result<Job, ExecError> {
    let resources = resources(step)?;
    let mut mounts = vec![VolumeMount { name: "output".into(), mount_path: OUTPUT_DIR.into(), ..Default::default() }];
    let mut volumes =
        vec![Volume { name: "output".into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() }];
    let mut init_containers = None;
    if let Some(wrap) = wrap {
        // The same folder at the seed platform's place, as on the docker executor.
        mounts.push(VolumeMount { name: "output".into(), mount_path: COMPAT_OUTPUT_DIR.into(), ..Default::default() });
        mounts.push(VolumeMount {
            name: "terrace-tools".into(),
            mount_path: TOOLS_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "terrace-tools".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
        init_containers = Some(vec![Container {
            name: TOOLS_CONTAINER.into(),
            image: Some(wrap.helper_image.into()),
            command: Some(vec![HELPER_BINARY.into(), "attempt-wrap".into(), "--copy-to".into(), WRAPPER.into()]),
            volume_mounts: Some(vec![VolumeMount {
                name: "terrace-tools".into(),
                mount_path: TOOLS_DIR.into(),
                ..Default::default()
            }]),
            // Copying one file: the step's resources are for the job, this needs little.
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([
                    ("cpu".to_string(), Quantity("100m".into())),
                    ("memory".to_string(), Quantity("64Mi".into())),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    }
    if with_input {
        mounts.push(VolumeMount {
            name: "input".into(),
            mount_path: INPUT_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "input".into(),
            secret: Some(SecretVolumeSource { secret_name: Some(names.input_secret.clone()), ..Default::default() }),
            ..Default::default()
        });
    }
    let (command, args) = match wrap {
        Some(w) => (Some(wrapped(&w.entrypoint)), w.args.clone()),
        None => (step.container.entrypoint.clone(), step.argv.clone()),
    };
    let container = Container {
        name: CONTAINER.into(),
        image: Some(image.into()),
        command,
        args: Some(args),
        env_from: Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource { name: names.secret.clone(), optional: Some(false) }),
            ..Default::default()
        }]),
        resources,
        volume_mounts: Some(mounts),
        // Uploaded, the outputs stay out of the pod's status.
        termination_message_path: wrap.is_none().then(|| TERMINATION_MESSAGE.into()),
        termination_message_policy: wrap.is_none().then(|| "File".into()),
        ..Default::default()
    };
    let mut pod_labels = labels(step);
    pod_labels.insert(JOB_LABEL.into(), names.job.clone());
    let mut annotations = BTreeMap::new();
    if let Some(p) = &step.output_file {
        annotations.insert(OUTPUT_ANNOTATION.to_string(), p.display().to_string());
    }
    if let Some(w) = wrap {
        annotations.insert(TICKET_ANNOTATION.to_string(), w.ticket.to_string());
    }
    let annotations = (!annotations.is_empty()).then_some(annotations);
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(names.job.clone()),
            labels: Some(labels(step)),
            annotations,
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            // A started second counts: a limit under a second still stops the job.
            active_deadline_seconds: step.limits.max_duration.map(|d| d.as_secs_f64().ceil().max(1.0) as i64),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(pod_labels), ..Default::default() }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    init_containers,
                    containers: vec![container],
                    volumes: Some(volumes),
                    // Exactly the step's environment: no service variables, no API token.
                    enable_service_links: Some(false),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(step.limits.kill_grace.as_secs().max(1) as i64),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The job's `resources` as both requests and limits: it is scheduled where they fit
/// and held to them.
fn resources(step: &StepSpec) -> Result<Option<ResourceRequirements>, ExecError> {
    let bad = |what: &str, e: String| ExecError::Unsupported(format!("resources.{what}: {e}"));
    let mut quantities = BTreeMap::new();
    if let Some(cpu) = &step.resources.cpu {
        cpu_millis(cpu).map_err(|e| bad("cpu", e))?;
        quantities.insert("cpu".to_string(), Quantity(cpu.trim().to_string()));
    }
    if let Some(memory) = &step.resources.memory {
        memory_bytes(memory).map_err(|e| bad("memory", e))?;
        quantities.insert("memory".to_string(), Quantity(memory.trim().to_string()));
    }
    Ok((!quantities.is_empty()).then(|| ResourceRequirements {
        requests: Some(quantities.clone()),
        limits: Some(quantities),
        ..Default::default()
    }))
}

/// Base64 of a value, as a Secret's `data` holds it (for messages and tests).
#[cfg(test)]
fn b64(value: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Resources};

    fn step() -> StepSpec {
        StepSpec {
            run: "0193A-B".into(),
            attempt: 2,
            argv: vec!["start".into()],
            image: Some("registry.example/job:1".into()),
            container: Default::default(),
            workdir: "/w/src".into(),
            input: Some("/w/input/params.json".into()),
            output_file: Some("/w/output/output.json".into()),
            env: vec![("A".into(), "1".into()), ("TERRACE_OUTPUT_FILE".into(), "/host/x".into())],
            resources: Resources { cpu: Some("500m".into()), memory: Some("64Mi".into()) },
            limits: Limits {
                max_duration: Some(std::time::Duration::from_millis(1500)),
                kill_grace: std::time::Duration::from_secs(5),
            },
            capture_stdout: false,
            agent: None,
        }
    }

    #[test]
    fn names_are_short_lower_case_and_unique_per_step() {
        let n = Names::new("0193A-B", 2, "x1y2z3");
        assert_eq!(n.job, "terrace-0193a-b-2-x1y2z3");
        assert_eq!(n.input_secret, "terrace-0193a-b-2-x1y2z3-input");
        let long = Names::new(&"r".repeat(200), 12, "abcdef");
        assert!(long.input_secret.len() <= 63, "{long:?}");
    }

    #[test]
    fn a_step_becomes_a_job() {
        let names = Names::new("0193A-B", 2, "u");
        let job = job(&step(), "registry.example/job:1", &names, true, None).unwrap();
        let spec = job.spec.unwrap();
        assert_eq!((spec.backoff_limit, spec.active_deadline_seconds), (Some(0), Some(2)));
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let c = &pod.containers[0];
        assert_eq!(c.args.as_deref().unwrap(), ["start"]);
        assert_eq!(c.command, None);
        assert_eq!(c.env, None, "values only in the Secret");
        let r = c.resources.clone().unwrap();
        assert_eq!(r.requests, r.limits);
        assert_eq!(r.limits.unwrap()["memory"], Quantity("64Mi".into()));
        assert_eq!(c.termination_message_path.as_deref(), Some("/terrace-output/output.json"));
        assert_eq!(job.metadata.labels.unwrap()["terrace/run"], "0193A-B");
    }

    #[test]
    fn the_environment_goes_into_the_secret_with_the_files_as_the_pod_sees_them() {
        let names = Names::new("r", 1, "u");
        let secret = env_secret(&step(), &names, None);
        let data = secret.data.unwrap();
        let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        assert_eq!(text("A"), "1");
        assert_eq!(text("TERRACE_OUTPUT_FILE"), "/terrace-output/output.json");
        assert_eq!(text("JOB_INPUT"), "/data/input/params.json");
        let wire = serde_json::to_value(env_secret(&step(), &names, None)).unwrap();
        assert_eq!(wire["data"]["A"], b64("1"));
    }

    #[test]
    fn bad_resources_name_the_key() {
        let mut s = step();
        s.resources.cpu = Some("lots".into());
        let err = job(&s, "i", &Names::new("r", 1, "u"), false, None).unwrap_err().to_string();
        assert!(err.starts_with("resources.cpu: "), "{err}");
    }

    #[test]
    fn a_wrapped_step_copies_the_wrapper_in_and_uploads_instead_of_a_termination_message() {
        let names = Names::new("r", 1, "u");
        let wrap = Wrap {
            helper_image: "terrace-helper:1",
            entrypoint: vec!["/entrypoint.sh".into()],
            args: vec!["start".into()],
            ticket: "T1",
        };
        let job = job(&step(), "registry.example/job:1", &names, false, Some(&wrap)).unwrap();
        assert_eq!(job.metadata.annotations.unwrap()[TICKET_ANNOTATION], "T1");
        let pod = job.spec.unwrap().template.spec.unwrap();
        let init = &pod.init_containers.unwrap()[0];
        assert_eq!(init.image.as_deref(), Some("terrace-helper:1"));
        assert_eq!(
            init.command.as_deref().unwrap(),
            ["/terrace", "attempt-wrap", "--copy-to", "/terrace-tools/terrace"]
        );
        let c = &pod.containers[0];
        assert_eq!(c.command.as_deref().unwrap(), ["/terrace-tools/terrace", "attempt-wrap", "--", "/entrypoint.sh"]);
        assert_eq!(c.args.as_deref().unwrap(), ["start"]);
        assert_eq!(c.termination_message_path, None);
        let mounts: Vec<&str> = c.volume_mounts.iter().flatten().map(|m| m.mount_path.as_str()).collect();
        assert_eq!(mounts, ["/terrace-output", "/qovery-output", "/terrace-tools"]);

        let ticket = Ticket { id: "T1".into(), url: "http://t/x".into(), token: "tok-123".into() };
        let data = env_secret(&step(), &names, Some(&ticket)).data.unwrap();
        assert_eq!(data[OUTPUT_TOKEN_VAR].0, b"tok-123");
        assert_eq!(data[OUTPUT_URL_VAR].0, b"http://t/x");
    }
}
