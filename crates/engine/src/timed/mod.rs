//! The time half: what is due at a given time, decided the same way by a server's
//! scheduler loop and by `terrace tick` in local mode. Each part reads the store, fires
//! what is due through a compare-and-set (so one replica fires it) and returns what to
//! run; the caller runs it (a server queues a request, local mode runs the engine).

pub mod clock;
pub mod drift;
pub mod schedule;
pub mod ttl;

pub use clock::Clock;

use terrace_model::Event;

/// Something due to run: an event of an environment (or one job's force run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub project: String,
    pub environment: String,
    pub event: Event,
    /// A force run of this job (a cron job's `start`).
    pub job: Option<String>,
    /// Who asks: `ttl`, `schedule`, `drift` (the runs' trigger).
    pub trigger: String,
    /// The pipeline command recorded in the runs' inputs (`ephemeral`, `schedule`, `drift`).
    pub command: String,
}
