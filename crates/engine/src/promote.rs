//! Promotion of an artifact version to an environment (seed 003): the version must exist
//! in the registry; the order rule and a rollback's hold are checked; an environment whose
//! `approval` is required gets an approval first; then, one promotion of an environment
//! at a time, the promotion is recorded `started`, the environment's tag is moved through
//! the registry's API (the tag written last), and only then is it recorded done with the
//! pin, the audit entry and the history entry in one transaction. A registry that fails
//! leaves the promotion `failed` and the pin as it was; promoting again finishes it.

use terrace_model::{ArtifactDef, Event, Project};
use terrace_registry::{Client, Credentials, Reference};
use terrace_store::control::ControlStore;
use terrace_store::{
    ApprovalId, ApprovalRecord, NewApproval, NewPromotion, PinRecord, PromotionId, PromotionKind, PromotionRecord,
    PromotionState, Store, StoreError, SubjectKind,
};

use crate::SecretValues;
use crate::lease::hostname;
use crate::store_lock::{self, LockError};

/// How long a promotion waits for another promotion of the same environment and artifact.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Where the version comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A tag of the repository (`--version 0.0.3`).
    Version(String),
    /// What another environment runs (`--from dev`).
    From(String),
    /// The target's previous pin (`--previous`): a rollback.
    Previous,
}

#[derive(Clone, Debug)]
pub struct PromoteRequest {
    pub artifact: String,
    pub to: String,
    pub source: Source,
    /// Overrides the artifact's `order` (recorded on the promotion and audited).
    pub skip_order: bool,
    pub who: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// The request does not fit the project or the pins (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The rule or state refuses it (exit 1).
    #[error("{0}")]
    Refused(String),
    /// The registry failed (the promotion is recorded failed; promote again to finish).
    #[error("{0}")]
    Registry(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of a request.
#[derive(Debug)]
pub enum Promoted {
    AwaitingApproval { promotion: PromotionRecord, approval: Box<ApprovalRecord> },
    Done(PromotionRecord),
}

/// What a promotion approval's subject holds.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PromotionSubject {
    pub promotion_id: PromotionId,
}

pub struct Promoter<'a> {
    pub project: &'a Project,
    pub store: &'a dyn Store,
    pub control: &'a dyn ControlStore,
    /// The secrets of the target environment (`REGISTRY_USERNAME`, `REGISTRY_PASSWORD`,
    /// `${secret:NAME}` of `credentials`).
    pub secrets: &'a SecretValues,
    /// `${env:NAME}` of `credentials`.
    pub env: &'a (dyn Fn(&str) -> Option<String> + Send + Sync),
}

