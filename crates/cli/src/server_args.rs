//! The command line of `terrace server`, `terrace token` and `terrace secret`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

pub const SERVER_HELP: &str = "\
Settings come from flags, then TERRACE_* environment variables, then the --config file
(TOML or YAML: listen, database, data, projects, max_runs, max_drift_checks, parallel, max_attempts, lease,
poll, shutdown_grace, kill_grace, allow_env, header_timeout, idle_timeout, request_timeout,
max_connections, rate_limit, rate_burst, github-webhook-secret, gitlab-webhook-token, github-token,
gitlab-token, github-api-url, gitlab-api-url, public-url), then defaults.

Jobs never see the server's own environment: they get PATH, HOME, LANG and TZ, and
`${env:NAME}` (or `passthrough`) reads only the names --allow-env lists. Give credentials
as secrets (`terrace secret set NAME --env ENV`, read as `${secret:NAME}`).

Limits that keep the server up without a token: a request head must arrive within
--header-timeout of its first byte, a connection waits --idle-timeout for its next request,
a request is answered within --request-timeout (else 408), at most --max-connections are
open (at the cap the one that waited longest for a request is closed), and each client (its
token, else its address) sends at most --rate-limit requests, --rate-burst at once (else
429 with Retry-After). /healthz is never rate-limited.

The API is at /api/v1 (OpenAPI document: /api/v1/openapi.json); /healthz, /readyz and
/metrics (Prometheus) need no token. Every /api/v1 call takes `Authorization: Bearer TOKEN`;
create the first admin token on the store:  terrace token create --role admin --name me

An event is committed to a durable queue before the API answers 202. Per environment,
requests run one at a time in the order they came (a delete waits for a running start);
an event for an environment whose delete is queued or running is refused (409). A request
held by a server that died is re-queued once its lease expires (up to --max-attempts
claims), then marked interrupted. SIGTERM: stop claiming, let running requests finish for
--shutdown-grace, then stop them and put them back in the queue.

