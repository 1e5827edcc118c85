//! Executors by name: what a job's `executor:` key picks (`local`, `docker`, `kubernetes`); the
//! names are the model's `EXECUTORS` (which `validate` checks), and each has one here.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{DockerExecutor, Executor, KubernetesExecutor, LocalExecutor};

/// The executors a process can use, by name.
#[derive(Clone)]
pub struct Executors {
    by_name: BTreeMap<&'static str, Arc<dyn Executor>>,
}

impl Executors {
    /// Every executor Terrace ships (`local`, `docker`, `kubernetes`). Docker and the
    /// cluster are reached on first use.
    pub fn builtin() -> Executors {
        Executors::empty()
            .with(Arc::new(LocalExecutor::new()))
            .with(Arc::new(DockerExecutor::new()))
            .with(Arc::new(KubernetesExecutor::new()))
    }

    /// None at all (tests add scripted ones).
    pub fn empty() -> Executors {
        Executors { by_name: BTreeMap::new() }
    }

    /// Adds (or replaces) an executor under its own name.
    pub fn with(mut self, executor: Arc<dyn Executor>) -> Executors {
        self.by_name.insert(executor.name(), executor);
        self
    }

    pub fn get(&self, name: &str) -> Result<Arc<dyn Executor>, UnknownExecutor> {
        self.by_name.get(name).cloned().ok_or_else(|| UnknownExecutor {
            name: name.to_string(),
            known: self.by_name.keys().map(|n| n.to_string()).collect(),
        })
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.by_name.keys().copied().collect()
    }
}

impl std::fmt::Debug for Executors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

/// A name no executor of this process has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no executor `{name}` here (executors: {})", .known.join(", "))]
pub struct UnknownExecutor {
    pub name: String,
    pub known: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_executors_are_the_ones_validate_accepts() {
        let mut names = Executors::builtin().names();
        let mut model = terrace_model::project::EXECUTORS.to_vec();
        names.sort();
        model.sort();
        assert_eq!(names, model);
        let err = Executors::builtin().get("nomad").err().unwrap();
        assert_eq!(err.to_string(), "no executor `nomad` here (executors: docker, kubernetes, local)");
    }
}
