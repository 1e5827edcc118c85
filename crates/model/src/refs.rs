//! The references a variable's value may hold (DESIGN.md "Variable values"):
//! `${outputs.JOB.NAME}`, `${NAME}`, `${secret:NAME}`, `${env:NAME}`, and `$${` for a
//! literal `${`. This module only reads the syntax; what a reference is worth is decided
//! by `vars` (at run time) and by the parser's checks (in `terrace validate`).

use std::fmt;

use crate::names::{is_valid_resource_name, is_valid_variable_name};

/// What a `${...}` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference<'a> {
    /// `${outputs.JOB.NAME}`: an output of an upstream job.
    Output { job: &'a str, name: &'a str },
    /// `${NAME}`: another variable the job sees (explicit or built-in).
    Var(&'a str),
    /// `${secret:NAME}`: a secret of the store.
    Secret(&'a str),
    /// `${env:NAME}`: the invoking shell (local mode) or an allowed server variable.
    Env(&'a str),
}

impl fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Output { job, name } => write!(f, "${{outputs.{job}.{name}}}"),
            Reference::Var(name) => write!(f, "${{{name}}}"),
            Reference::Secret(name) => write!(f, "${{secret:{name}}}"),
            Reference::Env(name) => write!(f, "${{env:{name}}}"),
        }
    }
}

/// One part of a value: text to copy, or a reference starting at byte `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Ref { reference: Reference<'a>, offset: usize },
}

/// Bad reference syntax, at byte `offset` of the value (where its `${` starts).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub offset: usize,
    /// The reference as written (`${vault:x}`), or `${` when it never closes.
    pub written: String,
    pub message: String,
}

const FORMS: &str = "`${NAME}`, `${outputs.JOB.NAME}`, `${secret:NAME}` or `${env:NAME}`";

/// Splits `value` into text and references.
pub fn pieces(value: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = value[at..].find('$') {
        let dollar = at + found;
        let tail = &value[dollar..];
        if tail.starts_with("$${") {
            out.push(Piece::Text(&value[at..dollar]));
            // The `${` of `$${`, as a slice of the value itself.
            out.push(Piece::Text(&value[dollar + 1..dollar + 3]));
            at = dollar + 3;
        } else if tail.starts_with("${") {
            out.push(Piece::Text(&value[at..dollar]));
            let Some(len) = tail.find('}') else {
                return Err(SyntaxError {
                    offset: dollar,
                    written: "${".into(),
                    message: "unterminated `${` (write `$${` for a literal `${`)".into(),
                });
            };
            let reference = reference(&tail[2..len]).map_err(|message| SyntaxError {
                offset: dollar,
                written: tail[..=len].to_string(),
                message,
            })?;
            out.push(Piece::Ref { reference, offset: dollar });
            at = dollar + len + 1;
        } else {
            out.push(Piece::Text(&value[at..=dollar]));
            at = dollar + 1;
        }
    }
    out.push(Piece::Text(&value[at..]));
    out.retain(|p| !matches!(p, Piece::Text("")));
    Ok(out)
}

/// The references of `value`, ignoring bad syntax (reported elsewhere).
pub fn references(value: &str) -> Vec<(Reference<'_>, usize)> {
    pieces(value)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref { reference, offset } => Some((reference, offset)),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Reads what stands between `${` and `}`.
fn reference(inner: &str) -> Result<Reference<'_>, String> {
    let shown = crate::names::clip(inner);
    if inner.is_empty() {
        return Err(format!("`${{}}` names nothing: write {FORMS}"));
    }
    let variable = |kind: &str, name: &str| {
        if is_valid_variable_name(name) {
            Ok(())
        } else {
            Err(format!(
                "`${{{shown}}}`: {kind} `{}` is not a variable name (letters, digits and `_`, not starting with a digit)",
                crate::names::clip(name)
            ))
        }
    };
    if let Some(name) = inner.strip_prefix("secret:") {
        variable("the secret name", name)?;
        return Ok(Reference::Secret(name));
    }
    if let Some(name) = inner.strip_prefix("env:") {
        variable("the environment variable name", name)?;
        return Ok(Reference::Env(name));
    }
    if let Some(rest) = inner.strip_prefix("outputs.") {
        let Some((job, name)) = rest.split_once('.') else {
            return Err(format!("`${{{shown}}}` names no output: write `${{outputs.JOB.NAME}}`"));
        };
        if !is_valid_resource_name(job) {
            return Err(format!(
                "`${{{shown}}}`: `{}` is not a job name (lowercase letters, digits, `-` and `_`)",
                crate::names::clip(job)
            ));
        }
        variable("the output name", name)?;
        return Ok(Reference::Output { job, name });
    }
    if is_valid_variable_name(inner) {
        return Ok(Reference::Var(inner));
    }
    Err(format!("unknown reference `${{{shown}}}`: expected {FORMS} (write `$${{` for a literal `${{`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(value: &str) -> Vec<Reference<'_>> {
        references(value).into_iter().map(|(r, _)| r).collect()
    }

    #[test]
    fn every_form_is_read() {
        assert_eq!(
            refs("${outputs.net-1.vpc_id}/${DB_HOST}:${secret:PW}@${env:HOME}"),
            [
                Reference::Output { job: "net-1", name: "vpc_id" },
                Reference::Var("DB_HOST"),
                Reference::Secret("PW"),
                Reference::Env("HOME"),
            ]
        );
        let p = pieces("a ${X} b").unwrap();
        assert_eq!(p, [Piece::Text("a "), Piece::Ref { reference: Reference::Var("X"), offset: 2 }, Piece::Text(" b")]);
        assert_eq!(Reference::Output { job: "n", name: "v" }.to_string(), "${outputs.n.v}");
    }

    #[test]
    fn literals_and_lone_dollars_are_text() {
        let text: String = pieces("$$ $${env:X} $5 $")
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t.to_string(),
                Piece::Ref { .. } => panic!("no reference"),
            })
            .collect();
        assert_eq!(text, "$$ ${env:X} $5 $");
    }

    #[test]
    fn bad_syntax_says_what_to_write() {
        let e = |v: &str| pieces(v).unwrap_err();
        assert_eq!(e("x ${env:HOME").offset, 2);
        assert!(e("x ${env:HOME").message.starts_with("unterminated `${`"));
        assert!(e("${}").message.contains("names nothing"));
        assert!(e("${vault:x}").message.starts_with("unknown reference `${vault:x}`: expected `${NAME}`"));
        assert_eq!(e("a${vault:x}").written, "${vault:x}");
        assert!(e("${outputs.net}").message.contains("write `${outputs.JOB.NAME}`"));
        assert!(e("${outputs.Net.x}").message.contains("not a job name"));
        assert!(e("${outputs.net.db-host}").message.contains("output name `db-host` is not a variable name"));
        assert!(e("${env:1X}").message.contains("`1X` is not a variable name"));
        assert!(e("${secret:}").message.contains("secret name"));
    }
}
