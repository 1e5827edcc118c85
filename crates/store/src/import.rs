//! Records copied in from another store (a local data folder moved into a server's, by
//! `terrace import`): each written with its ids, numbers and times as they were, and only
//! when absent, so an import run again adds only what is new. Secrets (sensitive outputs,
//! the store's own secrets) are opened with the source's master key by the source and
//! sealed again with this store's.

use async_trait::async_trait;
use terrace_model::EnvironmentId;

use crate::records::{AttemptRecord, EnvironmentRecord, RunRecord, StoredLogLine, StoredOutput};
use crate::state::{StateKey, StateVersion};
use crate::store::Result;

/// A secret of the store (`terrace secret set`) on its way from one store to another:
/// opened with the source's master key, sealed with the destination's. Its `Debug`
/// shows the scope and name, never the value.
#[derive(Clone)]
pub struct MovedSecret {
    /// The scope: the environment's name, or `None` for a project-scope secret.
    pub environment: Option<String>,
    pub name: String,
    pub value: String,
    pub updated_by: String,
    pub updated_at: time::OffsetDateTime,
}

impl std::fmt::Debug for MovedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MovedSecret")
            .field("environment", &self.environment)
            .field("name", &self.name)
            .field("value", &"***")
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait ImportStore: Send + Sync {
    /// The environment with its id, state and times; false when the store has it already
    /// (by id) or has another environment of that project and name.
    async fn import_environment(&self, env: &EnvironmentRecord) -> Result<bool>;
    /// A finished run with its attempts and log (its pipeline is not kept: `pipeline_id`
    /// is left empty); false when the store has a run with its id. The environment's run
    /// counter moves past the run's number.
    async fn import_run(&self, run: &RunRecord, attempts: &[AttemptRecord], log: &[StoredLogLine]) -> Result<bool>;
    /// Outputs of the environment (their runs imported first); those it has already are
    /// kept. Returns how many were written.
    async fn import_outputs(&self, env: EnvironmentId, outputs: &[StoredOutput]) -> Result<u64>;
    /// What the environment applied (its runs imported first); jobs it has a record of
    /// already keep theirs. Returns how many were written.
    async fn import_applied(&self, env: EnvironmentId, applied: &[crate::AppliedJob]) -> Result<u64>;
    /// The source snapshots the imported records refer to (imported first), each once by
    /// hash. Returns how many were written.
    async fn import_snapshots(&self, snapshots: &[crate::SourceSnapshot]) -> Result<u64>;
    /// Every secret of `project` (each scope), opened with this store's key: what an
    /// import from this store moves.
    async fn secrets_to_move(&self, project: &str) -> Result<Vec<MovedSecret>>;
    /// Secrets of `project`, sealed with this store's key; a secret it has already (same
    /// scope and name) keeps its value. Returns how many were written.
    async fn import_secrets(&self, project: &str, secrets: &[MovedSecret]) -> Result<u64>;
    /// Every version of a state, oldest first, when the store has none of it; false when
    /// it has.
    async fn import_state_versions(&self, key: &StateKey, versions: &[(StateVersion, Vec<u8>)]) -> Result<bool>;
}
