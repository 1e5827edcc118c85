//! The Docker Engine's failures in words a user can act on, naming what was being done.

use crate::ExecError;

/// Whether the daemon answered "no such image / container".
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// The daemon could not be reached, or refused: `what` names the image or container.
pub(crate) fn daemon_error(what: &str, e: &bollard::errors::Error) -> ExecError {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError { status_code, message } => {
            ExecError::Container(format!("Docker refused {what}: {} (status {status_code})", message.trim()))
        }
        E::RequestTimeoutError => ExecError::Container(format!(
            "Docker did not answer in time for {what}: is the daemon overloaded or stuck?"
        )),
        other => ExecError::Container(format!(
            "cannot reach the Docker daemon for {what} ({other}): is Docker running, and is DOCKER_HOST (default unix:///var/run/docker.sock) the right one?"
        )),
    }
}
