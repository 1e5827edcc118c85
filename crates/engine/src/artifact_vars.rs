//! The variables of the artifacts a job consumes: `<NAME>_IMAGE` (the image under its
//! environment's tag), and once a version is pinned there `<NAME>_VERSION` and
//! `<NAME>_DIGEST`. They rank as built-ins: an explicit variable of the same name wins,
//! and the run log says so.

use terrace_model::Project;
use terrace_model::project::Job;
use terrace_model::vars::{Resolved, ResolvedVar};
use terrace_store::PinRecord;

/// Adds the artifact variables of `job` in `env` to `resolved`.
pub(crate) fn add(project: &Project, env: &str, job: &Job, pins: &[PinRecord], resolved: &mut Resolved) {
    for name in &job.artifacts {
        let Some(def) = project.artifacts.get(name) else { continue };
        let prefix = def.variable_prefix();
        let pin = pins.iter().find(|p| &p.artifact == name);
        let mut values = vec![(format!("{prefix}_IMAGE"), format!("{}:{}", def.image, def.tag_for(env)))];
        if let Some(pin) = pin {
            values.push((format!("{prefix}_VERSION"), pin.version.clone()));
            values.push((format!("{prefix}_DIGEST"), pin.digest.clone()));
        }
        for (key, value) in values {
            if resolved.vars.contains_key(&key) {
                resolved
                    .notes
                    .push(format!("`{key}` of artifact `{name}` is not set: an explicit variable of that name wins"));
                continue;
            }
            resolved.vars.insert(key, ResolvedVar { value, secret: false });
        }
    }
}
