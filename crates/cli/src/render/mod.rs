//! How results look on a terminal: live progress and tables.

pub mod progress;
pub mod stream;
pub mod table;
pub mod views;