Examples:
  terrace server --project ./shop --listen 127.0.0.1:7700
  terrace server --config /etc/terrace/server.toml /srv/projects/a /srv/projects/b";

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// More project folders (or terrace.yaml files) to register, besides --project
    #[arg(value_name = "PROJECT")]
    pub projects: Vec<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7700]
    #[arg(long, value_name = "ADDR", env = "TERRACE_LISTEN")]
    pub listen: Option<String>,
    /// The database: sqlite://PATH, or postgres://USER:PASS@HOST:PORT/DB for several replicas [default: sqlite://DATA/terrace.db]
    #[arg(long, value_name = "URL", env = "TERRACE_DATABASE")]
    pub database: Option<String>,
    /// A config file (.toml, .yaml or .yml); flags and environment variables win over it
    #[arg(long, value_name = "FILE", env = "TERRACE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Requests running at once on this server, each in its own environment [default: 4]
    #[arg(long, value_name = "N", env = "TERRACE_MAX_RUNS")]
    pub max_runs: Option<usize>,
    /// Drift checks (scheduled plans of `drift:`) running at once on this server; the oldest go first [default: 2]
    #[arg(long, value_name = "N", env = "TERRACE_MAX_DRIFT_CHECKS")]
    pub max_drift_checks: Option<usize>,
    /// Independent jobs of one environment running at once [default: number of CPUs]
    #[arg(long, value_name = "N", env = "TERRACE_PARALLEL")]
    pub parallel: Option<usize>,
    /// Claims of a request before it is marked interrupted (a killed server uses one) [default: 2]
    #[arg(long, value_name = "N", env = "TERRACE_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// A claim's lease, renewed while the request runs [default: 30s]
    #[arg(long, value_name = "DURATION", env = "TERRACE_LEASE")]
    pub lease: Option<String>,
    /// How often the queue is polled without a wake-up [default: 1s]
    #[arg(long, value_name = "DURATION", env = "TERRACE_POLL")]
    pub poll: Option<String>,
    /// On SIGTERM, how long running requests may go on [default: 60s]
    #[arg(long, value_name = "DURATION", env = "TERRACE_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<String>,
    /// Between SIGTERM and SIGKILL when a job is stopped [default: 10s]
    #[arg(long, value_name = "DURATION", env = "TERRACE_KILL_GRACE")]
    pub kill_grace: Option<String>,
    /// Server environment variables jobs may read with ${env:NAME} (comma-separated or repeated) [default: none]
    #[arg(long = "allow-env", value_name = "NAME", env = "TERRACE_ALLOW_ENV", value_delimiter = ',')]
    pub allow_env: Vec<String>,
    /// How long a client may take to send a request's head, from its first byte [default: 10s]
    #[arg(long, value_name = "DURATION", env = "TERRACE_HEADER_TIMEOUT")]
    pub header_timeout: Option<String>,
    /// How long a connection may wait for its next request before it is closed [default: 60s]
    #[arg(long, value_name = "DURATION", env = "TERRACE_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// How long one request may take to be answered, its body included (then 408) [default: 60s]
    #[arg(long, value_name = "DURATION", env = "TERRACE_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// Open connections at most; at the cap the one that waited longest for a request is closed [default: 1024]
    #[arg(long, value_name = "N", env = "TERRACE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Requests per client (its token, else its address): N, N/s, N/min or N/h; 0 for no limit [default: 100/s]
    #[arg(long, value_name = "RATE", env = "TERRACE_RATE_LIMIT")]
    pub rate_limit: Option<String>,
    /// Requests a client may send at once above its rate (then 429 with Retry-After) [default: 200]
    #[arg(long, value_name = "N", env = "TERRACE_RATE_BURST")]
    pub rate_burst: Option<u32>,
    /// The secret GitHub signs webhooks with; POST /hooks/github checks X-Hub-Signature-256 against it
    #[arg(long, value_name = "SECRET", env = "TERRACE_GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub github_webhook_secret: Option<String>,
    /// The token GitLab sends as X-Gitlab-Token to POST /hooks/gitlab
    #[arg(long, value_name = "TOKEN", env = "TERRACE_GITLAB_WEBHOOK_TOKEN", hide_env_values = true)]
    pub gitlab_webhook_token: Option<String>,
    /// The token Terrace calls GitHub's API with (pull-request comments, commit statuses)
    #[arg(long, value_name = "TOKEN", env = "TERRACE_GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    /// The token Terrace calls GitLab's API with
    #[arg(long, value_name = "TOKEN", env = "TERRACE_GITLAB_TOKEN", hide_env_values = true)]
    pub gitlab_token: Option<String>,
    /// GitHub's API base URL [default: https://api.github.com]
    #[arg(long, value_name = "URL", env = "TERRACE_GITHUB_API_URL")]
    pub github_api_url: Option<String>,
    /// GitLab's API base URL [default: https://gitlab.com/api/v4]
    #[arg(long, value_name = "URL", env = "TERRACE_GITLAB_API_URL")]
    pub gitlab_api_url: Option<String>,
    /// The address people reach this server at; pull-request comments and commit statuses
    /// link to runs under it (URL/api/v1/runs/ID) [default: no links]
    #[arg(long, value_name = "URL", env = "TERRACE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The image whose /terrace (a static build) is copied into each Kubernetes pod to
    /// upload its output file [default: terrace-helper:VERSION]
    #[arg(long, value_name = "IMAGE", env = "TERRACE_KUBERNETES_HELPER_IMAGE")]
    pub kubernetes_helper_image: Option<String>,
    /// The address Kubernetes pods reach this server at, to upload output files
    /// [default: --public-url; neither: outputs come back as the termination message]
    #[arg(long, value_name = "URL", env = "TERRACE_KUBERNETES_SERVER_URL")]
    pub kubernetes_server_url: Option<String>,
    /// Print the OpenAPI document and exit
    #[arg(long)]
    pub openapi: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// read, logs, masked outputs
    Viewer,
    /// viewer + events, cancel, secrets
    Operator,
    /// operator + tokens, reveal, audit log
    Admin,
}

