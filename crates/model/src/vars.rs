//! Variable resolution (DESIGN.md "Variable names and precedence"). Lowest to highest:
//! built-ins, output aliases, project, environment, job variables. Full output names
//! `TERRACE_OUTPUT_JOB_<JOB>_<NAME>` never clash. An alias never silently shadows an
//! explicit variable nor is silently shadowed: every such case becomes a note for the
//! run log. An alias two jobs produce is ambiguous and not set.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::names::output_variable;
use crate::project::VariableDef;

/// A stored output of a job of the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOutput {
    pub job: String,
    pub name: String,
    pub value: String,
    pub sensitive: bool,
}

/// A variable with its final value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedVar {
    pub value: String,
    pub secret: bool,
}

/// The result of resolution: variables and what the run log must say about them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub vars: IndexMap<String, ResolvedVar>,
    pub notes: Vec<String>,
}

impl Resolved {
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.vars.values().filter(|v| v.secret && !v.value.is_empty()).map(|v| v.value.as_str())
    }
}

/// One scope of explicit variables, already interpolated.
pub struct Scope<'a> {
    pub label: &'a str,
    pub vars: &'a IndexMap<String, VariableDef>,
}

/// Resolves the variables of one run.
pub fn resolve(builtins: &[(&str, String)], outputs: &[JobOutput], scopes: &[Scope<'_>]) -> Resolved {
    let mut r = Resolved::default();
    for (k, v) in builtins {
        r.vars.insert(k.to_string(), ResolvedVar { value: v.clone(), secret: false });
    }
    let mut by_alias: BTreeMap<&str, Vec<&JobOutput>> = BTreeMap::new();
    for o in outputs {
        r.vars.insert(output_variable(&o.job, &o.name), ResolvedVar { value: o.value.clone(), secret: o.sensitive });
        by_alias.entry(o.name.as_str()).or_default().push(o);
    }
    let explicit = |name: &str| scopes.iter().rev().find(|s| s.vars.contains_key(name)).map(|s| s.label);
    for (alias, producers) in &by_alias {
        let full: Vec<String> = producers.iter().map(|o| output_variable(&o.job, &o.name)).collect();
        if producers.len() > 1 {
            r.notes.push(format!(
                "alias `{alias}` is ambiguous: jobs {} all output it, so it is not set; use {}",
                producers.iter().map(|o| format!("`{}`", o.job)).collect::<Vec<_>>().join(", "),
                full.join(" or ")
            ));
            continue;
        }
        let o = producers[0];
        if let Some(label) = explicit(alias) {
            r.notes.push(format!(
                "alias `{alias}` (output of job `{}`) is shadowed by the {label} variable `{alias}`; the explicit value wins, the output stays available as {}",
                o.job, full[0]
            ));
        }
        r.vars.insert(alias.to_string(), ResolvedVar { value: o.value.clone(), secret: o.sensitive });
    }
    for scope in scopes {
        for (k, v) in scope.vars {
            r.vars.insert(k.clone(), ResolvedVar { value: v.value.clone(), secret: v.secret });
        }
    }
    r
}

/// A `${env:NAME}` reference that could not be resolved, or bad syntax.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    #[error("`${{env:{0}}}` is not set in the invoking environment")]
    Unset(String),
    #[error("unterminated `${{` (write `$${{` for a literal `${{`)")]
    Unterminated,
    #[error("unknown reference `${{{0}}}`: only `${{env:NAME}}` is supported (write `$${{` for a literal `${{`)")]
    Unknown(String),
}

/// Replaces `${env:NAME}` with `lookup(NAME)`; `$${` is a literal `${`.
pub fn interpolate(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(InterpolationError::Unterminated)?;
            let reference = &after[..end];
            match reference.strip_prefix("env:") {
                Some(name) => out.push_str(&lookup(name).ok_or_else(|| InterpolationError::Unset(name.into()))?),
                None => return Err(InterpolationError::Unknown(reference.into())),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks interpolation syntax without resolving (for `terrace validate`).
pub fn check_interpolation(value: &str) -> Result<(), InterpolationError> {
    interpolate(value, &|_| Some(String::new())).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(v: &str) -> VariableDef {
        VariableDef { value: v.into(), secret: false }
    }

    fn out(job: &str, name: &str, v: &str) -> JobOutput {
        JobOutput { job: job.into(), name: name.into(), value: v.into(), sensitive: false }
    }

    #[test]
    fn precedence_and_notes() {
        let project: IndexMap<_, _> = [("A".to_string(), def("p")), ("B".to_string(), def("p"))].into();
        let env: IndexMap<_, _> = [("B".to_string(), def("e"))].into();
        let job: IndexMap<_, _> = [("C".to_string(), def("j"))].into();
        let r = resolve(
            &[("TERRACE_JOB", "x".into())],
            &[out("net", "A", "o"), out("net", "D", "d")],
            &[
                Scope { label: "project", vars: &project },
                Scope { label: "environment", vars: &env },
                Scope { label: "job", vars: &job },
            ],
        );
        assert_eq!(r.vars["A"].value, "p");
        assert_eq!(r.vars["B"].value, "e");
        assert_eq!(r.vars["D"].value, "d");
        assert_eq!(r.vars["TERRACE_OUTPUT_JOB_NET_A"].value, "o");
        assert_eq!(r.notes.len(), 1);
        assert!(r.notes[0].contains("TERRACE_OUTPUT_JOB_NET_A"), "{:?}", r.notes);
    }

    #[test]
    fn ambiguous_alias_is_not_set() {
        let r = resolve(&[], &[out("a", "X", "1"), out("b", "X", "2")], &[]);
        assert!(!r.vars.contains_key("X"));
        assert_eq!(r.vars["TERRACE_OUTPUT_JOB_A_X"].value, "1");
        assert!(r.notes[0].contains("TERRACE_OUTPUT_JOB_B_X"));
    }

    #[test]
    fn interpolation() {
        let env = |n: &str| (n == "HOME").then(|| "/root".to_string());
        assert_eq!(interpolate("${env:HOME}/x $$ $${env:HOME}", &env).unwrap(), "/root/x $$ ${env:HOME}");
        assert_eq!(interpolate("${env:NOPE}", &env), Err(InterpolationError::Unset("NOPE".into())));
        assert_eq!(interpolate("${foo}", &env), Err(InterpolationError::Unknown("foo".into())));
        assert_eq!(interpolate("${env:HOME", &env), Err(InterpolationError::Unterminated));
    }
}
