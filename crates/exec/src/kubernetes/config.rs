//! Which cluster and namespace the kubernetes executor uses: a kubeconfig (the file named
//! by `KUBECONFIG`, else `~/.kube/config`, its current context) or, inside a pod, the
//! service account's. `TERRACE_KUBERNETES_NAMESPACE` overrides the namespace (default: the
//! context's, the service account's, else `default`).

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::ExecError;

/// The setting that names the namespace Terrace's Jobs and Secrets go to.
pub const NAMESPACE_VAR: &str = "TERRACE_KUBERNETES_NAMESPACE";

/// A client and the namespace it works in.
#[derive(Clone)]
pub(crate) struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

/// Where the configuration comes from.
#[derive(Clone, Debug, Default)]
pub(crate) enum Source {
    /// `KUBECONFIG`, `~/.kube/config`, or in-cluster.
    #[default]
    Infer,
    /// This kubeconfig file.
    File(PathBuf),
}

pub(crate) async fn connect(source: &Source, namespace: Option<&str>) -> Result<Cluster, ExecError> {
    let config = match source {
        Source::Infer => kube::Config::infer().await.map_err(|e| {
            ExecError::Container(format!(
                "no Kubernetes configuration found ({e}): set KUBECONFIG to a kubeconfig file, write \
                 ~/.kube/config, or run Terrace in a pod with a service account"
            ))
        })?,
        Source::File(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| ExecError::Container(format!("cannot read the kubeconfig `{}`: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| ExecError::Container(format!("the kubeconfig `{}` cannot be used: {e}", path.display())))?
        }
    };
    let namespace = namespace.map(str::to_string).unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config)
        .map_err(|e| ExecError::Container(format!("cannot make a Kubernetes client: {e}")))?;
    Ok(Cluster { client, namespace })
}
