//! Re-tag and copy, the registry side of a promotion: GET the source manifest, make what it
//! points at present in the target repository (child manifests by digest, blobs mounted or
//! streamed), and only then PUT the same bytes under the target tag. The tag is the last
//! write, so a copy cut short never leaves the tag pointing at something incomplete, and
//! running it again finishes it.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::blobs::BlobCopy;
use crate::client::Client;
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Content, Descriptor, Manifest, media_type};
use crate::reference::{Reference, Repository};

/// Blobs copied at once for one image: enough to overlap round trips, few enough to be
/// polite to a registry.
const BLOB_CONCURRENCY: usize = 4;

/// What a copy or re-tag did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// The digest now under the target tag (the source's digest: the bytes are unchanged).
    pub digest: Digest,
    pub media_type: String,
    /// Child manifests put into the target repository by digest (an index's images).
    pub manifests_copied: usize,
    /// Child manifests the target repository already had.
    pub manifests_present: usize,
    /// Blobs linked by the registry from the source repository.
    pub blobs_mounted: usize,
    /// Blobs streamed through this client (mount refused, or another registry).
    pub blobs_streamed: usize,
    /// Blobs the target repository already had.
    pub blobs_present: usize,
}

impl Client {
    /// Points `tag` of the source's repository at the manifest `source` points at: GET the
    /// manifest, PUT the same bytes under `tag` (seed 003's `docker pull; docker tag;
    /// docker push`, without pulling a layer). An index's children are already in the
    /// repository. Two round trips once authenticated.
    pub async fn retag(&self, source: &Reference, tag: &str) -> Result<CopyReport, Error> {
        let target = source.repository().tag(tag)?;
        self.copy(source, &target).await
    }

    /// Makes `target` point at the manifest `source` points at. Within one repository this
    /// is a re-tag; across repositories (or registries) the manifest's content is copied
    /// first: for an index each child manifest (its blobs, then itself by digest), for an
    /// image its config and layers, mounted when the registry allows and streamed
    /// otherwise. Content the target already has is skipped.
    pub async fn copy(&self, source: &Reference, target: &Reference) -> Result<CopyReport, Error> {
        let manifest = self.manifest(source).await?;
        let mut report = CopyReport {
            digest: manifest.digest().clone(),
            media_type: manifest.media_type().to_owned(),
            manifests_copied: 0,
            manifests_present: 0,
            blobs_mounted: 0,
            blobs_streamed: 0,
            blobs_present: 0,
        };
        let (from, to) = (source.repository(), target.repository());
        // A manifest the target repository holds has all its content there: registries
        // refuse a manifest whose blobs or children are missing.
        if from != to && !self.exists(&to.digest(manifest.digest().clone())).await? {
            self.copy_content(from, to, &manifest, &mut report).await?;
        }
        self.put_manifest(target, &manifest).await?;
        Ok(report)
    }

    /// Makes everything `manifest` points at present in `to`.
    async fn copy_content(
        &self,
        from: &Repository,
        to: &Repository,
        manifest: &Manifest,
        report: &mut CopyReport,
    ) -> Result<(), Error> {
        match manifest
            .content()
            .map_err(|source| Error::Manifest { what: format!("manifest {}", manifest.digest()), source })?
        {
            Content::Index { manifests } => {
                for child in manifests {
                    let target = to.digest(child.digest.clone());
                    if self.exists(&target).await? {
                        report.manifests_present += 1;
                        continue;
                    }
                    let child_manifest = self.manifest(&from.digest(child.digest.clone())).await?;
                    // An index may list indexes: recursion through a boxed future.
                    Box::pin(self.copy_content(from, to, &child_manifest, report)).await?;
                    self.put_manifest(&target, &child_manifest).await?;
                    report.manifests_copied += 1;
                }
            }
            Content::Image { config, layers } => {
                let blobs: Vec<Descriptor> = std::iter::once(config).chain(layers).filter(in_registry).collect();
                // The futures collected first: a stream over a closure that borrows its
                // argument makes the caller's future not `Send` (rust-lang/rust#102211),
                // which a server handler needs.
                let pending: Vec<_> = blobs.iter().map(|b| self.copy_blob(from, to, b)).collect();
                let copies: Vec<BlobCopy> =
                    futures::stream::iter(pending).buffer_unordered(BLOB_CONCURRENCY).try_collect().await?;
                for copy in copies {
                    match copy {
                        BlobCopy::Present => report.blobs_present += 1,
                        BlobCopy::Mounted => report.blobs_mounted += 1,
                        BlobCopy::Streamed => report.blobs_streamed += 1,
                    }
                }
            }
        }
        Ok(())
    }
}

/// Foreign layers live outside the registry (their `urls`): there is nothing to copy.
fn in_registry(blob: &Descriptor) -> bool {
    blob.urls.is_empty() && blob.media_type != media_type::DOCKER_FOREIGN_LAYER
}
