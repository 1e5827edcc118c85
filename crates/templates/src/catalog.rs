//! What each template does, in words a user can read and override: the default command
//! per event, the default resources, and the default image for container executors
//! (a Dockerfile that only installs the tool: the phases are Terrace's, one code path on
//! every executor), which `terrace template eject` writes out.

use terrace_model::project::TemplateKind;

/// One template's defaults.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TemplateInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// (event, what runs by default).
    pub commands: Vec<(&'static str, &'static str)>,
    pub resources: Resources,
    pub job_settings: Vec<(&'static str, &'static str)>,
    /// The image a container executor runs this template's phases in.
    pub dockerfile: &'static str,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Resources {
    pub cpu: &'static str,
    pub memory: &'static str,
}

const DEFAULT_RESOURCES: Resources = Resources { cpu: "500m", memory: "512Mi" };

const TF_COMMANDS: &[(&str, &str)] = &[
    (
        "start",
        "init -input=false [-backend-config=K=V ...]; plan -out=<run artifacts>/tfplan [-var-file=INPUT]; apply <that plan>; output -json → the job's output file",
    ),
    ("stop", "nothing (override with commands.stop)"),
    ("delete", "init; destroy -auto-approve [-var-file=INPUT]"),
    ("plan", "init; plan -out=<run artifacts>/tfplan; show -json → summary (to add, change, destroy) on the run"),
    ("raw", "init; then the tool with the arguments after `--`, in the prepared working directory"),
];

const TF_SETTINGS: &[(&str, &str)] = &[
    ("binary", "the program to run (default: terraform, or tofu for opentofu)"),
    ("backend_config", "map of -backend-config entries for init"),
    ("input", "the parameters file, passed as -var-file (.tfvars or .tfvars.json)"),
    (
        "state",
        "local backend: one state file per environment under the data folder; own backend: workspace named after the environment",
    ),
];

/// Every template Terrace ships.
pub fn all() -> Vec<TemplateInfo> {
    [TemplateKind::Shell, TemplateKind::Terraform, TemplateKind::Opentofu, TemplateKind::Cloudformation]
        .into_iter()
        .map(info)
        .collect()
}

pub fn find(name: &str) -> Option<TemplateInfo> {
    all().into_iter().find(|t| t.name == name)
}

pub fn info(kind: TemplateKind) -> TemplateInfo {
    match kind {
        TemplateKind::Shell => TemplateInfo {
            name: "shell",
            summary: "runs the job's own command for each event (commands.start, commands.stop, commands.delete)",
            commands: vec![(
                "start | stop | delete",
                "the job's commands.<event>: a string (run by /bin/sh -c) or an argv list",
            )],
            resources: DEFAULT_RESOURCES,
            job_settings: vec![],
            dockerfile: include_str!("../assets/shell.Dockerfile"),
        },
        TemplateKind::Terraform => TemplateInfo {
            name: "terraform",
            summary: "Terraform root module in the job's source folder",
            commands: TF_COMMANDS.to_vec(),
            resources: DEFAULT_RESOURCES,
            job_settings: TF_SETTINGS.to_vec(),
            dockerfile: include_str!("../assets/terraform.Dockerfile"),
        },
        TemplateKind::Opentofu => TemplateInfo {
            name: "opentofu",
            summary: "OpenTofu root module in the job's source folder (same phases as terraform, with `tofu`)",
            commands: TF_COMMANDS.to_vec(),
            resources: DEFAULT_RESOURCES,
            job_settings: TF_SETTINGS.to_vec(),
            dockerfile: include_str!("../assets/terraform.Dockerfile"),
        },
        TemplateKind::Cloudformation => TemplateInfo {
            name: "cloudformation",
            summary: "a CloudFormation stack `terrace-<project>-<environment>-<job>` from the job's template_file, with the aws CLI",
            commands: vec![
                (
                    "start",
                    "create-stack, or update-stack when it exists (\"No updates are to be performed\" is success); wait; the stack's Outputs → the job's output file",
                ),
                ("stop", "nothing (override with commands.stop)"),
                ("delete", "delete-stack; wait stack-delete-complete (a stack that does not exist is success)"),
                ("raw", "aws cloudformation with the arguments after `--`"),
            ],
            resources: DEFAULT_RESOURCES,
            job_settings: vec![
                ("template_file", "the template, relative to the job's source folder (required)"),
                ("input", "the parameters file: [{\"ParameterKey\",\"ParameterValue\"}] or {\"Key\": \"Value\"}"),
                ("capabilities", "e.g. [CAPABILITY_IAM, CAPABILITY_NAMED_IAM]"),
                ("sensitive_outputs", "names of stack Outputs to treat as secrets"),
                ("AWS_ENDPOINT_URL", "as a job variable: send the CLI to another endpoint (e.g. a local moto server)"),
            ],
            dockerfile: include_str!("../assets/cloudformation.Dockerfile"),
        },
    }
}

/// Writes the template's Dockerfile into `dir` for the user to customise; refuses to
/// overwrite an existing file. Returns the paths written.
pub fn eject(info: &TemplateInfo, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = vec![(dir.join("Dockerfile"), info.dockerfile)];
    for (path, _) in &files {
        if path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists; eject into an empty folder", path.display()),
            ));
        }
    }
    for (path, text) in &files {
        std::fs::write(path, text)?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_an_image_and_eject_refuses_to_overwrite() {
        assert_eq!(all().len(), 4);
        let tf = find("terraform").unwrap();
        assert!(tf.dockerfile.contains("releases.hashicorp.com/terraform"));
        let dir = std::env::temp_dir().join(format!("terrace-eject-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(eject(&tf, &dir).unwrap().len(), 1);
        assert!(eject(&tf, &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The images only install tools: no phase is written in shell beside the engine's,
    /// so the container recipe cannot drift from what Terrace runs.
    #[test]
    fn no_image_repeats_a_phase() {
        for t in all() {
            let steps: Vec<&str> = t.dockerfile.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
            let recipe = steps.join("\n");
            for phase in [
                "terraform init",
                "terraform plan",
                "terraform apply",
                "output -json",
                "create-stack",
                "update-stack",
                "delete-stack",
                "entrypoint.sh",
            ] {
                assert!(!recipe.contains(phase), "{}: the Dockerfile runs `{phase}`", t.name);
            }
            assert!(!recipe.contains("CMD"), "{}: the command is Terrace's", t.name);
        }
    }
}
