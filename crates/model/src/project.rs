//! The validated project: what `terrace.yaml` describes once `parse` has accepted it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use crate::event::Event;

/// One `terrace.yaml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub name: String,
    pub variables: IndexMap<String, VariableDef>,
    pub environments: IndexMap<String, EnvironmentDef>,
    pub jobs: IndexMap<String, Job>,
}

/// A variable as written: its value may still hold `${env:NAME}` references, which
/// are resolved when a run starts (so reading the project needs no credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableDef {
    pub value: String,
    pub secret: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct EnvironmentDef {
    pub name: String,
    pub variables: IndexMap<String, VariableDef>,
}

/// Which built-in recipe a job uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    Shell,
    Terraform,
    Opentofu,
    Cloudformation,
}

impl TemplateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Shell => "shell",
            TemplateKind::Terraform => "terraform",
            TemplateKind::Opentofu => "opentofu",
            TemplateKind::Cloudformation => "cloudformation",
        }
    }

    /// Whether the template has a `plan` command (`terrace plan ENV` runs these jobs).
    pub fn supports_plan(self) -> bool {
        matches!(self, TemplateKind::Terraform | TemplateKind::Opentofu)
    }

    /// Whether the template brings its own command per event (so `commands` is optional).
    pub fn has_default_commands(self) -> bool {
        !matches!(self, TemplateKind::Shell)
    }
}

/// Settings of the IaC templates; empty for `shell`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IacSettings {
    /// terraform/opentofu: the program (default `terraform` / `tofu`).
    pub binary: Option<String>,
    /// terraform/opentofu: `-backend-config` entries for `init`.
    pub backend_config: IndexMap<String, String>,
    /// cloudformation: the template, relative to the job's source folder.
    pub template_file: Option<PathBuf>,
    /// cloudformation: capabilities such as `CAPABILITY_IAM`.
    pub capabilities: Vec<String>,
    /// cloudformation: stack Outputs to treat as secrets.
    pub sensitive_outputs: Vec<String>,
}

/// A command for one event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Command {
    /// Run exactly this program with these arguments.
    Argv(Vec<String>),
    /// Run through `/bin/sh -c`.
    Shell(String),
}

impl Command {
    /// The argv to spawn.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Argv(v) => v.clone(),
            Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        }
    }
}

/// A lifecycle job.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub name: String,
    pub template: TemplateKind,
    /// Folder relative to the project file.
    pub source: PathBuf,
    pub events: Vec<Event>,
    pub commands: BTreeMap<Event, Command>,
    pub depends_on: Vec<String>,
    /// The one parameters file, relative to the source folder's project root.
    pub input: Option<PathBuf>,
    pub variables: IndexMap<String, VariableDef>,
    pub max_duration: Option<Duration>,
    pub max_restarts: u32,
    /// Names of invoking-environment variables inherited beyond the default allow-list.
    pub passthrough: Vec<String>,
    /// Skip `start` when its inputs equal those of the last successful start.
    pub skip_unchanged: bool,
    pub iac: IacSettings,
}

impl Job {
    /// A job with every setting at its default (the defaults of `terrace.yaml`).
    pub fn new(name: impl Into<String>, template: TemplateKind) -> Job {
        Job {
            name: name.into(),
            template,
            source: PathBuf::from("."),
            events: Vec::new(),
            commands: BTreeMap::new(),
            depends_on: Vec::new(),
            input: None,
            variables: IndexMap::new(),
            max_duration: None,
            max_restarts: 0,
            passthrough: Vec::new(),
            skip_unchanged: false,
            iac: IacSettings::default(),
        }
    }

    pub fn runs_on(&self, event: Event) -> bool {
        self.events.contains(&event)
    }
}

impl Project {
    pub fn environment(&self, name: &str) -> Option<&EnvironmentDef> {
        self.environments.get(name)
    }
}
