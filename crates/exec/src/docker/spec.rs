//! A step as a container's configuration: the image, the entrypoint (the job's, else the
//! image's) with the step's argv as its arguments, exactly the step's environment, the
//! mounts, the CPU quota and memory limit (swap included, so the limit is the limit), and
//! no log kept by Docker (the output is read through the attach stream and masked there:
//! Docker's own log file would hold secrets in clear).

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use terrace_model::resources::{cpu_millis, memory_bytes};

use super::paths;
use super::{ATTEMPT_LABEL, OWNER_LABEL, RUN_LABEL};
use crate::{ExecError, StepSpec};

/// Docker's CPU period (100 ms); the quota is that much per core.
const CPU_PERIOD: i64 = 100_000;

pub(crate) fn container(step: &StepSpec, image: &str) -> Result<ContainerCreateBody, ExecError> {
    let mut env: Vec<(String, String)> = step
        .env
        .iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "TERRACE_OUTPUT_FILE" | "TERRACE_JOB_INPUT" | "JOB_INPUT" | "TERRACE_RUN_ID")
        })
        .cloned()
        .collect();
    env.extend(paths::file_env(step));
    let (cpu_quota, memory) = limits(step)?;
    let mut labels = HashMap::from([
        (RUN_LABEL.to_string(), step.run.clone()),
        (ATTEMPT_LABEL.to_string(), step.attempt.to_string()),
    ]);
    if let Some(owner) = &step.container.owner {
        labels.insert(OWNER_LABEL.to_string(), owner.clone());
    }
    let host_network = needs_host_loopback(&env);
    Ok(ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: step.container.entrypoint.clone(),
        cmd: Some(step.argv.clone()),
        env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: (!step.container.keep_image_workdir).then(|| paths::WORKDIR.to_string()),
        labels: Some(labels),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(false),
        tty: Some(false),
        host_config: Some(HostConfig {
            mounts: Some(paths::mounts(step)),
            cpu_period: cpu_quota.map(|_| CPU_PERIOD),
            cpu_quota,
            memory,
            memory_swap: memory,
            log_config: Some(HostConfigLogConfig { typ: Some("none".into()), config: None }),
            network_mode: host_network.then(|| "host".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Whether the step talks to a Terrace listener on the host's loopback: in local mode the
/// Terraform state backend listens on 127.0.0.1 only (never on a reachable address), so the
/// container shares the host's network to reach it. Server mode gives a routable address.
fn needs_host_loopback(env: &[(String, String)]) -> bool {
    env.iter().any(|(k, v)| {
        k == "TF_HTTP_ADDRESS" && (v.starts_with("http://127.0.0.1:") || v.starts_with("http://localhost:"))
    })
}

/// The CPU quota (per `CPU_PERIOD`) and memory limit in bytes.
fn limits(step: &StepSpec) -> Result<(Option<i64>, Option<i64>), ExecError> {
    let bad = |what: &str, e: String| ExecError::Unsupported(format!("resources.{what}: {e}"));
    let cpu = match &step.resources.cpu {
        Some(text) => Some((cpu_millis(text).map_err(|e| bad("cpu", e))? as i64 * CPU_PERIOD / 1000).max(1000)),
        None => None,
    };
    let memory = match &step.resources.memory {
        Some(text) => Some(memory_bytes(text).map_err(|e| bad("memory", e))? as i64),
        None => None,
    };
    Ok((cpu, memory))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Resources};

    fn step() -> StepSpec {
        StepSpec {
            run: "r1".into(),
            attempt: 2,
            argv: vec!["start".into()],
            image: Some("sha256:abc".into()),
            container: Default::default(),
            workdir: "/w/src".into(),
            input: Some("/w/input/params.json".into()),
            output_file: Some("/w/output/output.json".into()),
            env: vec![("A".into(), "1".into()), ("TERRACE_OUTPUT_FILE".into(), "/host/x".into())],
            resources: Resources { cpu: Some("500m".into()), memory: Some("64Mi".into()) },
            limits: Limits { max_duration: None, kill_grace: std::time::Duration::from_secs(1) },
            capture_stdout: false,
            agent: None,
        }
    }

    #[test]
    fn a_step_becomes_a_container() {
        let c = container(&step(), "sha256:abc").unwrap();
        assert_eq!(c.cmd.as_deref().unwrap(), ["start"]);
        assert_eq!(c.entrypoint, None);
        assert_eq!(c.working_dir.as_deref(), Some("/data/src"));
        let env = c.env.unwrap();
        assert_eq!(
            env,
            [
                "A=1",
                "TERRACE_OUTPUT_FILE=/terrace-output/output.json",
                "TERRACE_JOB_INPUT=/data/input/params.json",
                "JOB_INPUT=/data/input/params.json",
                "TERRACE_RUN_ID=r1",
            ]
        );
        let host = c.host_config.unwrap();
        assert_eq!((host.cpu_period, host.cpu_quota), (Some(100_000), Some(50_000)));
        assert_eq!((host.memory, host.memory_swap), (Some(64 << 20), Some(64 << 20)));
        let targets: Vec<String> = host.mounts.unwrap().into_iter().filter_map(|m| m.target).collect();
        assert_eq!(targets, ["/data/src", "/data/input", "/terrace-output", "/qovery-output"]);
        assert_eq!(c.labels.unwrap()["terrace.run"], "r1");
    }

    #[test]
    fn a_step_using_the_local_state_backend_shares_the_hosts_network() {
        let mut s = step();
        let net = |s: &StepSpec| container(s, "img").unwrap().host_config.unwrap().network_mode;
        assert_eq!(net(&s), None);
        s.env.push(("TF_HTTP_ADDRESS".into(), "http://127.0.0.1:4000/terraform/state/p/e/j".into()));
        assert_eq!(net(&s).as_deref(), Some("host"));
        s.env.last_mut().unwrap().1 = "https://terrace.example/terraform/state/p/e/j".into();
        assert_eq!(net(&s), None);
    }
}
