//! The docker executor through the real binary on the Docker Engine of this machine.
//! Nothing can be pulled here: every image is built FROM scratch from a static busybox
//! (and the statically linked terraform), by the tests themselves.

#[path = "../common/mod.rs"]
mod common;

mod cancel;
mod debug;
mod errors;
mod image_identity;
mod limits;
mod recovery;
mod seed;
mod support;
mod terraform;
