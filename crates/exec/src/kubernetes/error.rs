//! The Kubernetes API's failures in words a user can act on, naming what was being done.

use crate::ExecError;

/// Whether the API answered "not found" (an object already gone).
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.is_not_found())
}

/// The API refused, or could not be reached: `what` names the object or the action.
pub(crate) fn api_error(what: &str, e: &kube::Error) -> ExecError {
    match e {
        kube::Error::Api(status) => ExecError::Container(format!(
            "the Kubernetes API refused {what}: {} ({} {})",
            status.message.trim(),
            status.code,
            status.reason
        )),
        other => ExecError::Container(format!(
            "cannot reach the Kubernetes API for {what} ({other}): is the cluster up, and do KUBECONFIG (default \
             ~/.kube/config) and its current context name it?"
        )),
    }
}
