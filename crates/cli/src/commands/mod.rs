//! One module per command family.

pub mod agent;
pub mod approvals;
pub mod attempt_wrap;
pub mod audit;
pub mod debug;
pub mod drift;
pub mod envs;
pub mod import;
pub mod lifecycle;
pub mod logs;
pub mod outputs;
pub mod plan_all;
pub mod previews;
pub mod promote;
pub mod runs;
pub mod server;
pub mod state;
pub mod status;
pub mod template;
pub mod timed;
pub mod token;
pub mod validate;