pub const AGENT_HELP: &str = "\
Examples:
  terrace token create --pool builds --name builds-1 --data /srv/terrace   (on the server's host: prints the token)
  TERRACE_AGENT_TOKEN=trc_... terrace agent --server https://terrace.example.com --pool builds

A job (or an environment) with `pool: builds` runs on the agents of that pool: each step is pulled by one
agent (a long poll: the agent needs no inbound port), run in a fresh folder with the agent's local executor,
its log sent masked, its lease renewed. An agent that stops renewing (killed, cut off) loses the step once its
lease (the server's --lease) expires: the attempt fails, `max_restarts` may run it again on another agent, and
whatever the stale agent still sends for it is refused.";

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The pool whose steps this agent runs (its token's pool)
    #[arg(long, value_name = "NAME")]
    pub pool: String,
    /// How the server names this agent in runs' logs [default: HOST-PID]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Where steps' folders are made [default: a folder in the system's temporary folder]
    #[arg(long, value_name = "DIR")]
    pub work: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token and print it (once: only its hash is kept)
    #[command(after_help = "With --server (or TERRACE_SERVER) the token is created through the API with an admin \
        TERRACE_TOKEN; otherwise directly on the store (--database, or DATA/terrace.db), e.g. the first admin token.")]
    Create {
        /// What the token may do (an API token)
        #[arg(long, value_enum, required_unless_present = "pool", conflicts_with = "pool")]
        role: Option<RoleArg>,
        /// Make a pool token instead: it lets `terrace agent --pool NAME` pull and report the steps of
        /// that pool, and nothing else (made on the store directly)
        #[arg(long, value_name = "NAME")]
        pool: Option<String>,
        /// A name to recognise it by (letters, digits, - _ . @)
        #[arg(long)]
        name: String,
        /// The server's database, to create the token on the store directly
        #[arg(long, value_name = "URL", env = "TERRACE_DATABASE")]
        database: Option<String>,
    },
    /// List the API tokens (never their secrets)
    List {
        #[arg(long, value_name = "URL", env = "TERRACE_DATABASE")]
        database: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `terrace token list`): it stops working at once
    Revoke {
        id: String,
        #[arg(long, value_name = "URL", env = "TERRACE_DATABASE")]
        database: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Set a secret of the project (every environment reads it) or, with --env, of one
    /// environment (over the project's of that name); the value is read from stdin
    #[command(
        after_help = "Examples:\n  printf %s \"$REGISTRY_TOKEN\" | terrace secret set REGISTRY_TOKEN   every environment\n  \
        printf %s \"$DB_PASSWORD\" | terrace secret set DB_PASSWORD --env prod   prod only, over the project's\n\
        The runs get it where a variable references ${secret:NAME}, masked in every log."
    )]
    Set {
        /// The variable name the jobs see
        name: String,
        /// The environment whose secret it is; without it, the project's
        #[arg(long)]
        env: Option<String>,
    },
    /// The names of the project's secrets or, with --env, of those an environment's runs
    /// read (its own and the project's), each with its scope (never their values)
    List {
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a secret of the project or, with --env, of an environment; the next runs no
    /// longer get it
    Delete {
        name: String,
        #[arg(long)]
        env: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RequestCommand {
    /// Requests, newest first
    List {
        /// Only this environment's
        #[arg(long)]
        env: Option<String>,
        /// queued, running, succeeded, failed, interrupted or cancelled
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One request: its state, runs and outcome
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a request: at once when queued, its jobs stopped when running
    Cancel { id: String },
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// The projects the server knows
    List {
        #[arg(long)]
        json: bool,
    },
    /// A project's environments and jobs
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Register a project: by the absolute path of its folder (or terrace.yaml) on the
    /// server's host, or from a git repository and branch (read at the branch head, and
    /// again on every push the server's webhooks report)
    #[command(
        visible_alias = "add",
        after_help = "Examples:\n  terrace project add /srv/infra\n  terrace project add --git https://github.com/acme/infra.git --branch main\n  terrace project add --git git@gitlab.com:acme/infra.git --branch prod --path deploy\n  terrace project add --git https://github.com/acme/private.git --token-file ~/.config/terrace/gh-token"
    )]
    Register {
        /// Without --git: the folder (or terrace.yaml) on the server's host
        #[arg(required_unless_present = "git", conflicts_with = "git")]
        path: Option<String>,
        /// The repository to read the project from (https://, ssh://, git@host:path, file://)
        #[arg(long, value_name = "URL")]
        git: Option<String>,
        /// The branch the project follows: pushes to it re-read the project and
        /// plan-and-apply the environments with `branch: NAME`
        #[arg(long, requires = "git", default_value = "main")]
        branch: String,
        /// The folder of terrace.yaml inside the repository [default: its root]
        #[arg(long = "path", value_name = "DIR", requires = "git")]
        folder: Option<String>,
        /// A private repository over https: a file holding the token git authenticates with
        /// (kept sealed on the server, never shown again)
        #[arg(long, value_name = "FILE", requires = "git", conflicts_with = "ssh_key_file")]
        token_file: Option<PathBuf>,
        /// A private repository over ssh: a file holding the private key
        #[arg(long, value_name = "FILE", requires = "git")]
        ssh_key_file: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// At most this many entries, newest first
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}
