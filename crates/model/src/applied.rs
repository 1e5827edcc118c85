//! A job's definition as an environment applied it, kept in the store so that a job
//! removed from `terrace.yaml` can still run its `delete` exactly as it was defined:
//! template, source (folder, or git repository with the commit it was checked out at),
//! events and commands, dependencies, parameters file, variables and limits. A mirror
//! of [`Job`] with a stable JSON form; fields added later must default.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::project::{Command, ContainerSettings, GitSource, IacSettings, Job, TemplateKind, VariableDef};
use crate::resources::ResourceSpec;

/// [`Job`] as stored (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobDefinition {
    pub name: String,
    pub template: TemplateKind,
    pub source: PathBuf,
    #[serde(default)]
    pub git: Option<GitDefinition>,
    pub events: Vec<Event>,
    #[serde(default)]
    pub commands: BTreeMap<Event, Command>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub input: Option<PathBuf>,
    #[serde(default)]
    pub variables: IndexMap<String, VariableDefinition>,
    #[serde(default)]
    pub max_duration_ms: Option<u64>,
    #[serde(default)]
    pub max_restarts: u32,
    #[serde(default)]
    pub passthrough: Vec<String>,
    #[serde(default)]
    pub iac: IacDefinition,
    #[serde(default)]
    pub executor: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default)]
    pub container: ContainerDefinition,
    #[serde(default)]
    pub artifacts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitDefinition {
    pub url: String,
    pub reference: String,
    pub path: String,
    #[serde(default)]
    pub token_secret: Option<String>,
    #[serde(default)]
    pub ssh_key_secret: Option<String>,
}

/// A variable as written (references unresolved; a secret's value is a reference to
/// the store, never the secret itself, or a literal the file held in clear).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableDefinition {
    pub value: String,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IacDefinition {
    #[serde(default)]
    pub binary: Option<String>,
    #[serde(default)]
    pub backend_config: IndexMap<String, String>,
    #[serde(default)]
    pub template_file: Option<PathBuf>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub sensitive_outputs: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDefinition {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub dockerfile: Option<PathBuf>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
}

impl From<&Job> for JobDefinition {
    fn from(j: &Job) -> Self {
        JobDefinition {
            name: j.name.clone(),
            template: j.template,
            source: j.source.clone(),
            git: j.git.as_ref().map(|g| GitDefinition {
                url: g.url.clone(),
                reference: g.reference.clone(),
                path: g.path.clone(),
                token_secret: g.token_secret.clone(),
                ssh_key_secret: g.ssh_key_secret.clone(),
            }),
            events: j.events.clone(),
            commands: j.commands.clone(),
            depends_on: j.depends_on.clone(),
            input: j.input.clone(),
            variables: j
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), VariableDefinition { value: v.value.clone(), secret: v.secret }))
                .collect(),
            max_duration_ms: j.max_duration.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            max_restarts: j.max_restarts,
            passthrough: j.passthrough.clone(),
            iac: IacDefinition {
                binary: j.iac.binary.clone(),
                backend_config: j.iac.backend_config.clone(),
                template_file: j.iac.template_file.clone(),
                capabilities: j.iac.capabilities.clone(),
                sensitive_outputs: j.iac.sensitive_outputs.clone(),
            },
            executor: j.executor.clone(),
            pool: j.pool.clone(),
            container: ContainerDefinition {
                image: j.container.image.clone(),
                dockerfile: j.container.dockerfile.clone(),
                entrypoint: j.container.entrypoint.clone(),
                cpu: j.container.resources.cpu.clone(),
                memory: j.container.resources.memory.clone(),
            },
            artifacts: j.artifacts.clone(),
        }
    }
}

impl JobDefinition {
    /// The job again, as it ran when applied. It has no schedule and no environments
    /// list: it is only ever run in the environment that applied it, for its `delete`.
    pub fn to_job(&self) -> Job {
        let mut job = Job::new(self.name.clone(), self.template);
        job.source = self.source.clone();
        job.git = self.git.as_ref().map(|g| GitSource {
            url: g.url.clone(),
            reference: g.reference.clone(),
            path: g.path.clone(),
            token_secret: g.token_secret.clone(),
            ssh_key_secret: g.ssh_key_secret.clone(),
        });
        job.events = self.events.clone();
        job.commands = self.commands.clone();
        job.depends_on = self.depends_on.clone();
        job.input = self.input.clone();
        job.variables = self
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), VariableDef { value: v.value.clone(), secret: v.secret }))
            .collect();
        job.max_duration = self.max_duration_ms.map(Duration::from_millis);
        job.max_restarts = self.max_restarts;
        job.passthrough = self.passthrough.clone();
        job.iac = IacSettings {
            binary: self.iac.binary.clone(),
            backend_config: self.iac.backend_config.clone(),
            template_file: self.iac.template_file.clone(),
            capabilities: self.iac.capabilities.clone(),
            sensitive_outputs: self.iac.sensitive_outputs.clone(),
        };
        job.executor = self.executor.clone();
        job.pool = self.pool.clone();
        job.container = ContainerSettings {
            image: self.container.image.clone(),
            dockerfile: self.container.dockerfile.clone(),
            entrypoint: self.container.entrypoint.clone(),
            resources: ResourceSpec { cpu: self.container.cpu.clone(), memory: self.container.memory.clone() },
        };
        job.artifacts = self.artifacts.clone();
        job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_survives_its_stored_form() {
        let text = "project: p\nenvironments: {dev: {}}\njobs:\n  old:\n    template: shell\n    source: .\n    events: \
                    [start, delete]\n    depends_on: [base]\n    max_duration: 90s\n    max_restarts: 2\n    \
                    variables: {A: \"1\", S: {value: \"${secret:X}\", secret: true}}\n    commands:\n      start: \
                    echo up\n      delete: [sh, -c, echo down]\n  base:\n    template: shell\n    events: [start]\n    \
                    commands: {start: echo base}\n";
        let project = crate::parse::parse_project("terrace.yaml", text).unwrap();
        let job = &project.jobs["old"];
        let stored = serde_json::to_string(&JobDefinition::from(job)).unwrap();
        let back: JobDefinition = serde_json::from_str(&stored).unwrap();
        assert_eq!(&back.to_job(), job);
    }
}
