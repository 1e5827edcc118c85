//! The server's settings, layered: command-line flags over `TERRACE_*` environment
//! variables (both merged by the CLI into one `ConfigLayer`) over an optional config
//! file (TOML or YAML, by extension) over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("`{key}`: {message}")]
    Value { key: &'static str, message: String },
}

/// One layer of settings; `None` leaves the value to the layer below.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// Address to listen on, e.g. 127.0.0.1:7700.
    pub listen: Option<String>,
    /// `sqlite://PATH`, or `postgres://USER:PASS@HOST:PORT/DB` for several replicas.
    pub database: Option<String>,
    /// Work folders, locks and the master key [default: .terrace/ beside the first project].
    pub data: Option<PathBuf>,
    /// Project files (or folders holding terrace.yaml) registered at start.
    pub projects: Option<Vec<PathBuf>>,
    /// Requests running at once on this server.
    pub max_runs: Option<usize>,
    /// Drift checks running at once (of all projects); the ones checked longest ago go first.
    #[serde(alias = "max-drift-checks")]
    pub max_drift_checks: Option<usize>,
    /// Independent jobs of one environment running at once.
    pub parallel: Option<usize>,
    /// Claims of a request before it is given up (a killed server uses one).
    pub max_attempts: Option<u32>,
    /// Durations, as `30s`, `2m`.
    pub lease: Option<String>,
    pub poll: Option<String>,
    pub shutdown_grace: Option<String>,
    pub kill_grace: Option<String>,
    /// Names of the server's environment variables that `${env:NAME}` may read (and a
    /// job's `passthrough` may inherit); no other reaches a job.
    pub allow_env: Option<Vec<String>>,
    /// How long a client may take to send a request's head, from its first byte.
    pub header_timeout: Option<String>,
    /// How long a connection may wait for its next request (keep-alive) before it is closed.
    pub idle_timeout: Option<String>,
    /// How long one request may take to be answered (reading its body included).
    pub request_timeout: Option<String>,
    /// Open connections at most; beyond, the one that waited longest for a request is closed.
    pub max_connections: Option<usize>,
    /// Requests per client (token, or address without one): `N`, `N/s`, `N/min`, `N/h`; `0` is no limit.
    pub rate_limit: Option<String>,
    /// Requests a client may send at once above its rate.
    pub rate_burst: Option<u32>,
    /// The secret GitHub signs webhook deliveries with (`X-Hub-Signature-256`).
    #[serde(alias = "github-webhook-secret")]
    pub github_webhook_secret: Option<String>,
    /// The token GitLab sends with webhook deliveries (`X-Gitlab-Token`).
    #[serde(alias = "gitlab-webhook-token")]
    pub gitlab_webhook_token: Option<String>,
    /// The token Terrace calls GitHub's API with (PR comments, commit statuses).
    #[serde(alias = "github-token")]
    pub github_token: Option<String>,
    /// The token Terrace calls GitLab's API with.
    #[serde(alias = "gitlab-token")]
    pub gitlab_token: Option<String>,
    /// GitHub's API [default: https://api.github.com].
    #[serde(alias = "github-api-url")]
    pub github_api_url: Option<String>,
    /// GitLab's API [default: https://gitlab.com/api/v4].
    #[serde(alias = "gitlab-api-url")]
    pub gitlab_api_url: Option<String>,
    /// The address people reach this server at (`https://terrace.example.com`): pull-request
    /// comments and commit statuses link to runs under it. Unset: no links.
    #[serde(alias = "public-url")]
    pub public_url: Option<String>,
    /// The kubernetes executor: how its pods send their output files back.
    pub kubernetes: Option<KubernetesLayer>,
}

/// The config file's `kubernetes:` section (flags `--kubernetes-*`, `TERRACE_KUBERNETES_*`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesLayer {
    /// The image whose `/terrace` (a static build) an init container copies into each pod
    /// to wrap the job's program [default: terrace-helper:VERSION].
    #[serde(alias = "helper-image")]
    pub helper_image: Option<String>,
    /// The address pods reach this server at [default: `public_url`]. Unset (and no
    /// `public_url`): outputs come back as the termination message (4 KiB).
    #[serde(alias = "server-url")]
    pub server_url: Option<String>,
}

