//! Records copied in from another store (a local data folder moved into a server's, by
//! `terrace import`): each written with its ids, numbers and times as they were, and only
//! when absent, so an import run again adds only what is new. Secrets are opened with the
//! source's master key by the caller and sealed again with this store's.

use async_trait::async_trait;
use terrace_model::EnvironmentId;

use crate::records::{AttemptRecord, EnvironmentRecord, RunRecord, StoredLogLine, StoredOutput};
use crate::state::{StateKey, StateVersion};
use crate::store::Result;

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
    /// Every version of a state, oldest first, when the store has none of it; false when
    /// it has.
    async fn import_state_versions(&self, key: &StateKey, versions: &[(StateVersion, Vec<u8>)]) -> Result<bool>;
}
