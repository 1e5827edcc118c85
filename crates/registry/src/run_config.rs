//! What an image runs when nothing overrides it: the `Entrypoint` and `Cmd` of its config
//! blob, read through the manifest (a multi-platform index first picks the manifest of
//! linux on this host's architecture, else the first linux one). The kubernetes executor
//! needs them to run an image's own program under its wrapper without changing what runs.

use serde::Deserialize;

use crate::auth::repository_scope;
use crate::client::Client;
use crate::error::Error;
use crate::manifest::{Content, Manifest};
use crate::reference::Reference;
use crate::transport::Call;

/// An image's own command: its ENTRYPOINT and CMD (either may be empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// An image config holds its command under `config` (OCI and Docker alike).
#[derive(Deserialize)]
struct ConfigBlob {
    #[serde(default)]
    config: Option<Command>,
}

#[derive(Deserialize)]
struct Command {
    #[serde(rename = "Entrypoint", default)]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    cmd: Option<Vec<String>>,
}

/// An index's entries, with their platform.
#[derive(Deserialize)]
struct Index {
    manifests: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    digest: crate::digest::Digest,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    os: String,
    architecture: String,
}

/// This host's architecture as image platforms name it.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

impl Client {
    /// The ENTRYPOINT and CMD of the image `reference` names.
    pub async fn run_config(&self, reference: &Reference) -> Result<RunConfig, Error> {
        let mut manifest = self.manifest(reference).await?;
        if manifest.is_index() {
            let child = pick(&manifest, reference)?;
            manifest = self.manifest(&reference.repository().digest(child)).await?;
        }
        let what = format!("manifest {reference}");
        let config = match manifest.content().map_err(|source| Error::Manifest { what: what.clone(), source })? {
            Content::Image { config, .. } => config,
            Content::Index { .. } => {
                return Err(protocol(reference, &what, "an index inside an index".into()));
            }
        };
        let repository = reference.repository();
        let url = self.transport.url(repository.registry(), &format!("{}/blobs/{}", repository.path(), config.digest));
        let what = format!("config blob {} of {repository}", config.digest);
        let call = Call::new(
            "GET",
            repository.registry(),
            url,
            what.clone(),
            vec![repository_scope(repository.path(), false)],
        );
        let answer = self.transport.send(&call).await?;
        if answer.status.as_u16() != 200 {
            return Err(self.unexpected(&call, &answer));
        }
        if !config.digest.matches(&answer.body) {
            return Err(protocol(reference, &what, "its bytes do not hash to the digest the manifest names".into()));
        }
        let blob: ConfigBlob = serde_json::from_slice(&answer.body)
            .map_err(|e| protocol(reference, &what, format!("not an image config: {e}")))?;
        let command = blob.config.unwrap_or(Command { entrypoint: None, cmd: None });
        Ok(RunConfig { entrypoint: command.entrypoint.unwrap_or_default(), cmd: command.cmd.unwrap_or_default() })
    }
}

/// The child of an index for linux on this host's architecture, else the first linux one.
fn pick(index: &Manifest, reference: &Reference) -> Result<crate::digest::Digest, Error> {
    let what = format!("manifest {reference}");
    let parsed: Index =
        serde_json::from_slice(index.bytes()).map_err(|e| protocol(reference, &what, format!("not an index: {e}")))?;
    let linux = |e: &&Entry| e.platform.as_ref().is_some_and(|p| p.os == "linux");
    let arch = host_architecture();
    parsed
        .manifests
        .iter()
        .filter(linux)
        .find(|e| e.platform.as_ref().is_some_and(|p| p.architecture == arch))
        .or_else(|| parsed.manifests.iter().find(linux))
        .map(|e| e.digest.clone())
        .ok_or_else(|| protocol(reference, &what, "the index has no linux image".into()))
}

fn protocol(reference: &Reference, what: &str, reason: String) -> Error {
    Error::Protocol { registry: reference.registry().to_string(), method: "GET", what: what.to_string(), reason }
}