impl KubernetesLayer {
    fn over(self, lower: KubernetesLayer) -> KubernetesLayer {
        KubernetesLayer {
            helper_image: self.helper_image.or(lower.helper_image),
            server_url: self.server_url.or(lower.server_url),
        }
    }
}

impl ConfigLayer {
    /// This layer, with `lower` filling what it leaves unset.
    pub fn over(self, lower: ConfigLayer) -> ConfigLayer {
        ConfigLayer {
            listen: self.listen.or(lower.listen),
            database: self.database.or(lower.database),
            data: self.data.or(lower.data),
            projects: self.projects.filter(|p| !p.is_empty()).or(lower.projects),
            max_runs: self.max_runs.or(lower.max_runs),
            max_drift_checks: self.max_drift_checks.or(lower.max_drift_checks),
            parallel: self.parallel.or(lower.parallel),
            max_attempts: self.max_attempts.or(lower.max_attempts),
            lease: self.lease.or(lower.lease),
            poll: self.poll.or(lower.poll),
            shutdown_grace: self.shutdown_grace.or(lower.shutdown_grace),
            kill_grace: self.kill_grace.or(lower.kill_grace),
            allow_env: self.allow_env.filter(|names| !names.is_empty()).or(lower.allow_env),
            header_timeout: self.header_timeout.or(lower.header_timeout),
            idle_timeout: self.idle_timeout.or(lower.idle_timeout),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            max_connections: self.max_connections.or(lower.max_connections),
            rate_limit: self.rate_limit.or(lower.rate_limit),
            rate_burst: self.rate_burst.or(lower.rate_burst),
            github_webhook_secret: self.github_webhook_secret.or(lower.github_webhook_secret),
            gitlab_webhook_token: self.gitlab_webhook_token.or(lower.gitlab_webhook_token),
            github_token: self.github_token.or(lower.github_token),
            gitlab_token: self.gitlab_token.or(lower.gitlab_token),
            github_api_url: self.github_api_url.or(lower.github_api_url),
            gitlab_api_url: self.gitlab_api_url.or(lower.gitlab_api_url),
            public_url: self.public_url.or(lower.public_url),
            kubernetes: match (self.kubernetes, lower.kubernetes) {
                (Some(top), Some(lower)) => Some(top.over(lower)),
                (top, lower) => top.or(lower),
            },
        }
    }

    /// Reads a config file: `.toml`, or `.yaml`/`.yml`.
    pub fn from_file(path: &Path) -> Result<ConfigLayer, ConfigError> {
        let err = |message: String| ConfigError::File { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => toml::from_str(&text).map_err(|e| err(e.to_string())),
            Some("yaml" | "yml") => serde_yaml_ng::from_str(&text).map_err(|e| err(e.to_string())),
            _ => Err(err("use a .toml, .yaml or .yml file".into())),
        }
    }
}

/// The resolved settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database: Database,
    pub data_dir: PathBuf,
    pub projects: Vec<PathBuf>,
    pub max_runs: usize,
    pub max_drift_checks: usize,
    pub parallel: usize,
    pub max_attempts: u32,
    pub lease: Duration,
    pub poll: Duration,
    pub shutdown_grace: Duration,
    pub kill_grace: Duration,
    pub allow_env: Vec<String>,
    pub http: HttpLimits,
    pub forges: Forges,
    pub kubernetes: Kubernetes,
}

