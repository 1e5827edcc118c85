//! Making a job's image ready: a reference is used when the daemon has it and pulled
//! when it does not (its registry digest kept for the run); a folder is packed into a
//! build context whose hash tags the image, so the same content is built once. What the
//! pull or the build prints goes to the run's log, masked. Nothing secret goes into a
//! build: no build argument, no label but the context's hash.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use terrace_model::log::{LogBatch, Stream};

use super::context;
use super::error::{daemon_error, is_not_found};
use crate::{ExecError, ExecEvent, ImageSource, PreparedImage, StepIo};

pub(crate) async fn prepare(docker: &Docker, source: &ImageSource, io: &StepIo) -> Result<PreparedImage, ExecError> {
    match source {
        ImageSource::Pull(reference) => pull(docker, reference, io).await,
        ImageSource::Build { context, dockerfile, default_dockerfile } => {
            build(docker, context, dockerfile.as_deref(), default_dockerfile, io).await
        }
    }
}

async fn pull(docker: &Docker, reference: &str, io: &StepIo) -> Result<PreparedImage, ExecError> {
    match docker.inspect_image(reference).await {
        Ok(found) => return Ok(prepared(found, reference, false)),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(daemon_error(&format!("image `{reference}`"), &e)),
    }
    log(io, &format!("pulling image {reference}")).await;
    let (name, tag) = split_reference(reference);
    let options = CreateImageOptionsBuilder::default().from_image(name).tag(tag).build();
    let mut progress = docker.create_image(Some(options), None, None);
    while let Some(item) = progress.next().await {
        match item {
            Ok(info) => {
                if let Some(error) = info.error {
                    return Err(pull_failed(reference, &error));
                }
                // Layer progress is noise in a run log; the statuses without an id say what happened.
                if let (Some(status), None) = (info.status, info.id) {
                    log(io, &status).await;
                }
            }
            // The daemon answers a failed pull (registry unreachable, no such image) with an error status.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                return Err(pull_failed(reference, &message));
            }
            Err(e) => return Err(daemon_error(&format!("image `{reference}`"), &e)),
        }
    }
    match docker.inspect_image(reference).await {
        Ok(found) => Ok(prepared(found, reference, true)),
        Err(e) => Err(pull_failed(reference, &e.to_string())),
    }
}

fn pull_failed(reference: &str, why: &str) -> ExecError {
    ExecError::Container(format!(
        "image `{reference}` is not on this Docker host and could not be pulled: {}; check the name and tag, and that this host can reach and log in to its registry",
        why.trim()
    ))
}

async fn build(
    docker: &Docker,
    dir: &std::path::Path,
    dockerfile: Option<&std::path::Path>,
    default_text: &str,
    io: &StepIo,
) -> Result<PreparedImage, ExecError> {
    let what = context::describe(dir, dockerfile);
    let (d, f, t) = (dir.to_path_buf(), dockerfile.map(|p| p.to_path_buf()), default_text.to_string());
    let packed = tokio::task::spawn_blocking(move || context::pack(&d, f.as_deref(), &t))
        .await
        .map_err(|e| ExecError::Container(format!("packing the build context failed: {e}")))?
        .map_err(|e| ExecError::Container(format!("cannot pack the build context {}: {e}", dir.display())))?;
    let tag = context::tag(&packed.hash);
    match docker.inspect_image(&tag).await {
        Ok(found) => {
            log(io, &format!("image {tag}: built before from the same context and Dockerfile")).await;
            return Ok(prepared(found, &tag, false));
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(daemon_error(&format!("the image of {what}"), &e)),
    }
    log(io, &format!("building image {tag} from {what}")).await;
    let labels = HashMap::from([("terrace.build", packed.hash.as_str())]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile(&packed.dockerfile)
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .build();
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(packed.tar.into())));
    while let Some(item) = progress.next().await {
        match item {
            Ok(info) => {
                if let Some(error) = info.error.or(info.error_detail.and_then(|d| d.message)) {
                    return Err(ExecError::Container(format!(
                        "building the image from {what} failed: {}",
                        error.trim()
                    )));
                }
                if let Some(text) = info.stream.as_deref().map(str::trim_end).filter(|t| !t.is_empty()) {
                    log(io, text).await;
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(ExecError::Container(format!("building the image from {what} failed: {}", error.trim())));
            }
            Err(e) => return Err(daemon_error(&format!("the image of {what}"), &e)),
        }
    }
    match docker.inspect_image(&tag).await {
        Ok(found) => Ok(prepared(found, &tag, true)),
        Err(e) => Err(ExecError::Container(format!("the image built from {what} is not there: {e}"))),
    }
}

fn prepared(found: bollard::models::ImageInspect, reference: &str, fresh: bool) -> PreparedImage {
    let (name, _) = split_reference(reference);
    // Only the digest of the reference's own repository: an image also pushed elsewhere
    // (or built and never pushed) is named by its image id rather than by another name.
    let digests = found.repo_digests.unwrap_or_default();
    let digest = digests.into_iter().find(|d| d.split('@').next() == Some(name));
    PreparedImage {
        id: found.id.unwrap_or_else(|| reference.to_string()),
        reference: reference.to_string(),
        digest,
        fresh,
    }
}

/// `name:tag` → (name, tag); `name@digest` → (name, digest); `name` → (name, `latest`):
/// an empty tag would pull every tag of the repository.
fn split_reference(reference: &str) -> (&str, &str) {
    if let Some((name, digest)) = reference.split_once('@') {
        return (name, digest);
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (&reference[..last_slash + i], &reference[last_slash + i + 1..]),
        None => (reference, "latest"),
    }
}

/// One line of Terrace's own in the run's log, masked.
async fn log(io: &StepIo, text: &str) {
    let masked = io.secrets.mask(text);
    let _ = io.events.send(ExecEvent::Lines(LogBatch::now(Stream::Terrace, &masked))).await;
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(split_reference("127.0.0.1:5000/a/b:1.2"), ("127.0.0.1:5000/a/b", "1.2"));
        assert_eq!(split_reference("127.0.0.1:5000/a/b"), ("127.0.0.1:5000/a/b", "latest"));
        assert_eq!(split_reference("x@sha256:ab"), ("x", "sha256:ab"));
    }
}
