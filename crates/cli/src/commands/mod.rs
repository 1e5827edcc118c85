//! One module per command family.

pub mod lifecycle;
pub mod logs;
pub mod outputs;
pub mod runs;
pub mod status;
pub mod template;
pub mod validate;
