//! The validated project: what `terrace.yaml` describes once `parse` has accepted it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use crate::cron::CronSchedule;
use crate::event::Event;

/// The executors a job may name in `executor:` (the engine's registry has one of each);
/// `local` is the default. Container executors add their names here.
pub const EXECUTORS: &[&str] = &["local", "docker", "kubernetes"];

/// The executors that run a job in a container image (so `image`, `dockerfile` and
/// `entrypoint` mean something there).
pub const CONTAINER_EXECUTORS: &[&str] = &["docker", "kubernetes"];

/// One `terrace.yaml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub name: String,
    pub variables: IndexMap<String, VariableDef>,
    pub environments: IndexMap<String, EnvironmentDef>,
    pub jobs: IndexMap<String, Job>,
    /// Where jobs run unless an environment or a job says otherwise (one of `EXECUTORS`).
    pub executor: Option<String>,
    /// Images promoted between environments by moving each environment's tag.
    pub artifacts: IndexMap<String, ArtifactDef>,
    /// Preview classes: pull requests of a repository open environments copied from one.
    pub previews: IndexMap<String, crate::preview::PreviewDef>,
    /// Where Terrace reports what happened (Slack, webhooks), and which kinds.
    pub notifications: IndexMap<String, crate::notify::NotificationDef>,
}

/// One artifact of `artifacts:`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ArtifactDef {
    pub name: String,
    /// `REGISTRY/REPOSITORY`, without tag.
    pub image: String,
    /// The environment's tag, `{env}` standing for its name (default `{env}`).
    pub tag: String,
    /// Registry credentials; values may be `${secret:NAME}` or `${env:NAME}`. Without them,
    /// the secrets `REGISTRY_USERNAME` and `REGISTRY_PASSWORD` are used when set.
    pub credentials: Option<ArtifactCredentials>,
    /// The environments a version goes through in order (`[dev, alpha, stage, prod]`): a
    /// version is promoted to one only after it was promoted to the one before.
    pub order: Vec<String>,
}

impl ArtifactDef {
    /// The tag of environment `env`.
    pub fn tag_for(&self, env: &str) -> String {
        self.tag.replace("{env}", env)
    }

    /// The variable prefix of this artifact: `software` → `SOFTWARE`.
    pub fn variable_prefix(&self) -> String {
        self.name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct ArtifactCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ArtifactCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCredentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// A variable as written: its value may still hold references (`${outputs.JOB.NAME}`,
/// `${NAME}`, `${secret:NAME}`, `${env:NAME}`), which are resolved when a run starts (so
/// reading the project needs no credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableDef {
    pub value: String,
    pub secret: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct EnvironmentDef {
    pub name: String,
    pub variables: IndexMap<String, VariableDef>,
    /// Job name → the parameters file that job uses in this environment, instead of its
    /// own `input` (relative to the project file).
    pub inputs: IndexMap<String, PathBuf>,
    /// Where this environment's jobs run unless a job says otherwise.
    pub executor: Option<String>,
    /// The agent pool that runs this environment's jobs unless a job names its own.
    pub pool: Option<String>,
    /// Whether an event that changes this environment waits for an approval.
    pub approval: ApprovalPolicy,
    /// The git branch this environment follows: a push to it deploys the environment, a
    /// pull request into it is planned against it.
    pub branch: Option<String>,
    /// What a failed `start` leads to.
    pub on_failure: OnFailure,
    /// An ephemeral environment: destroyed (its `delete` event) this long after its
    /// record was created, unless extended.
    pub ttl: Option<Ttl>,
    /// When to check for drift: a scheduled plan that marks the environment drifted.
    pub drift: Option<CronSchedule>,
    /// Every job's `start` is skipped when its inputs are those of its last successful
    /// start, as if each had `skip_unchanged: true` (a preview: a push re-runs only the
    /// jobs whose inputs changed). Not a key of the file: set on runtime environments.
    pub skip_unchanged: bool,
}

/// An environment's time to live, as declared (`72h`) and as a duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ttl {
    pub duration: Duration,
    pub declared: String,
}

/// `on_failure:` of an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// The environment stays `failed` (the default).
    #[default]
    None,
    /// Re-apply the last commit that applied successfully in this environment.
    Rollback,
    /// Run the delete event (an ephemeral environment's rule).
    Destroy,
}

