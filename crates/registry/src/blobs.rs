//! Blob operations of [`Client`]: existence, cross-repository mount
//! (`POST /v2/<to>/blobs/uploads/?mount=<digest>&from=<from>`), and the streamed copy used
//! when a mount is refused or the repositories are on different registries.

use url::Url;

use crate::auth::repository_scope;
use crate::client::Client;
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::Descriptor;
use crate::reference::Repository;
use crate::transport::Call;

/// How one blob reached the target repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobCopy {
    /// Already there.
    Present,
    /// Linked by the registry from the source repository: no bytes moved.
    Mounted,
    /// Downloaded from the source and uploaded to the target, as a stream.
    Streamed,
}

impl Client {
    /// Whether `digest` is a blob of `repository` (HEAD).
    pub async fn blob_exists(&self, repository: &Repository, digest: &Digest) -> Result<bool, Error> {
        let url = self.transport.url(repository.registry(), &format!("{}/blobs/{digest}", repository.path()));
        let scopes = vec![repository_scope(repository.path(), false)];
        let call = Call::new("HEAD", repository.registry(), url, blob_what(repository, digest), scopes);
        let answer = self.transport.send(&call).await?;
        match answer.status.as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.unexpected(&call, &answer)),
        }
    }

    /// Makes `blob` of `from` a blob of `to`: mounted when both are on one registry and the
    /// registry agrees, else streamed through this process.
    pub(crate) async fn copy_blob(
        &self,
        from: &Repository,
        to: &Repository,
        blob: &Descriptor,
    ) -> Result<BlobCopy, Error> {
        let upload = if from.registry() == to.registry() {
            match self.mount(from, to, &blob.digest).await? {
                Mount::Done => return Ok(BlobCopy::Mounted),
                Mount::Refused(upload) => upload,
            }
        } else {
            if self.blob_exists(to, &blob.digest).await? {
                return Ok(BlobCopy::Present);
            }
            self.start_upload(to, &blob.digest).await?
        };
        self.stream(from, to, blob, upload).await?;
        Ok(BlobCopy::Streamed)
    }

    /// Asks the registry to link the blob from `from` into `to`. 201: done; 202: the
    /// registry refused (no such blob there, mounting disabled, no pull right on `from`)
    /// and opened an ordinary upload instead, whose URL is returned. Retried like a GET:
    /// mounting twice is harmless, and an upload left open is purged by the registry.
    async fn mount(&self, from: &Repository, to: &Repository, digest: &Digest) -> Result<Mount, Error> {
        let mut url = self.transport.url(to.registry(), &format!("{}/blobs/uploads/", to.path()));
        url.query_pairs_mut().append_pair("mount", &digest.to_string()).append_pair("from", from.path());
        let scopes = vec![repository_scope(to.path(), true), repository_scope(from.path(), false)];
        let what = format!("mount of blob {digest} from {} into {to}", from.path());
        let call = Call::new("POST", to.registry(), url, what, scopes);
        let answer = self.transport.send(&call).await?;
        match answer.status.as_u16() {
            201 => Ok(Mount::Done),
            202 => Ok(Mount::Refused(self.location(&call, answer.header("location"))?)),
            _ => Err(self.unexpected(&call, &answer)),
        }
    }

    /// Opens an upload session in `to` and returns its URL.
    async fn start_upload(&self, to: &Repository, digest: &Digest) -> Result<Url, Error> {
        let url = self.transport.url(to.registry(), &format!("{}/blobs/uploads/", to.path()));
        let scopes = vec![repository_scope(to.path(), true)];
        let call = Call::new("POST", to.registry(), url, format!("upload of blob {digest} into {to}"), scopes);
        let answer = self.transport.send(&call).await?;
        match answer.status.as_u16() {
            202 => self.location(&call, answer.header("location")),
            _ => Err(self.unexpected(&call, &answer)),
        }
    }

    /// Streams the blob from `from` into the upload session `upload` of `to`, in one PUT
    /// (`?digest=` closes the session; the registry checks the bytes against the digest).
    /// The stream can be read once, so a failed transfer opens a new session and starts
    /// over, up to the client's attempts.
    async fn stream(&self, from: &Repository, to: &Repository, blob: &Descriptor, upload: Url) -> Result<(), Error> {
        let digest = &blob.digest;
        let mut upload = upload;
        let attempts = self.transport.options.attempts;
        for attempt in 1..=attempts {
            let result = self.stream_once(from, to, blob, upload.clone()).await;
            match result {
                Err(e) if e.retryable() && attempt < attempts => {
                    tracing::debug!(%digest, attempt, "blob transfer failed, starting over");
                    upload = self.start_upload(to, digest).await?;
                }
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn stream_once(
        &self,
        from: &Repository,
        to: &Repository,
        blob: &Descriptor,
        upload: Url,
    ) -> Result<(), Error> {
        let digest = &blob.digest;
        let source_url = self.transport.url(from.registry(), &format!("{}/blobs/{digest}", from.path()));
        let mut get = Call::new(
            "GET",
            from.registry(),
            source_url,
            blob_what(from, digest),
            vec![repository_scope(from.path(), false)],
        );
        get.timeout = self.transport.options.blob_timeout;
        let source = match self.transport.open(&get).await? {
            Ok(response) => response,
            Err(answer) => return Err(self.unexpected(&get, &answer)),
        };
        let mut target = upload;
        target.query_pairs_mut().append_pair("digest", &digest.to_string());
        let mut put =
            Call::new("PUT", to.registry(), target, blob_what(to, digest), vec![repository_scope(to.path(), true)]);
        put.timeout = self.transport.options.blob_timeout;
        put.content_type = Some("application/octet-stream".into());
        put.content_length = Some(blob.size);
        let answer = self.transport.send_once(&put, reqwest::Body::wrap_stream(source.bytes_stream())).await?;
        match answer.status.as_u16() {
            201 => Ok(()),
            _ => Err(self.unexpected(&put, &answer)),
        }
    }

    /// The upload URL of a 202 answer, resolved against the request. Only on the same
    /// origin: the upload carries the registry's credentials.
    fn location(&self, call: &Call, location: Option<&str>) -> Result<Url, Error> {
        let protocol = |reason: String| Error::Protocol {
            registry: call.registry.clone(),
            method: call.method,
            what: call.what.clone(),
            reason,
        };
        let location = location.ok_or_else(|| protocol("HTTP 202 without a Location header".into()))?;
        let url = call.url.join(location).map_err(|e| protocol(format!("Location `{location}`: {e}")))?;
        if url.origin() != call.url.origin() {
            return Err(protocol(format!(
                "the upload Location is on another host ({})",
                url.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }
}

enum Mount {
    Done,
    Refused(Url),
}

fn blob_what(repository: &Repository, digest: &Digest) -> String {
    format!("blob {digest} of {repository}")
}
