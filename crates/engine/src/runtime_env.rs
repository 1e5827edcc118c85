//! Environments created at run time (a clone, a preview): made from a declared or runtime
//! environment, kept in the store, and added to the project read from the file by every
//! command (`load`), so `up`, `destroy`, `status`, `outputs`, `runs`, `run` and the API
//! treat them like the declared ones. Deleting one is its environment's `delete` event:
//! every job's delete first, the record (and with it the definition) only when all
//! succeeded.

use std::collections::BTreeMap;

use terrace_model::Project;
use terrace_model::names::is_valid_resource_name;
use terrace_model::runtime_env::check_definition;
use terrace_store::{EnvironmentRecord, NewRuntimeEnvironment, RuntimeDef, Store, StoreError};

use crate::error::EngineError;

/// The origin of a pull request's preview environment (`previews:` of terrace.yaml):
/// every job of it skips a `start` whose inputs did not change.
pub const PREVIEW_ORIGIN: &str = "preview";

/// Adds the project's runtime environments from the store to `project` (a name the file
/// declares stays as declared) and returns their records.
pub async fn load(project: &mut Project, store: &dyn Store) -> Result<Vec<EnvironmentRecord>, EngineError> {
    let records = store.runtime_environments(&project.name).await?;
    add(project, &records);
    Ok(records)
}

/// Adds these runtime environments (records read with `Store::runtime_environments`).
pub fn add(project: &mut Project, records: &[EnvironmentRecord]) {
    for r in records {
        if let Some(def) = &r.runtime
            && project.add_runtime_environment(&r.name, &def.base, &def.variables)
            && def.origin == PREVIEW_ORIGIN
            && let Some(env) = project.environments.get_mut(&r.name)
        {
            // A push to a pull request re-runs only the jobs whose inputs changed.
            env.skip_unchanged = true;
        }
    }
}

/// What to make: `to` from `from`, with `variables` over those `from` has.
#[derive(Clone, Debug)]
pub struct NewEnvironment {
    /// The environment to copy: declared in terrace.yaml, or created at run time.
    pub from: String,
    /// The new environment's name (`[a-z0-9][a-z0-9_-]*`, at most 63 characters).
    pub to: String,
    /// Variable overrides (plain text; a secret is written `${secret:NAME}`).
    pub variables: BTreeMap<String, String>,
    /// What makes it, shown by `terrace env list`: `clone`, `preview`, ...
    pub origin: String,
    /// Who asked (`cli:<user>`, `token:<name>`), recorded on it.
    pub by: String,
}

/// Creates a runtime environment from environment `new.from` of `project` (which must
/// hold the runtime environments: see [`load`]) with `new.variables` over its variables
/// and the origin label `new.origin`, e.g. `clone` or `preview`. It copies the source's
/// variables, parameters files and artifact versions (pins), not its outputs, state,
/// secrets or output aliases; it is `stopped` until started (`terrace up NEW`, or a
/// `start` event through the engine or the API), and goes with its `delete` event.
/// The one entry point for clones and previews alike.
pub async fn create_runtime_environment(
    project: &Project,
    store: &dyn Store,
    new: NewEnvironment,
) -> Result<EnvironmentRecord, EngineError> {
    check_definition(&new.to, &new.variables).map_err(EngineError::Invalid)?;
    if !is_valid_resource_name(&new.origin) {
        return Err(EngineError::Invalid(format!("`{}` is not a valid origin label", new.origin.escape_debug())));
    }
    let source = store.get_environment(&project.name, &new.from).await?;
    let (base, mut variables) = match source.as_ref().and_then(|r| r.runtime.as_ref()) {
        Some(def) => (def.base.clone(), def.variables.clone()),
        None if project.environment(&new.from).is_some() => (new.from.clone(), BTreeMap::new()),
        None => {
            let known: Vec<&str> = project.environments.keys().map(String::as_str).collect();
            return Err(EngineError::Invalid(format!(
                "environment `{}` is neither declared in the project file nor created at run time (known: {})",
                new.from,
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )));
        }
    };
    if project.environment(&new.to).is_some() {
        return Err(EngineError::Invalid(format!("environment `{}` already exists: pick another name", new.to)));
    }
    variables.extend(new.variables);
    let definition = RuntimeDef { origin: new.origin, source: new.from, base, variables, created_by: new.by };
    let record = NewRuntimeEnvironment { project: project.name.clone(), name: new.to.clone(), definition };
    match store.create_runtime_environment(&record).await {
        Err(StoreError::Conflict(_)) => Err(EngineError::Invalid(format!(
            "environment `{}` already has a record (destroy it first, or pick another name)",
            new.to
        ))),
        other => Ok(other?),
    }
}

/// Where an environment comes from, as listings show it: `declared` (terrace.yaml), what
/// made it at run time (`clone`, `preview`, ... with the environment it was made from),
/// or `undeclared` (a record whose declaration left terrace.yaml).
/// Why `env delete` refuses an environment that was not made at run time (both modes).
pub fn declared_delete(env: &str) -> String {
    format!(
        "environment `{env}` is not one made at run time: `terrace destroy {env}` deletes its resources and its \
         record, and a declared environment stays declared until you remove it from terrace.yaml"
    )
}

pub fn provenance(project: &Project, name: &str, record: Option<&EnvironmentRecord>) -> (String, Option<String>) {
    match record.and_then(|r| r.runtime.as_ref()) {
        Some(def) => (def.origin.clone(), Some(def.source.clone())),
        None if project.environment(name).is_some() => ("declared".into(), None),
        None => ("undeclared".into(), None),
    }
}
