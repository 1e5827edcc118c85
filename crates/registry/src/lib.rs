//! `terrace-registry`: the OCI distribution client that promotion uses to check that a
//! version exists and to move an environment's tag to it in a real registry, through the
//! registry's HTTP API (no docker CLI, no layer pulled for a re-tag).
//!
//! # Using it
//!
//! ```no_run
//! # async fn promote() -> Result<(), terrace_registry::Error> {
//! use terrace_registry::{Client, Credentials, Reference};
//!
//! let client = Client::builder()
//!     .credentials("registry.example.com", Credentials::basic("deploy", "secret"))
//!     .build()?;
//! let release = Reference::parse("registry.example.com/library/software:0.0.3")?;
//! // "Does this version exist?": its digest, or an error naming the reference and the
//! // registry's code (MANIFEST_UNKNOWN, NAME_UNKNOWN).
//! let descriptor = client.resolve(&release).await?;
//! // Seed 003's `docker pull; docker tag ...:dev; docker push`, as GET + PUT of the manifest.
//! let report = client.retag(&release, "dev").await?;
//! assert_eq!(report.digest, descriptor.digest);
//! # Ok(()) }
//! ```
//!
//! | item | what it does |
//! |---|---|
//! | [`Repository`], [`Reference`] | `REGISTRY/REPOSITORY[:TAG][@DIGEST]`, parsed with errors that quote the input and the rule; the registry part is mandatory (a host with a `.` or a port, or `localhost`) and `latest` is never assumed |
//! | [`Digest`] | `sha256:`/`sha512:` digests: parse, compute, check bytes |
//! | [`Client::resolve`] / [`Client::exists`] | HEAD a manifest: its [`Descriptor`], or not found |
//! | [`Client::manifest`] | GET a manifest's exact bytes and media type (OCI image/index, Docker schema 2 manifest/list), checked against the reference's digest and `Docker-Content-Digest` |
//! | [`Client::put_manifest`] | PUT those bytes under a tag or digest |
//! | [`Client::retag`] | move a tag of the same repository to a version |
//! | [`Client::copy`] | the same across repositories or registries: child manifests and blobs first (blobs mounted, or streamed when mounting is refused), the tag last |
//! | [`Client::tags`], [`Client::blob_exists`] | list tags (following `Link` pages); HEAD a blob |
//! | [`Client::run_config`] | an image's ENTRYPOINT and CMD, from its config blob (an index: linux on this host's architecture) |
//! | [`Client::round_trips`], [`bench::retag_round_trips`] | HTTP requests sent, for the benchmark |
//!
//! # Behaviour
//!
//! - **Transport**: https with rustls; plain http only for `127.0.0.1`, `localhost` and
//!   `[::1]`. Every call has a timeout ([`ClientBuilder::timeout`], blobs
//!   [`ClientBuilder::blob_timeout`]). Idempotent calls (GET, HEAD, manifest PUT, blob
//!   mount) are retried with doubling backoff on connection errors, timeouts, 429 and 5xx.
//! - **Auth**: anonymous first; on a 401 the `WWW-Authenticate` challenge is answered with
//!   Basic credentials, or with a Bearer token fetched from the challenge's realm (with the
//!   Basic credentials, per the Docker token spec) and cached per registry and scope set;
//!   the call is retried once. Later calls to that registry answer up front. Credentials
//!   and tokens never appear in errors, `Debug` output or logs (only method, path and
//!   status are logged at debug level).
//! - **Errors**: one [`Error`] for operations, naming the registry, the operation and the
//!   object, with the registry's own error codes; [`Error::retryable`] tells a registry that
//!   was away from an answer that will not change. Parsing has [`ReferenceError`],
//!   [`DigestError`], [`ManifestError`]; authentication [`AuthError`].
//! - **Copy order**: the target tag is written last, so an interrupted copy never leaves a
//!   tag on incomplete content, and running it again finishes it (present content is
//!   skipped).
//!
//! # Why hand-written
//!
//! The distribution protocol calls are written here on reqwest rather than taken from an
//! OCI client crate because promotion needs guarantees those crates leave to the caller:
//! the exact manifest bytes kept and digest-checked on every read and write, a retry and
//! timeout policy per call, the token cache keyed by scope set, errors that carry the
//! registry's codes and never a credential, and a round-trip count. Challenge parsing
//! (`http-auth`), Link headers (`parse_link_header`), hashing (`sha2`) and HTTP (`reqwest`)
//! come from crates.

mod auth;
pub mod bench;
mod blobs;
mod client;
mod copy;
mod digest;
mod error;
mod manifest;
mod manifests;
mod reference;
mod run_config;
mod tags;
mod transport;

pub use auth::{AuthError, Challenge, Credentials, parse_challenges};
pub use client::{Client, ClientBuilder};
pub use copy::CopyReport;
pub use digest::{Algorithm, Digest, DigestError};
pub use error::Error;
pub use manifest::{Content, Descriptor, MAX_MANIFEST_BYTES, Manifest, ManifestError, media_type};
pub use reference::{Reference, ReferenceError, Repository};
pub use run_config::RunConfig;