/// GitHub and GitLab: the webhooks' secrets and the API clients' tokens and base URLs.
/// Its `Debug` never shows a secret.
#[derive(Clone, Default)]
pub struct Forges {
    pub github_webhook_secret: Option<String>,
    pub gitlab_webhook_token: Option<String>,
    pub github_token: Option<String>,
    pub gitlab_token: Option<String>,
    pub github_api_url: String,
    pub gitlab_api_url: String,
    /// Where links to runs point (no trailing `/`); `None`: comments and statuses carry none.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for Forges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "***" } else { "unset" };
        f.debug_struct("Forges")
            .field("github_webhook_secret", &set(&self.github_webhook_secret))
            .field("gitlab_webhook_token", &set(&self.gitlab_webhook_token))
            .field("github_token", &set(&self.github_token))
            .field("gitlab_token", &set(&self.gitlab_token))
            .field("github_api_url", &self.github_api_url)
            .field("gitlab_api_url", &self.gitlab_api_url)
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// The kubernetes executor's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kubernetes {
    pub helper_image: String,
    /// Where pods upload output files (`…/api/v1/runs/RUN/attempts/N/output` under it);
    /// `None`: they come back as the termination message.
    pub server_url: Option<String>,
}

pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_GITLAB_API_URL: &str = "https://gitlab.com/api/v4";

/// A base URL: http(s), no credentials in it.
fn api_url(key: &'static str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let url = value.map(|v| v.trim().trim_end_matches('/').to_string()).unwrap_or_else(|| default.to_string());
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.split('/').next().unwrap_or("").contains('@') => Ok(url),
        _ => Err(ConfigError::Value {
            key,
            message: "give an http(s) base URL without credentials, e.g. https://api.github.com or https://terrace.example.com".into(),
        }),
    }
}

/// A secret setting: empty means unset.
fn secret(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// What a client may hold and send: the server's defence against being taken down
/// without a token (slow or idle connections, floods).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// None: no per-client limit.
    pub rate: Option<Rate>,
}

/// `requests` per `per`, with `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
    pub burst: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            rate: Some(Rate { requests: 100, per: Duration::from_secs(1), burst: 200 }),
        }
    }
}

/// `N`, `N/s`, `N/min` or `N/h` requests; `0` or `off` for none.
fn rate(value: Option<String>, burst: Option<u32>) -> Result<Option<Rate>, ConfigError> {
    let default = HttpLimits::default().rate;
    let Some(text) = value else {
        return Ok(default.map(|r| Rate { burst: burst.unwrap_or(r.burst), ..r }));
    };
    let bad = || ConfigError::Value {
        key: "rate_limit",
        message: format!("`{text}` is not a rate like 100, 100/s, 600/min or 0 (no limit)"),
    };
    let (count, unit) = text.trim().split_once('/').unwrap_or((text.trim(), "s"));
    if count == "off" {
        return Ok(None);
    }
    let requests: u32 = count.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return Err(bad()),
    };
    if requests == 0 {
        return Ok(None);
    }
    let burst = positive("rate_burst", burst, requests)?;
    Ok(Some(Rate { requests, per, burst }))
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7700";

fn duration(key: &'static str, value: Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => humantime::parse_duration(&v)
            .map_err(|e| ConfigError::Value { key, message: format!("`{v}` is not a duration like 30s or 2m: {e}") }),
    }
}

/// Variable names only, and never Terrace's own (`TERRACE_MASTER_KEY` must not reach a job).
fn allow_env(names: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let names: Vec<String> =
        names.unwrap_or_default().into_iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
    for name in &names {
        let message = if !terrace_model::names::is_valid_variable_name(name) {
            format!(
                "`{}` is not a variable name (letters, digits and `_`, not starting with a digit)",
                terrace_model::names::clip(name)
            )
        } else if name.starts_with("TERRACE_") {
            format!("`{name}` is Terrace's own setting and never reaches a job; list only the variables jobs need")
        } else {
            continue;
        };
        return Err(ConfigError::Value { key: "allow_env", message });
    }
    Ok(names)
}

/// A duration that must not be zero (a zero timeout would close every connection).
fn nonzero(key: &'static str, value: Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    let d = duration(key, value, default)?;
    if d.is_zero() { Err(ConfigError::Value { key, message: "must be longer than 0s".into() }) } else { Ok(d) }
}

