//! The time half of GitOps end to end, on the real binary: the inputs every pipeline
//! run records, ephemeral environments destroyed by their TTL, cron schedules, drift
//! checks and notifications. Time moves through `TERRACE_CLOCK_OFFSET` (test-only), never
//! through sleeps.

#[path = "../server/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../common/tools.rs"]
mod tools;

mod cron;
mod drift;
mod inputs;
mod listener;
mod notify;
mod ttl;
