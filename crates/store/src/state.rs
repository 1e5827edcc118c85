//! Terraform state and saved plans (DESIGN.md "Terraform state and plans"): per project,
//! environment and job, every version of the state is kept, sealed with the master key;
//! one lock per state, held by a run (released when the run ends or is taken back); a
//! saved plan is sealed too and bound to the commit, inputs hash and state version it
//! was made against, so a stale one is refused before it is applied.

use async_trait::async_trait;
use terrace_model::RunId;
use time::OffsetDateTime;

use crate::owner::RunLease;
use crate::store::Result;

/// Which state: one per project, environment and job.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct StateKey {
    pub project: String,
    pub environment: String,
    pub job: String,
}

impl StateKey {
    pub fn new(project: &str, environment: &str, job: &str) -> StateKey {
        StateKey { project: project.into(), environment: environment.into(), job: job.into() }
    }
}

impl std::fmt::Display for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.project, self.environment, self.job)
    }
}

/// One stored version of a state (its body is read apart: it holds secrets).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StateVersion {
    /// 1, 2, ... in the order written.
    pub version: u64,
    /// Terraform's own `serial` and `lineage`, read from the state when it has them.
    pub serial: Option<u64>,
    pub lineage: Option<String>,
    pub size: u64,
    /// Hex SHA-256 of the body.
    pub sha256: String,
    /// The run that wrote it (none for an import).
    pub run_id: Option<RunId>,
    /// `run`, or where an import came from (`import:<path>`).
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Who holds a state's lock: a run, with Terraform's lock info (JSON, no secret).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StateLock {
    pub id: String,
    pub run_id: RunId,
    pub info: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A saved plan to keep: what it was made against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPlan {
    pub key: StateKey,
    pub commit: Option<String>,
    pub inputs_hash: String,
    /// The newest state version when the plan was made (0: no state yet).
    pub state_version: u64,
}

/// A stored plan (its body is read apart).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SavedPlan {
    pub run_id: RunId,
    pub key: StateKey,
    pub commit: Option<String>,
    pub inputs_hash: String,
    pub state_version: u64,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl SavedPlan {
    /// Why the plan may not be applied by a run at `commit` with `inputs_hash` on a state
    /// whose newest version is `current`: `None` when it may.
    pub fn staleness(&self, commit: Option<&str>, inputs_hash: &str, current: u64) -> Option<String> {
        if self.state_version != current {
            return Some(format!(
                "the state has moved since the plan of run {} was made (state version {} then, {current} now): plan again",
                self.run_id, self.state_version
            ));
        }
        if self.commit.as_deref() != commit {
            return Some(format!(
                "the plan of run {} was made at commit {}, not {}: plan again",
                self.run_id,
                self.commit.as_deref().unwrap_or("(none)"),
                commit.unwrap_or("(none)")
            ));
        }
        if self.inputs_hash != inputs_hash {
            return Some(format!(
                "the plan of run {} was made with other inputs (variables, parameters or source): plan again",
                self.run_id
            ));
        }
        None
    }
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Every version of the state, newest first.
    async fn state_versions(&self, key: &StateKey) -> Result<Vec<StateVersion>>;
    /// The newest version (or `version`) with its body, decrypted.
    async fn read_state(&self, key: &StateKey, version: Option<u64>) -> Result<Option<(StateVersion, Vec<u8>)>>;
    /// Writes a new version for the run of `lease`. When the state is locked, only the
    /// holder's `lock_id` may write (else `StoreError::StateLocked`).
    async fn write_state(
        &self,
        lease: &RunLease,
        key: &StateKey,
        lock_id: Option<&str>,
        body: &[u8],
    ) -> Result<StateVersion>;
    /// Stores `body` as the first version, only when the state has none yet (an
    /// existing local state folder, or a data folder moved into a server). Returns the
    /// version written, `None` when the state already had one.
    async fn import_state(&self, key: &StateKey, body: &[u8], source: &str) -> Result<Option<StateVersion>>;
    /// Takes the state's lock for the run of `lease`; `Some(holder)` when another holds it.
    async fn lock_state(
        &self,
        lease: &RunLease,
        key: &StateKey,
        lock_id: &str,
        info: &str,
    ) -> Result<Option<StateLock>>;
    /// Releases the lock `lock_id`; whether it was held.
    async fn unlock_state(&self, key: &StateKey, lock_id: &str) -> Result<bool>;
    async fn state_lock(&self, key: &StateKey) -> Result<Option<StateLock>>;
    /// The states of a project (optionally one environment) that have versions.
    async fn state_keys(&self, project: &str, environment: Option<&str>) -> Result<Vec<StateKey>>;

    /// The token a run presents to Terraform's http backend (with its id as the user):
    /// derived from the master key, so every replica checks it without a stored copy.
    fn state_token(&self, run: RunId) -> String;
    /// Whether `token` is `run`'s state token (the caller still checks the run is active).
    fn check_state_token(&self, run: RunId, token: &str) -> bool;

    /// Keeps the saved plan of the run of `lease`, sealed (a plan holds secrets).
    async fn save_plan(&self, lease: &RunLease, plan: &NewPlan, body: &[u8]) -> Result<SavedPlan>;
    /// The plan saved by `run`, with its body.
    async fn saved_plan(&self, run: RunId) -> Result<Option<(SavedPlan, Vec<u8>)>>;
}