fn positive<T: PartialOrd + From<u8>>(key: &'static str, value: Option<T>, default: T) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    if v < T::from(1) { Err(ConfigError::Value { key, message: "must be at least 1".into() }) } else { Ok(v) }
}

/// Where the server's store lives, picked by the URL's scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file: one server (the default).
    Sqlite(PathBuf),
    /// A PostgreSQL URL: any number of replicas share it.
    Postgres(String),
}

impl Database {
    /// `postgres://...`, `postgresql://...`, `sqlite://PATH`, `sqlite:PATH` or a bare path.
    pub fn parse(url: &str) -> Result<Database, ConfigError> {
        database_url(url)
    }

    /// The SQLite file, if that is the store.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

/// `postgres://...` or `postgresql://...`; `sqlite://PATH`, `sqlite:PATH` or a bare path.
fn database_url(url: &str) -> Result<Database, ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Database::Postgres(url.to_string()));
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    if path.is_empty() {
        return Err(ConfigError::Value {
            key: "database",
            message: "give a file: sqlite:///var/lib/terrace/terrace.db, or a postgres:// URL".into(),
        });
    }
    Ok(Database::Sqlite(PathBuf::from(path)))
}

impl ServerConfig {
    /// Resolves `top` (flags and environment) over the file (when given) over defaults.
    pub fn resolve(top: ConfigLayer, file: Option<&Path>) -> Result<ServerConfig, ConfigError> {
        let layer = match file {
            Some(path) => top.over(ConfigLayer::from_file(path)?),
            None => top,
        };
        let listen_text = layer.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().map_err(|_| ConfigError::Value {
            key: "listen",
            message: format!("`{listen_text}` is not an address like 127.0.0.1:7700"),
        })?;
        let projects = layer.projects.unwrap_or_default();
        // As in local mode: `.terrace/` beside the (first) project file, so both share state.
        let data_dir = layer.data.unwrap_or_else(|| match projects.first() {
            Some(p) if p.extension().is_some_and(|e| e == "yaml" || e == "yml") => {
                p.parent().unwrap_or(Path::new(".")).join(".terrace")
            }
            Some(p) => p.join(".terrace"),
            None => PathBuf::from(".terrace"),
        });
        // Absolute once, here: jobs run in their own working copies (a relative data folder
        // would make a parameters file's path point nowhere for them).
        let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
        let database = match layer.database {
            Some(url) => database_url(&url)?,
            None => Database::Sqlite(data_dir.join("terrace.db")),
        };
        let kubernetes = layer.kubernetes.unwrap_or_default();
        let public_url = match secret(layer.public_url) {
            Some(url) => Some(api_url("public_url", Some(url), "")?),
            None => None,
        };
        let kubernetes = Kubernetes {
            helper_image: match kubernetes.helper_image.map(|i| i.trim().to_string()) {
                Some(image) if image.is_empty() || image.chars().any(char::is_whitespace) => {
                    return Err(ConfigError::Value {
                        key: "kubernetes.helper_image",
                        message: format!(
                            "`{image}` is not an image reference like registry.example.com/terrace-helper:1"
                        ),
                    });
                }
                Some(image) => image,
                None => terrace_exec::kubernetes::upload::default_helper_image(),
            },
            server_url: match secret(kubernetes.server_url) {
                Some(url) => Some(api_url("kubernetes.server_url", Some(url), "")?),
                None => public_url.clone(),
            },
        };
        let defaults = HttpLimits::default();
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(ServerConfig {
            listen,
            database,
            data_dir,
            projects,
            max_runs: positive("max_runs", layer.max_runs, 4)?,
            max_drift_checks: positive("max_drift_checks", layer.max_drift_checks, 2)?,
            parallel: positive("parallel", layer.parallel, cpus)?,
            max_attempts: positive("max_attempts", layer.max_attempts, 2)?,
            lease: duration("lease", layer.lease, Duration::from_secs(30))?,
            poll: duration("poll", layer.poll, Duration::from_secs(1))?,
            shutdown_grace: duration("shutdown_grace", layer.shutdown_grace, Duration::from_secs(60))?,
            kill_grace: duration("kill_grace", layer.kill_grace, Duration::from_secs(10))?,
            allow_env: allow_env(layer.allow_env)?,
            http: HttpLimits {
                header_timeout: nonzero("header_timeout", layer.header_timeout, defaults.header_timeout)?,
                idle_timeout: nonzero("idle_timeout", layer.idle_timeout, defaults.idle_timeout)?,
                request_timeout: nonzero("request_timeout", layer.request_timeout, defaults.request_timeout)?,
                max_connections: positive("max_connections", layer.max_connections, defaults.max_connections)?,
                rate: rate(layer.rate_limit, layer.rate_burst)?,
            },
            forges: Forges {
                github_webhook_secret: secret(layer.github_webhook_secret),
                gitlab_webhook_token: secret(layer.gitlab_webhook_token),
                github_token: secret(layer.github_token),
                gitlab_token: secret(layer.gitlab_token),
                github_api_url: api_url("github_api_url", layer.github_api_url, DEFAULT_GITHUB_API_URL)?,
                gitlab_api_url: api_url("gitlab_api_url", layer.gitlab_api_url, DEFAULT_GITLAB_API_URL)?,
                public_url,
            },
            kubernetes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_section_defaults_to_the_public_url_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.toml");
        std::fs::write(
            &file,
            "public_url = \"https://terrace.example.com/\"\n[kubernetes]\nhelper_image = \"reg.example/helper:1\"\n",
        )
        .unwrap();
        let c = ServerConfig::resolve(ConfigLayer::default(), Some(&file)).unwrap();
        assert_eq!(c.kubernetes.helper_image, "reg.example/helper:1");
        assert_eq!(c.kubernetes.server_url.as_deref(), Some("https://terrace.example.com"), "the public URL");
        let top = ConfigLayer {
            kubernetes: Some(KubernetesLayer {
                server_url: Some("http://terrace.svc:7700".into()),
                helper_image: None,
            }),
            ..Default::default()
        };
        let c = ServerConfig::resolve(top, Some(&file)).unwrap();
        assert_eq!(c.kubernetes.server_url.as_deref(), Some("http://terrace.svc:7700"));
        assert_eq!(c.kubernetes.helper_image, "reg.example/helper:1", "the file fills what the flags leave");
        let none = ServerConfig::resolve(ConfigLayer::default(), None).unwrap();
        assert_eq!(none.kubernetes.server_url, None, "no address: the termination message");
        assert!(none.kubernetes.helper_image.starts_with("terrace-helper:"));
        let bad = ConfigLayer {
            kubernetes: Some(KubernetesLayer { helper_image: Some("two words".into()), server_url: None }),
            ..Default::default()
        };
        let err = ServerConfig::resolve(bad, None).unwrap_err().to_string();
        assert!(err.starts_with("`kubernetes.helper_image`: "), "{err}");
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_runs = 7\nlease = \"5s\"\n").unwrap();
        let top = ConfigLayer { max_runs: Some(2), ..Default::default() };
        let c = ServerConfig::resolve(top, Some(&file)).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.max_runs, 2);
        assert_eq!(c.lease, Duration::from_secs(5));
        assert_eq!(c.max_attempts, 2);
    }

