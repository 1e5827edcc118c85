//! `source:` of a job: a folder of the project (a string) or a git repository
//! (`{git: URL, ref: REF, path: SUBDIR}`, with credentials only as `${secret:NAME}`
//! references). The URL is checked here for what needs no IO; the git layer checks the
//! rest when it mirrors the repository.

use std::path::PathBuf;

use marked_yaml::Node;

use super::job::relative_path;
use super::walk::{Diags, Slot, check_keys, get, shorten};
use crate::names::is_valid_variable_name;
use crate::project::GitSource;

/// The keys of a git source.
pub const GIT_SOURCE_KEYS: &[&str] = &["git", "ref", "path", "token", "ssh_key"];

/// What `source:` says: a folder, a repository, or nothing usable.
pub(super) enum JobSource {
    Folder(PathBuf),
    Git(GitSource),
}

pub(super) fn source(d: &mut Diags, slot: &Slot<'_>) -> Option<JobSource> {
    match slot.node {
        Node::Mapping(_) => git(d, slot).map(JobSource::Git),
        _ => relative_path(d, slot).map(JobSource::Folder),
    }
}

fn git(d: &mut Diags, slot: &Slot<'_>) -> Option<GitSource> {
    let entries = slot.entries(d, "a folder or `{git: URL, ref: REF, path: SUBDIR}`")?;
    check_keys(d, &entries, GIT_SOURCE_KEYS, &slot.label);
    let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}` of {}", slot.label)));
    let url = match field("git") {
        Some(s) => s.string(d, "a repository URL").filter(|u| check_url(d, &s, u)),
        None => {
            d.error(slot.pos(), format!("{} needs `git`: the repository's URL", slot.label));
            None
        }
    };
    let reference = match field("ref") {
        Some(s) => s.string(d, "a branch, tag or commit").filter(|r| check_ref(d, &s, r)),
        None => {
            d.error(slot.pos(), format!("{} needs `ref`: the branch, tag or commit to check out", slot.label));
            None
        }
    };
    let path = match field("path") {
        Some(s) => relative_path(d, &s).map(|p| p.to_string_lossy().trim_matches('/').to_string()),
        None => Some(String::new()),
    };
    let path = path.map(|p| if p == "." { String::new() } else { p });
    let token_secret = field("token").and_then(|s| secret_name(d, &s));
    let ssh_key_secret = field("ssh_key").and_then(|s| secret_name(d, &s));
    if token_secret.is_some() && ssh_key_secret.is_some() {
        d.error(slot.pos(), format!("{} gives both `token` and `ssh_key`: give the one its URL uses", slot.label));
    }
    Some(GitSource { url: url?, reference: reference?, path: path?, token_secret, ssh_key_secret })
}

/// What can be said of a URL without IO: present, one word, no credentials in it.
fn check_url(d: &mut Diags, slot: &Slot<'_>, url: &str) -> bool {
    let problem = if url.is_empty() {
        "is empty"
    } else if url.starts_with('-') {
        "starts with `-`, which git would read as an option"
    } else if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "contains whitespace or control characters"
    } else if has_password(url) {
        "holds credentials: give a token as `token: ${secret:NAME}` instead, never in the URL"
    } else {
        return true;
    };
    d.error(slot.pos(), format!("{} {problem}", slot.label));
    false
}

/// `scheme://user:password@host/...`: a URL that carries a secret.
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':') || userinfo.len() > 40)
}

pub(super) fn check_ref(d: &mut Diags, slot: &Slot<'_>, reference: &str) -> bool {
    let problem = if reference.is_empty() {
        "is empty"
    } else if reference.starts_with('-') {
        "starts with `-`, which git would read as an option"
    } else if reference.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
        || reference.contains("..")
        || reference.contains("@{")
    {
        "is not a valid git ref: no whitespace, `..`, `~`, `^`, `:`, `?`, `*`, `[`, `\\` or `@{`"
    } else {
        return true;
    };
    d.error(slot.pos(), format!("{} `{}` {problem}", slot.label, shorten(reference)));
    false
}

/// `${secret:NAME}`: the only way a credential is written in the project file.
fn secret_name(d: &mut Diags, slot: &Slot<'_>) -> Option<String> {
    let text = slot.string(d, "a secret reference `${secret:NAME}`")?;
    let name = text.strip_prefix("${secret:").and_then(|t| t.strip_suffix('}'));
    match name {
        Some(name) if is_valid_variable_name(name) => Some(name.to_string()),
        _ => {
            d.error(
                slot.pos(),
                format!(
                    "{} must be a secret reference `${{secret:NAME}}` (set with `terrace secret set`): a credential is never written in terrace.yaml",
                    slot.label
                ),
            );
            None
        }
    }
}

/// A branch name (`branch:` of an environment).
pub(super) fn branch(d: &mut Diags, slot: &Slot<'_>) -> Option<String> {
    let name = slot.string(d, "a branch name")?;
    let name = name.strip_prefix("refs/heads/").map(str::to_string).unwrap_or(name);
    check_ref(d, slot, &name).then_some(name)
}
