//! What the engine reports while a pipeline runs, for a terminal, a log or an API stream.

use std::sync::Arc;

use terrace_model::RunId;
use terrace_model::log::LogBatch;
use terrace_store::RunState;

#[derive(Clone, Debug)]
pub enum Progress {
    /// The pipeline's jobs, in display order, before any starts.
    Planned {
        jobs: Vec<String>,
    },
    /// The pipeline is recorded, with what it was asked to do.
    Opened {
        pipeline: terrace_model::PipelineId,
        inputs: Box<terrace_store::PipelineInputs>,
    },
    Started {
        job: String,
        run: RunId,
        /// The run's short form, `<environment>#<number>` (`dev#17`).
        short: String,
        attempt: u32,
    },
    /// Masked log lines of a job, as they were stored.
    Lines {
        job: String,
        batches: Arc<[LogBatch]>,
    },
    Retrying {
        job: String,
        attempt: u32,
        reason: String,
    },
    Finished {
        job: String,
        run: RunId,
        state: RunState,
        reason: Option<String>,
    },
}

/// Receives progress; must not block (it is called from async tasks).
pub trait Observer: Send + Sync {
    fn observe(&self, event: Progress);
}

/// Discards progress.
pub struct Silent;

impl Observer for Silent {
    fn observe(&self, _: Progress) {}
}
