//! Terrace's pure domain model: the project file, the job graph, events, variable
//! resolution and the output-file contract. Nothing here does IO; every other layer
//! builds on these types.

pub mod applied;
pub mod cron;
pub mod event;
pub mod graph;
pub mod ids;
pub mod log;
pub mod names;
pub mod notify;
pub mod output;
pub mod parse;
pub mod preview;
pub mod project;
pub mod refs;
pub mod resources;
pub mod runtime_env;
pub mod schema;
pub mod vars;

pub use event::Event;
pub use ids::{EnvironmentId, PipelineId, RunId};
pub use project::{
    ApprovalPolicy, ArtifactCredentials, ArtifactDef, Command, EnvironmentDef, GitSource, Job, Project, VariableDef,
};
