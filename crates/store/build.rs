//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the SQL files
//! at compile time and cargo does not see them otherwise.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