    #[test]
    fn forge_settings_take_the_contract_names_in_files_and_hide_their_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.yaml");
        std::fs::write(
            &file,
            "github-webhook-secret: s3cr3t-hook\ngitlab-webhook-token: gl-tok\ngithub-token: ghp_x\n\
             gitlab-token: glpat_y\ngithub-api-url: http://127.0.0.1:9/\ngitlab-api-url: http://127.0.0.1:9/api/v4\n",
        )
        .unwrap();
        let forges = ServerConfig::resolve(ConfigLayer::default(), Some(&file)).unwrap().forges;
        assert_eq!(forges.github_webhook_secret.as_deref(), Some("s3cr3t-hook"));
        assert_eq!(forges.gitlab_token.as_deref(), Some("glpat_y"));
        assert_eq!(forges.github_api_url, "http://127.0.0.1:9");
        assert!(!format!("{forges:?}").contains("s3cr3t-hook"));
        let defaults = ServerConfig::resolve(ConfigLayer::default(), None).unwrap().forges;
        assert_eq!(defaults.github_api_url, DEFAULT_GITHUB_API_URL);
        let bad = ConfigLayer { github_api_url: Some("https://me:pw@api.example.com".into()), ..Default::default() };
        let e = ServerConfig::resolve(bad, None).unwrap_err().to_string();
        assert!(e.starts_with("`github_api_url`") && !e.contains("pw"), "{e}");
    }

    #[test]
    fn yaml_files_and_bad_values_are_reported_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.yaml");
        std::fs::write(&file, "database: sqlite:///tmp/x.db\npoll: soon\n").unwrap();
        let e = ServerConfig::resolve(ConfigLayer::default(), Some(&file)).unwrap_err();
        assert!(e.to_string().starts_with("`poll`"), "{e}");
        std::fs::write(&file, "unknown_key: 1\n").unwrap();
        assert!(ServerConfig::resolve(ConfigLayer::default(), Some(&file)).is_err());
        let pg = ConfigLayer { database: Some("postgres://u@db:5432/terrace".into()), ..Default::default() };
        assert_eq!(
            ServerConfig::resolve(pg, None).unwrap().database,
            Database::Postgres("postgres://u@db:5432/terrace".into())
        );
        let limits = |rate: &str, burst: Option<u32>| {
            let layer = ConfigLayer { rate_limit: Some(rate.into()), rate_burst: burst, ..Default::default() };
            ServerConfig::resolve(layer, None).map(|c| c.http.rate)
        };
        assert_eq!(limits("0", None).unwrap(), None);
        assert_eq!(limits("off", None).unwrap(), None);
        assert_eq!(
            limits("60/min", Some(5)).unwrap(),
            Some(Rate { requests: 60, per: Duration::from_secs(60), burst: 5 })
        );
        assert_eq!(limits("7", None).unwrap(), Some(Rate { requests: 7, per: Duration::from_secs(1), burst: 7 }));
        assert!(limits("many", None).unwrap_err().to_string().starts_with("`rate_limit`"));
        let zero = ConfigLayer { idle_timeout: Some("0s".into()), ..Default::default() };
        assert!(ServerConfig::resolve(zero, None).unwrap_err().to_string().starts_with("`idle_timeout`"));
        let file = ConfigLayer { database: Some("sqlite:///tmp/x.db".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(file, None).unwrap().database, Database::Sqlite("/tmp/x.db".into()));
    }

    #[test]
    fn allow_env_takes_variable_names_but_never_terraces_own() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.toml");
        std::fs::write(&file, "allow_env = [\"AWS_PROFILE\", \"AWS_REGION\"]\n").unwrap();
        let c = ServerConfig::resolve(ConfigLayer::default(), Some(&file)).unwrap();
        assert_eq!(c.allow_env, ["AWS_PROFILE", "AWS_REGION"]);
        let flags = ConfigLayer { allow_env: Some(vec!["HTTP_PROXY".into()]), ..Default::default() };
        assert_eq!(ServerConfig::resolve(flags, Some(&file)).unwrap().allow_env, ["HTTP_PROXY"]);
        assert!(ServerConfig::resolve(ConfigLayer::default(), None).unwrap().allow_env.is_empty());
        for bad in ["TERRACE_MASTER_KEY", "A-B"] {
            let layer = ConfigLayer { allow_env: Some(vec![bad.into()]), ..Default::default() };
            let e = ServerConfig::resolve(layer, None).unwrap_err().to_string();
            assert!(e.starts_with("`allow_env`: `") && e.contains(bad), "{e}");
        }
    }
}
