//! The store conformance suite: every test of the `Store` and `ControlStore` traits runs
//! on SQLite (temporary files) and on PostgreSQL (a fresh schema each, when
//! TERRACE_TEST_POSTGRES_URL is set); `files` and `pg_only` test what only one has.

mod agents;
mod applied;
mod approvals;
mod attempts;
mod common;
mod control;
mod deliveries;
mod environments;
mod events;
mod files;
mod import;
mod key_check;
mod last_good;
mod leases;
mod legacy;
mod locks;
mod logs;
mod output_tickets;
mod outputs;
mod pg_only;
mod previews;
mod runs;
mod snapshots;
mod tf_state;
mod timed;
