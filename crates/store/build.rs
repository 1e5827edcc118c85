//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the PostgreSQL
//! files at compile time and cargo does not see them otherwise (the SQLite ones are
//! `include_str!`ed, which cargo tracks).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