impl OnFailure {
    pub const NAMES: &'static [&'static str] = &["rollback", "destroy", "none"];

    pub fn parse(word: &str) -> Option<OnFailure> {
        match word {
            "rollback" => Some(OnFailure::Rollback),
            "destroy" => Some(OnFailure::Destroy),
            "none" => Some(OnFailure::None),
            _ => None,
        }
    }
}

/// `approval:` of an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct ApprovalPolicy {
    /// Events that change the environment (every event but `plan`) and promotions to it
    /// wait in `awaiting_approval` until approved or rejected.
    pub required: bool,
    /// The approver must be someone other than who asked for the event.
    pub distinct_approver: bool,
}

impl ApprovalPolicy {
    /// Whether `event` of such an environment waits for an approval.
    pub fn gates(&self, event: Event) -> bool {
        self.required && event != Event::Plan
    }
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

/// A job's source in a git repository: `source: {git: URL, ref: REF, path: SUBDIR}`.
/// Each run checks out the exact commit `reference` names when its pipeline opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitSource {
    /// The repository (https, ssh, scp-like, `file://` or an absolute path); never holds
    /// credentials.
    pub url: String,
    /// A branch, a tag, a full ref or a commit id.
    pub reference: String,
    /// The folder inside the repository (`""` for its root).
    pub path: String,
    /// The store secret holding an https token (`token: ${secret:NAME}`).
    pub token_secret: Option<String>,
    /// The store secret holding an ssh private key (`ssh_key: ${secret:NAME}`).
    pub ssh_key_secret: Option<String>,
}

/// A lifecycle job.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub name: String,
    pub template: TemplateKind,
    /// Folder relative to the project file (unused when `git` is set).
    pub source: PathBuf,
    /// The job's source is this repository instead of a folder of the project.
    pub git: Option<GitSource>,
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
    /// The environments the job runs in; `None`: every environment.
    pub environments: Option<Vec<String>>,
    /// Where the job runs (one of `EXECUTORS`); `None`: its environment's, the project's, `local`.
    pub executor: Option<String>,
    /// The agent pool whose agents run the job (`terrace agent --pool NAME`), with its
    /// executor on the agent's host; `None`: its environment's pool, else the server itself.
    pub pool: Option<String>,
    /// How the job runs on a container executor: its image, entrypoint and resources.
    pub container: ContainerSettings,
    /// The artifacts it consumes: it gets their `<NAME>_VERSION`, `_DIGEST`, `_IMAGE`, and
    /// a promotion of one of them to its environment runs its `commands.redeploy` (else its
    /// `start`) again.
    pub artifacts: Vec<String>,
    /// A cron job (seed 001): its `start` runs on this schedule in every deployed
    /// environment it runs in (server, or `terrace tick`).
    pub schedule: Option<CronSchedule>,
}

/// A job's container: an image from a registry, or one built from its source folder
/// (`dockerfile`, else the template's default Dockerfile); the entrypoint that takes the
/// event's command as its arguments (the image's own when not set); the resources it
/// may use (the template's defaults when not set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSettings {
    /// `registry/name:tag` or `name@sha256:...`, pulled when absent.
    pub image: Option<String>,
    /// Relative to the job's source folder, which is the build context.
    pub dockerfile: Option<PathBuf>,
    pub entrypoint: Option<Vec<String>>,
    pub resources: crate::resources::ResourceSpec,
}

impl ContainerSettings {
    /// The keys set that only a container executor uses.
    pub fn container_only_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.image.is_some() {
            keys.push("image");
        }
        if self.dockerfile.is_some() {
            keys.push("dockerfile");
        }
        if self.entrypoint.is_some() {
            keys.push("entrypoint");
        }
        keys
    }
}

