//! Manifest operations of [`Client`]: resolve a reference to its digest ("does this version
//! exist"), fetch a manifest's exact bytes (digest checked), and PUT them under a tag or
//! digest.

use crate::auth::repository_scope;
use crate::client::Client;
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Descriptor, Manifest, media_type};
use crate::reference::Reference;
use crate::transport::{Answer, Call};

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

impl Client {
    /// What `reference` points at (media type, digest, size), or [`Error::NotFound`] naming
    /// the reference and the registry's code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`) when that
    /// version does not exist. One HEAD when the version exists.
    pub async fn resolve(&self, reference: &Reference) -> Result<Descriptor, Error> {
        let call = self.manifest_call("HEAD", reference, false);
        let answer = self.transport.send(&call).await?;
        match answer.status.as_u16() {
            200 => match head_descriptor(&answer) {
                Some(descriptor) => {
                    check_named_digest(reference, &descriptor.digest, &call.what)?;
                    Ok(descriptor)
                }
                // A registry that omits the digest on HEAD: the bytes tell.
                None => Ok(self.manifest(reference).await?.descriptor()),
            },
            // A HEAD answer has no body, so no error code: the GET's answer names it.
            404 => self.manifest(reference).await.map(|m| m.descriptor()),
            _ => Err(self.unexpected(&call, &answer)),
        }
    }

    /// Whether `reference` exists: [`Client::resolve`] with "not found" as `false`. Other
    /// failures (unreachable, denied) stay errors: absence is never guessed.
    pub async fn exists(&self, reference: &Reference) -> Result<bool, Error> {
        let call = self.manifest_call("HEAD", reference, false);
        let answer = self.transport.send(&call).await?;
        match answer.status.as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.unexpected(&call, &answer)),
        }
    }

    /// The manifest `reference` points at, byte for byte, with its media type. The bytes
    /// are checked against the digest in the reference and the registry's
    /// `Docker-Content-Digest` header.
    pub async fn manifest(&self, reference: &Reference) -> Result<Manifest, Error> {
        let call = self.manifest_call("GET", reference, false);
        let answer = self.transport.send(&call).await?;
        if answer.status.as_u16() != 200 {
            return Err(self.unexpected(&call, &answer));
        }
        let manifest = Manifest::new(answer.body.clone(), answer.header("content-type"))
            .map_err(|source| Error::Manifest { what: call.what.clone(), source })?;
        if let Some(expected) = reference.digest()
            && !expected.matches(manifest.bytes())
        {
            return Err(mismatch(&call.what, expected, manifest.bytes(), "reference"));
        }
        if let Some(announced) = announced_digest(&answer)
            && !announced.matches(manifest.bytes())
        {
            return Err(mismatch(&call.what, &announced, manifest.bytes(), "registry's Docker-Content-Digest header"));
        }
        Ok(manifest)
    }

    /// PUTs `manifest`'s bytes, unchanged, at `target` (a tag, or its own digest) and
    /// returns the digest the registry stored it under. Idempotent, so retried like a GET.
    pub async fn put_manifest(&self, target: &Reference, manifest: &Manifest) -> Result<Digest, Error> {
        let mut call = self.manifest_call("PUT", target, true);
        if let Some(expected) = target.digest()
            && !expected.matches(manifest.bytes())
        {
            return Err(mismatch(&call.what, expected, manifest.bytes(), "target reference"));
        }
        call.content_type = Some(manifest.media_type().to_owned());
        call.body = Some(manifest.bytes().clone());
        let answer = self.transport.send(&call).await?;
        if !matches!(answer.status.as_u16(), 200..=202) {
            return Err(self.unexpected(&call, &answer));
        }
        if let Some(stored) = announced_digest(&answer)
            && !stored.matches(manifest.bytes())
        {
            return Err(mismatch(&call.what, &stored, manifest.bytes(), "registry's Docker-Content-Digest header"));
        }
        Ok(manifest.digest().clone())
    }

    fn manifest_call(&self, method: &'static str, reference: &Reference, push: bool) -> Call {
        let repository = reference.repository();
        let url = self
            .transport
            .url(repository.registry(), &format!("{}/manifests/{}", repository.path(), reference.target()));
        let scopes = vec![repository_scope(repository.path(), push)];
        let mut call = Call::new(method, repository.registry(), url, format!("manifest {reference}"), scopes);
        call.accept = Some(media_type::ACCEPT);
        call
    }
}

/// The descriptor a HEAD answer carries, when it carries all of it.
fn head_descriptor(answer: &Answer) -> Option<Descriptor> {
    let digest = announced_digest(answer)?;
    let media_type = answer.header("content-type")?.split(';').next()?.trim().to_owned();
    let size = answer.header("content-length")?.parse().ok()?;
    Some(Descriptor { media_type, digest, size, urls: vec![] })
}

fn announced_digest(answer: &Answer) -> Option<Digest> {
    answer.header(DOCKER_CONTENT_DIGEST).and_then(|d| Digest::parse(d).ok())
}

fn check_named_digest(reference: &Reference, digest: &Digest, what: &str) -> Result<(), Error> {
    match reference.digest() {
        Some(expected) if expected != digest => Err(Error::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            actual: digest.clone(),
            source_of_expected: "reference",
        }),
        _ => Ok(()),
    }
}

fn mismatch(what: &str, expected: &Digest, bytes: &[u8], source_of_expected: &'static str) -> Error {
    Error::DigestMismatch {
        what: what.to_owned(),
        expected: expected.clone(),
        actual: Digest::compute(expected.algorithm(), bytes),
        source_of_expected,
    }
}