impl Promoter<'_> {
    fn artifact(&self, name: &str) -> Result<&ArtifactDef, PromoteError> {
        self.project.artifacts.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.project.artifacts.keys().map(String::as_str).collect();
            PromoteError::Invalid(format!(
                "artifact `{name}` is not declared in the project file (declared: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
        })
    }

    /// The registry client, with the artifact's credentials when it has any.
    pub fn client(&self, def: &ArtifactDef) -> Result<Client, PromoteError> {
        let registry = def.image.split('/').next().unwrap_or_default().to_string();
        let secret = |name: &str| self.secrets.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let resolve = |text: &str, what: &str| -> Result<String, PromoteError> {
            let missing = |kind: &str, name: &str| {
                PromoteError::Invalid(format!(
                    "`credentials.{what}` of artifact `{}`: {kind} `{name}` is not set",
                    def.name
                ))
            };
            if let Some(name) = text.strip_prefix("${secret:").and_then(|r| r.strip_suffix('}')) {
                return secret(name).ok_or_else(|| missing("secret", name));
            }
            if let Some(name) = text.strip_prefix("${env:").and_then(|r| r.strip_suffix('}')) {
                return (self.env)(name).ok_or_else(|| missing("variable", name));
            }
            Ok(text.to_string())
        };
        let credentials = match &def.credentials {
            Some(c) => Some((resolve(&c.username, "username")?, resolve(&c.password, "password")?)),
            None => secret("REGISTRY_USERNAME").zip(secret("REGISTRY_PASSWORD")),
        };
        let mut builder = Client::builder();
        if let Some((user, password)) = credentials {
            builder = builder.credentials(registry, Credentials::basic(user, password));
        }
        builder.build().map_err(|e| PromoteError::Registry(e.to_string()))
    }

    fn reference(def: &ArtifactDef, at: &str) -> Result<Reference, PromoteError> {
        let text = if at.contains(':') && at.starts_with("sha") {
            format!("{}@{at}", def.image)
        } else {
            format!("{}:{at}", def.image)
        };
        Reference::parse(&text).map_err(|e| PromoteError::Invalid(e.to_string()))
    }

    fn pin<'p>(pins: &'p [PinRecord], artifact: &str) -> Option<&'p PinRecord> {
        pins.iter().find(|p| p.artifact == artifact)
    }

    /// Checks the request, resolves the version to its digest, and either records an
    /// approval (the environment requires one) or promotes at once.
    pub async fn request(&self, req: &PromoteRequest) -> Result<Promoted, PromoteError> {
        let def = self.artifact(&req.artifact)?;
        let Some(env_def) = self.project.environment(&req.to) else {
            return Err(PromoteError::Invalid(self.project.unknown_environment(&req.to)));
        };
        let target_pins = self.store.artifact_pins(&self.project.name, &req.to).await?;
        let current = Self::pin(&target_pins, &req.artifact);
        let (version, at, from_env, kind) = match &req.source {
            Source::Version(v) => (v.clone(), v.clone(), None, PromotionKind::Promote),
            Source::From(env) => {
                let pins = self.store.artifact_pins(&self.project.name, env).await?;
                let Some(pin) = Self::pin(&pins, &req.artifact) else {
                    return Err(PromoteError::Refused(format!(
                        "environment `{env}` runs no version of `{}` yet: promote one to it first",
                        req.artifact
                    )));
                };
                if let Some(held) = current.filter(|c| c.held) {
                    return Err(PromoteError::Refused(format!(
                        "`{}` in `{}` was rolled back to {} by {}: a promotion from `{env}` does not replace a rollback; \
                         name the version to replace it (`terrace promote {} --version {} --to {}`)",
                        req.artifact, req.to, held.version, held.updated_by, req.artifact, pin.version, req.to
                    )));
                }
                (pin.version.clone(), pin.digest.clone(), Some(env.clone()), PromotionKind::Promote)
            }
            Source::Previous => {
                let Some((v, d)) = current.and_then(|c| c.previous_version.clone().zip(c.previous_digest.clone()))
                else {
                    return Err(PromoteError::Refused(format!(
                        "`{}` in `{}` has no previous version to go back to",
                        req.artifact, req.to
                    )));
                };
                (v, d, None, PromotionKind::Rollback)
            }
        };
        let client = self.client(def)?;
        let source = Self::reference(def, &at)?;
        let descriptor = client.resolve(&source).await.map_err(|e| match e.retryable() {
            true => PromoteError::Registry(format!("cannot check that {source} exists: {e}")),
            false => {
                PromoteError::Refused(format!("version `{version}` of `{}` cannot be promoted: {e}", req.artifact))
            }
        })?;
        let digest = descriptor.digest.to_string();
        if kind == PromotionKind::Promote && !req.skip_order {
            self.check_order(def, &req.to, &digest, &version).await?;
        }
        let promotion = NewPromotion {
            id: PromotionId::new(),
            project: self.project.name.clone(),
            artifact: req.artifact.clone(),
            from_env,
            to_env: req.to.clone(),
            version: version.clone(),
            digest,
            old_version: current.map(|c| c.version.clone()),
            old_digest: current.map(|c| c.digest.clone()),
            kind,
            skip_order: req.skip_order,
            state: PromotionState::AwaitingApproval,
            requested_by: req.who.clone(),
        };
        if env_def.approval.required {
            let promotion = self.store.create_promotion(promotion).await?;
            let what = match kind {
                PromotionKind::Promote => "promote",
                PromotionKind::Rollback => "roll back",
            };
            let approval = self
                .control
                .create_approval(NewApproval {
                    id: ApprovalId::new(),
                    project: self.project.name.clone(),
                    environment: req.to.clone(),
                    subject_kind: SubjectKind::Promotion,
                    subject_id: Some(promotion.id.to_string()),
                    subject: serde_json::to_value(PromotionSubject { promotion_id: promotion.id }).unwrap_or_default(),
                    summary: format!("{what} `{}` {version} to `{}`", req.artifact, req.to),
                    requested_by: req.who.clone(),
                    distinct_approver: env_def.approval.distinct_approver,
                })
                .await?;
            return Ok(Promoted::AwaitingApproval { promotion, approval: Box::new(approval) });
        }
        let promotion =
            self.store.create_promotion(NewPromotion { state: PromotionState::Started, ..promotion }).await?;
        self.run(promotion.id).await.map(Promoted::Done)
    }

    /// The order rule: a version reaches an environment of `order` only after the one before.
    async fn check_order(&self, def: &ArtifactDef, to: &str, digest: &str, version: &str) -> Result<(), PromoteError> {
        let Some(i) = def.order.iter().position(|e| e == to) else { return Ok(()) };
        let Some(before) = i.checked_sub(1).map(|b| &def.order[b]) else { return Ok(()) };
        if self.store.was_promoted(&self.project.name, before, &def.name, digest).await? {
            return Ok(());
        }
        Err(PromoteError::Refused(format!(
            "version {version} of `{}` was never promoted to `{before}`, which comes before `{to}` in its `order` ({}); \
             promote it there first, or pass --skip-order (recorded in the audit log)",
            def.name,
            def.order.join(" → ")
        )))
    }

    /// Moves the tag and records the promotion done (it must be `started` or awaiting an
    /// approval that was given). One promotion of an environment and artifact at a time,
    /// across every process and replica on the store (a lock of the store, under a lease).
    pub async fn run(&self, id: PromotionId) -> Result<PromotionRecord, PromoteError> {
        let p = self
            .store
            .get_promotion(id)
            .await?
            .ok_or_else(|| PromoteError::Invalid(format!("promotion {id} not found")))?;
        let name = format!("promote:{}/{}/{}", self.project.name, p.to_env, p.artifact);
        let holder = format!("promotion {id} by {} on {} (pid {})", p.requested_by, hostname(), std::process::id());
        store_lock::with_lock(self.store, &name, &holder, LOCK_WAIT, self.run_locked(p)).await.map_err(|e| match e {
            LockError::Store(e) => PromoteError::Store(e),
            other => PromoteError::Refused(format!("promotion {id}: {other}; promote again to finish it")),
        })?
    }

    async fn run_locked(&self, p: PromotionRecord) -> Result<PromotionRecord, PromoteError> {
        let id = p.id;
        // Read again under the lock: a retry of this very promotion may have finished it.
        let p = self.store.get_promotion(id).await?.unwrap_or(p);
        if p.state == PromotionState::Done {
            return Ok(p);
        }
        if p.state != PromotionState::Started {
            self.store.set_promotion_state(id, PromotionState::Started, None).await?;
        }
        let def = self.artifact(&p.artifact)?;
        let client = self.client(def)?;
        let source = Self::reference(def, &p.digest)?;
        let tag = def.tag_for(&p.to_env);
        if let Err(e) = client.retag(&source, &tag).await {
            let reason = format!("cannot move {}:{tag} to {}: {e}; promote again to finish", def.image, p.digest);
            self.store.set_promotion_state(id, PromotionState::Failed, Some(&reason)).await?;
            return Err(PromoteError::Registry(reason));
        }
        let env = self.store.ensure_environment(&self.project.name, &p.to_env).await?;
        let message = match p.kind {
            PromotionKind::Promote => format!(
                "{} {} ({}) promoted to `{}`{} by {}",
                p.artifact,
                p.version,
                p.digest,
                p.to_env,
                p.from_env.as_deref().map(|f| format!(" from `{f}`")).unwrap_or_default(),
                p.requested_by
            ),
            PromotionKind::Rollback => {
                format!(
                    "{} rolled back to {} ({}) in `{}` by {}",
                    p.artifact, p.version, p.digest, p.to_env, p.requested_by
                )
            }
        };
        self.store.finish_promotion(id, env.id, &message).await?;
        Ok(self.store.get_promotion(id).await?.unwrap_or(p))
    }

    /// The jobs of `env` that consume `artifact`, each with what a promotion runs: its
    /// `commands.redeploy` when written, else its `start` (if it runs on start).
    pub fn consumers(&self, env: &str, artifact: &str) -> Vec<(String, Event)> {
        consumers(self.project, env, artifact)
    }
}

/// The jobs of `env` that consume `artifact` and what a promotion runs of each: `redeploy`
/// when the job has `commands.redeploy`, else `start` when it runs on start.
pub fn consumers(project: &Project, env: &str, artifact: &str) -> Vec<(String, Event)> {
    project
        .jobs_for(env)
        .into_iter()
        .filter(|(_, j)| j.artifacts.iter().any(|a| a == artifact))
        .filter_map(|(name, j)| match j.commands.contains_key(&Event::Redeploy) {
            true => Some((name, Event::Redeploy)),
            false => j.runs_on(Event::Start).then_some((name, Event::Start)),
        })
        .collect()
}
