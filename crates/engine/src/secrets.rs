//! The rules for what can be a secret (terrace_exec::mask::check), as a run meets them:
//! a secret variable over 64 KiB fails the run before anything starts (it could not be
//! masked); a secret of fewer than 4 characters is not masked, and the run log says so once.

use terrace_exec::{MAX_SECRET_BYTES, MIN_SECRET_CHARS, Unmaskable};
use terrace_model::vars::Resolved;

/// The reason a run cannot start because of a secret too long to mask.
pub(crate) fn too_long(resolved: &Resolved) -> Option<String> {
    let (name, var) = resolved
        .vars
        .iter()
        .find(|(_, v)| v.secret && terrace_exec::mask::check(&v.value) == Err(Unmaskable::TooLong))?;
    Some(format!(
        "secret variable `{name}` holds {} bytes, over the limit of 64 KiB ({MAX_SECRET_BYTES} bytes) for a secret: longer secrets cannot be masked in logs; pass it in a file instead",
        var.value.len()
    ))
}

/// The run's secret variables (outputs of other jobs included) that are too short to mask.
pub(crate) fn short_variables_note(resolved: &Resolved) -> Option<String> {
    short_secret_note(resolved.vars.iter().filter(|(_, v)| v.secret).map(|(name, v)| (name.as_str(), v.value.as_str())))
        .map(|note| note.replacen("secrets", "secret variables", 1))
}

/// One line naming the (labelled) secrets too short to mask, if any; values never appear.
pub(crate) fn short_secret_note<'a>(secrets: impl Iterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut names: Vec<&str> = secrets
        .filter(|(_, value)| terrace_exec::mask::check(value) == Err(Unmaskable::TooShort))
        .map(|(name, _)| name)
        .collect();
    if names.is_empty() {
        return None;
    }
    names.dedup();
    Some(format!(
        "secrets of fewer than {MIN_SECRET_CHARS} characters are not masked in logs (they cannot be told from ordinary text): {}",
        names
            .iter()
            .map(|n| if n.contains('`') { n.to_string() } else { format!("`{n}`") })
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_model::vars::ResolvedVar;

    fn resolved(vars: &[(&str, &str, bool)]) -> Resolved {
        let mut r = Resolved::default();
        for (k, v, secret) in vars {
            r.vars.insert(k.to_string(), ResolvedVar { value: v.to_string(), secret: *secret });
        }
        r
    }

    #[test]
    fn short_and_long_secrets_are_named_never_shown() {
        let r = resolved(&[("PIN", "42", true), ("X", "y", false), ("TOKEN", "long-enough", true)]);
        let note = short_variables_note(&r).unwrap();
        assert!(note.contains("`PIN`") && !note.contains("42") && !note.contains("TOKEN"), "{note}");
        assert!(too_long(&r).is_none());
        let big = "x".repeat(MAX_SECRET_BYTES + 1);
        let r = resolved(&[("CERT", &big, true)]);
        let reason = too_long(&r).unwrap();
        assert!(reason.contains("`CERT` holds 65537 bytes, over the limit of 64 KiB"), "{reason}");
        assert!(short_variables_note(&resolved(&[("A", "long value", true)])).is_none());
    }
}
