//! Integration tests of `SqliteStore` through the `Store` trait, on temporary files.
//! One module per part of the trait; `common` builds stores and records.

mod attempts;
mod common;
mod environments;
mod events;
mod files;
mod logs;
mod outputs;
mod runs;