impl Job {
    /// A job with every setting at its default (the defaults of `terrace.yaml`).
    pub fn new(name: impl Into<String>, template: TemplateKind) -> Job {
        Job {
            name: name.into(),
            template,
            source: PathBuf::from("."),
            git: None,
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
            environments: None,
            executor: None,
            pool: None,
            container: ContainerSettings::default(),
            artifacts: Vec::new(),
            schedule: None,
        }
    }

    pub fn runs_on(&self, event: Event) -> bool {
        self.events.contains(&event)
    }

    /// Whether the job is part of environment `env` (its `environments`, or all).
    pub fn runs_in(&self, env: &str) -> bool {
        self.environments.as_ref().is_none_or(|list| list.iter().any(|e| e == env))
    }
}

/// `KIND `NAME` is not defined in the project file (defined: ...)`: the one wording of an
/// unknown environment or job, for a client that has only the names (a server's answer).
pub fn undefined<'a>(kind: &str, name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let known: Vec<&str> = known.collect();
    let known = if known.is_empty() { format!("none; add it under `{kind}s:`") } else { known.join(", ") };
    format!("{kind} `{name}` is not defined in the project file (defined: {known})")
}

impl Project {
    pub fn environment(&self, name: &str) -> Option<&EnvironmentDef> {
        self.environments.get(name)
    }

    /// What every mode says of a name that is not one of its environments (declared, or
    /// made at run time and added to the project): local and client mode print the same.
    pub fn unknown_environment(&self, name: &str) -> String {
        undefined("environment", name, self.environments.keys().map(String::as_str))
    }

    /// The same for a job.
    pub fn unknown_job(&self, name: &str) -> String {
        undefined("job", name, self.jobs.keys().map(String::as_str))
    }

    /// The jobs environment `env` runs, as it runs them: each with the parameters file
    /// the environment gives it (`environments.ENV.inputs.JOB`) in place of its own, and
    /// its executor decided (the job's, else the environment's, else the project's).
    pub fn jobs_for(&self, env: &str) -> IndexMap<String, Job> {
        let env_def = self.environment(env);
        let inputs = env_def.map(|e| &e.inputs);
        let executor = env_def.and_then(|e| e.executor.clone()).or_else(|| self.executor.clone());
        let skip_unchanged = env_def.is_some_and(|e| e.skip_unchanged);
        self.jobs
            .iter()
            .filter(|(_, job)| job.runs_in(env))
            .map(|(name, job)| {
                let mut job = job.clone();
                if let Some(path) = inputs.and_then(|i| i.get(name)) {
                    job.input = Some(path.clone());
                }
                if job.executor.is_none() {
                    job.executor = executor.clone();
                }
                job.skip_unchanged |= skip_unchanged;
                (name.clone(), job)
            })
            .collect()
    }

    /// The executor `job` runs on in `env` (`local` unless the file says otherwise).
    pub fn executor_of(&self, env: &str, job: &Job) -> String {
        job.executor
            .clone()
            .or_else(|| self.environment(env).and_then(|e| e.executor.clone()))
            .or_else(|| self.executor.clone())
            .unwrap_or_else(|| EXECUTORS[0].to_string())
    }

    /// The agent pool that runs `job` in `env`: the job's, else the environment's.
    pub fn pool_of(&self, env: &str, job: &Job) -> Option<String> {
        job.pool.clone().or_else(|| self.environment(env).and_then(|e| e.pool.clone()))
    }

    /// Every job `job` depends on, directly or not.
    pub fn upstream_of(&self, job: &str) -> std::collections::BTreeSet<&str> {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<&str> =
            self.jobs.get(job).map(|j| j.depends_on.iter().map(String::as_str).collect()).unwrap_or_default();
        while let Some(dep) = stack.pop() {
            if seen.insert(dep)
                && let Some(j) = self.jobs.get(dep)
            {
                stack.extend(j.depends_on.iter().map(String::as_str));
            }
        }
        seen
    }
}
