//! Agents: worker pools beyond this machine, pull only. A job (or environment) that names
//! a `pool` runs on the `agent` executor (`executor.rs`), which queues each step in the
//! store; `terrace agent --pool NAME` processes pull them with a pool token over
//! `/api/v1/agent/...` (`routes.rs`), run them with their own executor, and report their
//! log, lease renewals and end (`protocol.rs`), each fenced by the claim's token.

pub mod executor;
mod handle;
pub mod protocol;
pub mod routes;

pub use executor::AgentExecutor;
