//! Environments created at run time (a clone, a preview): the store keeps each one's
//! definition (the declared environment it derives from, and variable overrides), and
//! every command adds them to the project read from the file, so they run like the
//! declared ones. Pure: the caller reads the definitions.

use std::collections::BTreeMap;

use crate::names::{is_valid_resource_name, is_valid_variable_name};
use crate::project::{Project, VariableDef};
use crate::refs;

/// The most variable overrides one environment may have, and the longest value.
pub const MAX_OVERRIDES: usize = 256;
pub const MAX_OVERRIDE_BYTES: usize = 128 * 1024;

/// Why a runtime environment's name or overrides are refused.
pub fn check_definition(name: &str, variables: &BTreeMap<String, String>) -> Result<(), String> {
    if !is_valid_resource_name(name) {
        return Err(format!(
            "`{}` is not a valid environment name: lower-case letters, digits, `-` and `_`, starting with a letter \
             or digit, at most 63 characters",
            name.escape_debug()
        ));
    }
    if variables.len() > MAX_OVERRIDES {
        return Err(format!("{} variables given: at most {MAX_OVERRIDES}", variables.len()));
    }
    for (key, value) in variables {
        if !is_valid_variable_name(key) {
            return Err(format!(
                "variable `{}`: a name must match [A-Za-z_][A-Za-z0-9_]*",
                key.chars().take(64).collect::<String>().escape_debug()
            ));
        }
        if value.len() > MAX_OVERRIDE_BYTES || value.contains('\0') {
            return Err(format!("variable `{key}`: a value has at most 128 KiB and no NUL byte"));
        }
        if let Err(e) = refs::pieces(value) {
            return Err(format!("variable `{key}`, at byte {}: {e}", e.offset));
        }
    }
    Ok(())
}

impl Project {
    /// Adds environment `name`, made from the declared environment `base` with `variables`
    /// over `base`'s: it runs the same jobs (a job limited to `base` runs in `name` too)
    /// with the same parameters files, executor, approval, `on_failure`, `ttl`, cron jobs
    /// and `drift` checks; not `branch` (a push plans-and-applies the environment the file
    /// declares, never its copies). When
    /// `base` is no longer declared, `name` gets its variables and the jobs that run
    /// everywhere. A name the file declares stays as declared: returns false.
    pub fn add_runtime_environment(&mut self, name: &str, base: &str, variables: &BTreeMap<String, String>) -> bool {
        if self.environments.contains_key(name) {
            return false;
        }
        let mut def = self.environments.get(base).cloned().unwrap_or_default();
        def.name = name.to_string();
        def.branch = None;
        for (key, value) in variables {
            def.variables.insert(key.clone(), VariableDef { value: value.clone(), secret: false });
        }
        self.environments.insert(name.to_string(), def);
        for job in self.jobs.values_mut() {
            if let Some(list) = job.environments.as_mut()
                && list.iter().any(|e| e == base)
            {
                list.push(name.to_string());
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_environment_runs_its_base_jobs_with_its_variables() {
        let mut p = crate::parse::parse_project(
            "t",
            "project: p\nenvironments:\n  dev: {variables: {A: one, B: two}, branch: main, drift: \"0 3 * * *\"}\n  prod: {}\njobs:\n  \
             a: {events: [start], commands: {start: 'true'}}\n  \
             b: {events: [start], commands: {start: 'true'}, environments: [dev]}\n",
        )
        .unwrap();
        let vars = BTreeMap::from([("B".to_string(), "three".to_string())]);
        assert!(p.add_runtime_environment("dev-2", "dev", &vars));
        let def = p.environment("dev-2").unwrap();
        assert_eq!(def.variables["A"].value, "one");
        assert_eq!(def.variables["B"].value, "three");
        assert_eq!(def.branch, None);
        assert_eq!(def.drift.as_ref().map(|c| c.as_str()), Some("0 3 * * *"), "drift checks apply to copies too");
        assert_eq!(p.jobs_for("dev-2").keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(!p.add_runtime_environment("prod", "dev", &vars), "a declared name stays declared");
        assert!(p.add_runtime_environment("orphan", "gone", &BTreeMap::new()));
        assert_eq!(p.jobs_for("orphan").keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn names_and_overrides_are_checked() {
        let ok = BTreeMap::from([("X".to_string(), "${secret:T}-1".to_string())]);
        assert!(check_definition("pr-42", &ok).is_ok());
        assert!(check_definition("PR 42", &ok).unwrap_err().contains("not a valid environment name"));
        let bad = BTreeMap::from([("1X".to_string(), "v".to_string())]);
        assert!(check_definition("pr", &bad).unwrap_err().contains("variable `1X`"));
        let bad = BTreeMap::from([("X".to_string(), "${vault:x}".to_string())]);
        assert!(check_definition("pr", &bad).unwrap_err().starts_with("variable `X`, at byte 0:"));
    }
}
