//! The command line: every command, flag and the help that teaches them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Terrace runs the lifecycle jobs of your environments (Terraform, CloudFormation, any \
command) on start, stop and delete, passes each job's outputs to the jobs after it, and keeps every \
run, log and output.";

const EXAMPLES: &str = "\
Examples:
  terrace validate                      check terrace.yaml and list every problem
  terrace up dev                        start (deploy or redeploy) the environment `dev`
  terrace outputs dev                   what its jobs produced (secrets as ***)
  terrace status dev                    its state and each job's last run
  terrace logs dev#17                   a run's log (its short form from any listing, or its id)
  terrace run db --env dev --event start   force-run one job
  terrace plan dev                      what the terraform jobs would change (no apply)
  terrace run net --env dev --event raw -- state list   pass arguments to the job's tool
  terrace template show terraform       a template's defaults (commands, Dockerfile)
  terrace down dev                      stop it (reverse dependency order)
  terrace destroy dev                   delete every job's resources, then the environment
  terrace server --project .            serve the API (see `terrace server --help`)
  terrace --server URL up dev           the same commands against a server (token in TERRACE_TOKEN)

Exit status: 0 success, 1 a run failed, 2 a usage or configuration error.";

#[derive(Parser, Debug)]
#[command(name = "terrace", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The project file [default: terrace.yaml in the current folder]
    #[arg(long, global = true, value_name = "PATH", env = "TERRACE_PROJECT_FILE")]
    pub project: Option<PathBuf>,
    /// Where state is kept [default: .terrace/ beside the project file]
    #[arg(long, global = true, value_name = "DIR", env = "TERRACE_DATA")]
    pub data: Option<PathBuf>,
    /// Talk to this `terrace server` instead of running locally (token in TERRACE_TOKEN)
    #[arg(long, global = true, value_name = "URL", env = "TERRACE_SERVER")]
    pub server: Option<String>,
    /// Terrace's own diagnostics: error, warn, info, debug
    #[arg(long, global = true, value_name = "LEVEL", default_value = "warn", env = "TERRACE_LOG")]
    pub log_level: String,
    /// How Terrace's own diagnostics are written: text, or json (one object per line, for log collectors)
    #[arg(long, global = true, value_enum, default_value = "text", env = "TERRACE_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start an environment: run every job that lists `start`, in dependency order (deploy and redeploy); jobs removed from terrace.yaml run their delete first
    Up(EventArgs),
    /// Stop an environment: run every job that lists `stop`, in reverse dependency order
    Down(EventArgs),
    /// Delete an environment: every job's `delete` in reverse order; the record goes only if all succeed
    Destroy(EventArgs),
    /// Plan every terraform/opentofu job of an environment (or of every environment with --all): init + plan, no apply; each run keeps its saved plan
    #[command(after_help = "Examples:\n  terrace plan dev          one environment's plan, job by job\n  \
        terrace plan --all        every environment of terrace.yaml, one after the other, then one table: \
        environment × job, to add / change / destroy, or the error (seed 003's test stage)\n  \
        terrace plan --all --json   the same table as JSON, with each plan run's id\n\
        Exit status: 0 when every plan ran (changes or not), 1 when a plan failed, 2 a usage error.")]
    Plan(PlanArgs),
    /// One job of an environment: `terrace job delete JOB --env ENV` runs its delete alone
    #[command(subcommand)]
    Job(JobCommand),
    /// Force-run one job for one event, whatever events it lists; or show or cancel a run
    #[command(after_help = "Examples:\n  terrace run db --env dev --event start\n  terrace run show dev#17\n  \
        terrace run cancel dev#17    (with --server: stops the request that runs it)\n\
        Arguments after `--` are appended to the job's command.")]
    Run(RunArgs),
    /// The variables an environment's jobs produced (secrets as *** unless --reveal)
    Outputs(OutputsArgs),
    /// Environments and their state; with ENV, each job's last run
    Status(StatusArgs),
    /// Recent runs, newest first
    Runs(RunsArgs),
    /// The log of a run (ENV#N as listings show it, its id, or a unique prefix of the id)
    Logs(LogsArgs),
    /// Check the project file and print every problem found
    Validate(JsonFlag),
    /// Print the JSON Schema of terrace.yaml (for editors)
    Schema,
    /// The built-in job templates: default commands per event, resources, container recipe
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Run the control plane: the HTTP API, its queue of events and the scheduler
    #[command(after_help = crate::server_args::SERVER_HELP)]
    Server(Box<crate::server_args::ServerArgs>),
    /// API tokens of a terrace server, and pool tokens of its agents
    #[command(subcommand)]
    Token(crate::server_args::TokenCommand),
    /// Run the steps of an agent pool: pull them from a terrace server (--server), report their logs and ends
    #[command(after_help = crate::server_args::AGENT_HELP)]
    Agent(crate::server_args::AgentArgs),
    /// Secrets of the project or of an environment for ${secret:NAME}, kept encrypted in the store (the data folder's, or a server's with --server)
    #[command(subcommand)]
    Secret(crate::server_args::SecretCommand),
    /// Event requests queued or run by a terrace server
    #[command(subcommand)]
    Request(crate::server_args::RequestCommand),
    /// Projects registered on a terrace server
    #[command(subcommand)]
    Project(crate::server_args::ProjectCommand),
    /// The audit log: approvals, promotions; on a server also reveals, token and secret changes, cancels
    Audit(crate::server_args::AuditArgs),
    /// Approve what awaits approval (an event of an environment with `approval: required`) and run it
    #[command(after_help = "Examples:\n  terrace approvals              what awaits approval\n  \
        terrace approve prod#5        approve it (ENV#N as listed, or a unique prefix of the approval or request id) and run it\n  \
        terrace reject 0193 --reason \"not during the freeze\"\n\
        Who decided, and when, is recorded on the approval and in `terrace audit`.")]
    Approve(DecideArgs),
    /// Reject what awaits approval: it never runs; who rejected it and why are recorded
    Reject(DecideArgs),
    /// What awaits approval (with --all, decided ones too), newest first
    Approvals(ApprovalsArgs),
    /// Promote an artifact version to an environment: move its tag in the registry, record the pin, redeploy its consumers
    #[command(after_help = "Examples:\n  terrace promote software --version 0.0.3 --to dev\n  \
        terrace promote software --from dev --to alpha\n  \
        terrace promote software --to prod --previous      roll back to the previous version\n\
        The version must exist in the registry; the environment's tag (`tag:` of the artifact, default its name) is \
        moved through the registry's API; the jobs of that environment that list the artifact in `artifacts:` run \
        `start` again. An environment with `approval: required` waits for `terrace approve`.")]
    Promote(PromoteArgs),
    /// Promotions, newest first: who moved which version where, old and new digests
    Promotions(PromotionsArgs),
    /// Environments: list them, clone one into a new environment, delete one made at run time, postpone a ttl destroy
    #[command(subcommand)]
    Env(EnvCommand),
    /// Preview environments of pull requests (`previews:` in terrace.yaml)
    #[command(subcommand)]
    Preview(PreviewCommand),
    /// Terraform state kept in the store: a job's versions, what one holds, the document itself
    #[command(subcommand, after_help = STATE_HELP)]
    State(StateCommand),
    /// Move this project's local data folder into a server's store: environments, runs and logs, outputs, Terraform state
    #[command(after_help = IMPORT_HELP)]
    Import(ImportArgs),
    /// Local mode: run what is due now (TTL destroys, cron jobs, drift checks); a server does it by itself
    #[command(after_help = "A `terrace server` runs its schedules, time-to-live destroys and drift checks itself. \
        Without a server nothing runs in the background: call `terrace tick` from cron or a systemd timer \
        (every minute, say). A tick runs what is due once, however many ticks were missed.")]
    Tick(JsonFlag),
    /// An environment's drift (`drift:`): whether it drifted, and its drift checks with the resources changed
    #[command(after_help = "Examples:\n  terrace drift prod\n  terrace drift prod --json --limit 5\n\
        A drift check is a scheduled `plan` of the environment's terraform/opentofu jobs (`drift: \"0 */6 * * *\"` on \
        the environment). Resources the plan would change mark the environment drifted; changes to outputs only do \
        not. A server runs the checks itself; in local mode `terrace tick` runs those due.")]
    Drift(DriftArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DriftArgs {
    /// The environment
    pub env: String,
    /// Checks to show, newest first
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print JSON for scripts: {environment, drifted, drift: {cron, next_at, last}, checks: [...]}
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum PreviewCommand {
    /// Each preview: its environment (pr-<id>), pull request, state, age, TTL left and URL
    #[command(after_help = "Examples:\n  terrace --server URL preview list\n  terrace preview list --json\n\
        A pull request of a repository named under `previews:` in terrace.yaml opens a preview through the \
        server's webhooks (/hooks/github, /hooks/gitlab): an environment `pr-<id>` copied from the class's `from`, \
        <id> being the first 8 hex characters of sha256 of `OWNER/REPO#NUMBER`. See docs/previews.md.")]
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// Every environment, declared in terrace.yaml or created at run time, with its state and origin
    #[command(after_help = "ORIGIN is `declared` (terrace.yaml), or what made it at run time (`clone`, `preview`); \
        FROM is the environment it was made from. STATE is `absent` for a declared environment never started \
        (or destroyed).")]
    List(JsonFlag),
    /// Make a new environment from another one: its variables, parameters files and artifact versions
    #[command(after_help = "Examples:\n  terrace env clone dev --to dev-alice\n  \
        terrace env clone dev --to pr-42 --var BRANCH=feature-x --var SIZE=small\n  \
        terrace up dev-alice        start it like any environment\n  \
        terrace env delete dev-alice   every job's delete, then the environment\n\
        The clone runs the jobs of the environment it was made from, with the same parameters files and settings \
        (approval, ttl, executor) and the same artifact versions; it starts with no outputs and no state of its own \
        (its Terraform state is its own), and the source's output aliases do not come with it. Secrets of the \
        source's environment scope are not copied: set them with `terrace secret set NAME --env NEW` \
        (project-scope secrets, set with `terrace secret set NAME`, apply). It lives in the store, not in terrace.yaml.")]
    Clone {
        /// The environment to copy (declared, or itself made at run time)
        source: String,
        /// The new environment's name: lower-case letters, digits, `-`, `_`
        #[arg(long, value_name = "NEW")]
        to: String,
        /// A variable of the new environment over the source's (repeat it); a secret as ${secret:NAME}
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
    },
    /// Delete an environment made at run time: every job's `delete` (reverse order), then its record and definition
    #[command(after_help = "The environment is deleted only when every job's delete succeeded: a failed delete \
        leaves it `failed`, listed, and `terrace env delete` may be run again. A declared environment is destroyed \
        with `terrace destroy ENV` and stays declared in terrace.yaml.")]
    Delete(EventArgs),
    /// Postpone an ephemeral environment's destroy (from its destroy time, or from now once due)
    #[command(after_help = "Example:\n  terrace env extend preview-42 24h")]
    Extend {
        /// The environment (it must have `ttl:` in terrace.yaml)
        env: String,
        /// How much later: 24h, 3days, 1h 30m
        #[arg(value_parser = humantime::parse_duration)]
        by: std::time::Duration,
        #[arg(long)]
        json: bool,
    },
}

/// `NAME=VALUE` of `--var`.
fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

#[derive(Args, Debug, Clone)]
#[command(disable_version_flag = true)]
pub struct PromoteArgs {
    /// The artifact, as named under `artifacts:`
    pub artifact: String,
    /// A tag of the artifact's repository to promote
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// Promote what this environment runs
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// Go back to the version the environment ran before (a rollback: a later --from does not replace it)
    #[arg(long)]
    pub previous: bool,
    /// The environment whose tag moves
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Promote even though the version did not go through the environment before this one in the artifact's `order` (audited)
    #[arg(long)]
    pub skip_order: bool,
    #[command(flatten)]
    pub exec: ExecFlags,
}

#[derive(Args, Debug, Clone)]
pub struct PromotionsArgs {
    /// Only promotions to this environment
    #[arg(long)]
    pub env: Option<String>,
    /// Only this artifact's
    #[arg(long)]
    pub artifact: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DecideArgs {
    /// The approval id, or the id of the request it holds (any unique prefix)
    pub id: String,
    /// Why (recorded on the approval and in the audit log)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub exec: ExecFlags,
}

#[derive(Args, Debug, Clone)]
pub struct ApprovalsArgs {
    /// Only this environment's approvals
    #[arg(long)]
    pub env: Option<String>,
    /// Decided ones too (approved, rejected, cancelled)
    #[arg(long)]
    pub all: bool,
    /// At most this many
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum TemplateCommand {
    /// Every template and what it is for
    List(JsonFlag),
    /// A template's default command per event, settings, resources and Dockerfile
    Show {
        /// shell, terraform, opentofu or cloudformation
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a template's Dockerfile into DIR, to customise it
    Eject {
        name: String,
        #[arg(long, value_name = "DIR")]
        to: std::path::PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct JsonFlag {
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ExecFlags {
    /// How many independent jobs run at once [default: number of CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: Option<u16>,
    /// Do not print the jobs' log lines while they run
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the outcome as JSON on stdout (progress still goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// Fail at once when the environment is busy (another event of it runs or waits), instead of waiting for it
    #[arg(long)]
    pub no_wait: bool,
    /// How long a job gets between SIGTERM and SIGKILL when it is stopped (max_duration, Ctrl-C)
    #[arg(long, value_name = "DURATION", default_value = "10s", env = "TERRACE_KILL_GRACE", value_parser = humantime::parse_duration)]
    pub kill_grace: std::time::Duration,
}

#[derive(Args, Debug, Clone)]
pub struct EventArgs {
    /// The environment: named under `environments:` in terrace.yaml, or made at run time (`terrace env list`)
    pub env: String,
    /// up and destroy: forget the jobs removed from terrace.yaml instead of running their delete (whatever they made is left behind; their outputs are dropped)
    #[arg(long)]
    pub keep_removed: bool,
    #[command(flatten)]
    pub exec: ExecFlags,
}

/// `terrace job delete JOB --env ENV`.
#[derive(Args, Debug, Clone)]
pub struct JobDeleteArgs {
    /// The job: in terrace.yaml, or removed from it but still applied in the environment (`terrace status ENV`)
    pub job: String,
    /// The environment
    #[arg(long)]
    pub env: String,
    #[command(flatten)]
    pub exec: ExecFlags,
}

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Run one job's delete alone; a job removed from terrace.yaml runs it with the definition it last applied, and its outputs go only when it succeeds
    Delete(JobDeleteArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The environment, as named under `environments:` in terrace.yaml
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub env: Option<String>,
    /// Plan every environment of terrace.yaml and print one table of them all
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub exec: ExecFlags,
}

impl PlanArgs {
    /// The one environment, as the other events take it (clap requires ENV without --all).
    pub fn single(self) -> Result<EventArgs, crate::exit::CliError> {
        match self.env {
            Some(env) => Ok(EventArgs { env, keep_removed: false, exec: self.exec }),
            None => Err(crate::exit::CliError::usage("terrace plan ENV, or terrace plan --all")),
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EventName {
    Start,
    Stop,
    Delete,
    /// terraform/opentofu: init + plan, no apply
    Plan,
    /// the tool itself with the arguments after `--` (terraform ARGS, aws cloudformation ARGS)
    Raw,
    /// the job's `commands.redeploy` (what a promotion of an artifact it consumes runs)
    Redeploy,
    /// an interactive shell in the job's exact environment (same executor, image, working
    /// copy, parameters and variables, secrets included); removed when it exits; local mode only
    Debug,
}

#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RunArgs {
    #[command(subcommand)]
    pub action: Option<RunAction>,
    /// The job to run
    #[arg(required = true)]
    pub job: Option<String>,
    /// The environment to run it in
    #[arg(long, required = true)]
    pub env: Option<String>,
    /// Which of the job's commands to run
    #[arg(long, value_enum, required = true)]
    pub event: Option<EventName>,
    /// With `--event start` of a terraform/opentofu job: apply the plan that run (a `plan`
    /// run: id, unique prefix or ENV#N) saved, instead of planning again. Refused as stale when
    /// the state moved since, or the commit or inputs differ.
    #[arg(long, value_name = "RUN")]
    pub plan: Option<String>,
    #[command(flatten)]
    pub exec: ExecFlags,
    /// Extra arguments for the job's command (after `--`)
    #[arg(last = true)]
    pub args: Vec<String>,
}

impl RunArgs {
    /// The job, environment and event of a force run (clap requires them without a subcommand).
    pub fn forced(&self) -> Result<(String, String, EventName), crate::exit::CliError> {
        match (&self.job, &self.env, self.event) {
            (Some(job), Some(env), Some(event)) => Ok((job.clone(), env.clone(), event)),
            _ => Err(crate::exit::CliError::usage("terrace run JOB --env ENV --event EVENT (see terrace run --help)")),
        }
    }
}

/// What `terrace run` does to a run that exists.
#[derive(Subcommand, Debug, Clone)]
pub enum RunAction {
    /// A run's record: job, event, state, attempts, times, what changed (ENV#N, id or unique prefix)
    Show {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop a running run (with --server: its request is cancelled, its jobs stopped)
    Cancel { run: String },
}

#[derive(Args, Debug, Clone)]
pub struct OutputsArgs {
    pub env: String,
    /// Show secret values in clear
    #[arg(long)]
    pub reveal: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    pub env: Option<String>,
    /// Print JSON. Without ENV: one JSON array of every environment with a record, written
    /// as it is read (500 environments at a time, so memory stays bounded), not NDJSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RunsArgs {
    /// Only this environment's runs
    #[arg(long)]
    pub env: Option<String>,
    /// Only this job's runs
    #[arg(long)]
    pub job: Option<String>,
    /// At most this many
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// The run: ENV#N as listings show it (dev#17), its id, or a unique prefix of the id
    pub run: String,
    /// Only this attempt's lines
    #[arg(long)]
    pub attempt: Option<u32>,
    /// Keep printing lines until the run ends
    #[arg(long, short)]
    pub follow: bool,
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
}

const STATE_HELP: &str = "\
Examples:
  terrace state list dev db            versions: serial, lineage, the run that wrote each, when; the lock's holder
  terrace state show dev db            resources by address, outputs (sensitive ones as ***)
  terrace state show dev db --version 3
  terrace state pull dev db > db.tfstate   the document itself, secrets in clear (on a server: admins, audited)
The state lives in the data folder's store (or the server's with --server), sealed with the master key.";

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// The versions of a job's state, newest first (serial, lineage, run, time), and who holds its lock
    List {
        /// The environment
        env: String,
        /// The terraform/opentofu job
        job: String,
        #[arg(long)]
        json: bool,
    },
    /// What a version of the state holds: each resource by address, the outputs (sensitive ones as ***)
    #[command(disable_version_flag = true)]
    Show {
        env: String,
        job: String,
        /// A version from `terrace state list` [default: the newest]
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// The state document on stdout, as `terraform state pull` prints it (every secret in clear)
    #[command(disable_version_flag = true)]
    Pull {
        env: String,
        job: String,
        /// A version from `terrace state list` [default: the newest]
        #[arg(long, value_name = "N")]
        version: Option<u64>,
    },
}

const IMPORT_HELP: &str = "\
Examples:
  terrace import --database sqlite:///var/lib/terrace/terrace.db
  TERRACE_MASTER_KEY=... terrace import --data ./.terrace --database postgres://terrace@db:5432/terrace
The data folder is --data (default: .terrace/ beside terrace.yaml), opened with its own master.key
(else TERRACE_MASTER_KEY); the server's store is sealed with TERRACE_MASTER_KEY (required for
PostgreSQL; for SQLite, else the master.key beside the database file). Environments, every run with
its attempts and log, outputs and every version of each Terraform state keep their ids, numbers and
times; an environment the server already has under its own history is left alone. Run it again:
it moves only what is new. Stop local runs first: a run still going is not moved.";

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// The server's store: sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB
    #[arg(long, value_name = "URL", env = "TERRACE_DATABASE")]
    pub database: String,
    /// Print what was moved as JSON
    #[arg(long)]
    pub json: bool,
}
