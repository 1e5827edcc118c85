//! Manifests as the registry served them: the exact bytes, their media type and digest,
//! and the descriptors they point at (an index's child manifests, an image's config and
//! layers). The bytes are never re-serialized: a re-tag must keep the digest.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The manifest media types this client asks for and copies.
pub mod media_type {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Layers that live outside the registry (Windows base layers): never copied.
    pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// Every manifest type, for the Accept header: without them a registry answers with
    /// whatever it likes best (old registries: a converted schema 1, with another digest).
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";

    /// Whether `media_type` is a list of manifests (an OCI index or a Docker manifest list).
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }
}

/// Why a manifest's bytes could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "the manifest is not valid JSON of a manifest ({source}); the registry holds something this client cannot copy"
    )]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the manifest has the media type `{media_type}`, which this client does not copy: \
         supported are OCI image manifests and indexes, Docker schema 2 manifests and manifest lists"
    )]
    Unsupported { media_type: String },
    #[error("the manifest is {size} bytes, over the {limit}-byte limit registries apply to manifests")]
    TooLarge { size: u64, limit: u64 },
}

/// What a manifest points at, as the registry stores it: a media type, a digest, a size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Where a foreign layer lives instead of the registry; empty for ordinary blobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// One manifest, byte for byte as served.
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    bytes: Bytes,
    media_type: String,
    digest: Digest,
}

/// What a manifest refers to, for copying it into another repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// An OCI index or Docker manifest list: child manifests, each by digest.
    Index { manifests: Vec<Descriptor> },
    /// An image (or artifact) manifest: a config blob and layer blobs.
    Image { config: Descriptor, layers: Vec<Descriptor> },
}

/// Registries refuse manifests over 4 MiB (distribution's default); reading more would only
/// let a broken registry exhaust memory.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

impl Manifest {
    /// A manifest from its bytes and the media type the registry sent (`Content-Type`).
    /// When the header is missing or generic, the JSON `mediaType` field decides, and a
    /// manifest with neither is an OCI index if it lists `manifests`, else an OCI image.
    pub fn new(bytes: Bytes, content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { size: bytes.len() as u64, limit: MAX_MANIFEST_BYTES });
        }
        let shape: Shape = serde_json::from_slice(&bytes).map_err(|source| ManifestError::Json { source })?;
        let header = content_type.map(|c| c.split(';').next().unwrap_or_default().trim()).filter(|c| is_known(c));
        let media_type = match (header, shape.media_type.as_deref()) {
            (Some(h), _) => h.to_owned(),
            (None, Some(field)) => field.to_owned(),
            (None, None) if shape.manifests.is_some() => media_type::OCI_INDEX.to_owned(),
            (None, None) => media_type::OCI_MANIFEST.to_owned(),
        };
        if !is_known(&media_type) {
            return Err(ManifestError::Unsupported { media_type });
        }
        let digest = Digest::sha256(&bytes);
        Ok(Manifest { bytes, media_type, digest })
    }

    /// The exact bytes, to PUT unchanged.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The sha256 of the bytes: what the registry stores the manifest under.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn is_index(&self) -> bool {
        media_type::is_index(&self.media_type)
    }

    /// This manifest as a descriptor (what an index lists it as).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor { media_type: self.media_type.clone(), digest: self.digest.clone(), size: self.size(), urls: vec![] }
    }

    /// What the manifest points at.
    pub fn content(&self) -> Result<Content, ManifestError> {
        let shape: Shape = serde_json::from_slice(&self.bytes).map_err(|source| ManifestError::Json { source })?;
        if self.is_index() {
            return Ok(Content::Index { manifests: shape.manifests.unwrap_or_default() });
        }
        match shape.config {
            Some(config) => Ok(Content::Image { config, layers: shape.layers }),
            None => Err(ManifestError::Unsupported { media_type: format!("{} without a config", self.media_type) }),
        }
    }
}

fn is_known(media_type: &str) -> bool {
    [media_type::OCI_MANIFEST, media_type::OCI_INDEX, media_type::DOCKER_MANIFEST, media_type::DOCKER_MANIFEST_LIST]
        .contains(&media_type)
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("size", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(media_type_field: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"schemaVersion":2,{media_type_field}"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":2}},
               "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D}","size":0}}]}}"#
        ))
    }

    #[test]
    fn keeps_the_bytes_and_digests_them() {
        let bytes = image("");
        let m = Manifest::new(bytes.clone(), Some(media_type::OCI_MANIFEST)).unwrap();
        assert_eq!(m.bytes(), &bytes);
        assert_eq!(m.digest(), &Digest::sha256(&bytes));
        let Content::Image { config, layers } = m.content().unwrap() else { panic!("an image") };
        assert_eq!((config.size, layers.len()), (2, 1));
        assert!(!m.is_index());
    }

    #[test]
    fn media_type_comes_from_the_header_then_the_field_then_the_shape() {
        let docker = format!(r#""mediaType":"{}","#, media_type::DOCKER_MANIFEST);
        let m = Manifest::new(image(&docker), Some("application/json")).unwrap();
        assert_eq!(m.media_type(), media_type::DOCKER_MANIFEST);
        let m = Manifest::new(image(""), Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8")).unwrap();
        assert_eq!(m.media_type(), media_type::OCI_MANIFEST);
        let index = Bytes::from(format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{D}","size":3}}]}}"#,
            media_type::OCI_MANIFEST
        ));
        let m = Manifest::new(index, None).unwrap();
        assert!(m.is_index());
        let Content::Index { manifests } = m.content().unwrap() else { panic!("an index") };
        assert_eq!(manifests[0].digest.to_string(), D);
    }

    #[test]
    fn refuses_what_it_cannot_copy() {
        let e = Manifest::new(Bytes::from_static(b"{not json"), None).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        let schema1 = Bytes::from_static(
            br#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#,
        );
        let e = Manifest::new(schema1, None).unwrap_err();
        assert!(e.to_string().contains("manifest.v1+prettyjws"), "{e}");
        let big = Bytes::from(vec![b' '; MAX_MANIFEST_BYTES as usize + 1]);
        assert!(matches!(Manifest::new(big, None), Err(ManifestError::TooLarge { .. })));
    }
}
