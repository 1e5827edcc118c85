//! `previews:` at the top level: each preview class's repository, the environment it
//! copies, the variables a pull request sets (`${pr.NAME}`), label filters, drafts, TTL,
//! the cap on concurrent previews and the URL pattern; and the checks across the file
//! (`from` names a declared environment, one class per repository).

use indexmap::IndexMap;
use marked_yaml::Node;

use super::check_name;
use super::environments::ParsedEnv;
use super::job::unique_strings;
use super::walk::{Diags, Pos, Slot, check_keys, closest, get, is_null, shorten};
use crate::names::is_valid_variable_name;
use crate::preview::{PR_FIELDS, PreviewDef, pr_references};
use crate::project::{Ttl, VariableDef};

pub const PREVIEW_KEYS: &[&str] =
    &["repository", "from", "variables", "labels", "drafts", "ttl", "max", "url", "infrastructure", "infra_branch"];
pub const LABEL_KEYS: &[&str] = &["include", "exclude"];
/// The most previews one class may keep at once.
pub const MAX_PREVIEWS: u32 = 10_000;

/// A class plus where its `from` and `repository` are written.
pub(super) struct ParsedPreview {
    pub def: PreviewDef,
    pub from_at: Pos,
    pub repository_at: Pos,
}

pub(super) fn previews(d: &mut Diags, slot: &Slot<'_>) -> IndexMap<String, ParsedPreview> {
    let mut out = IndexMap::new();
    for (key, node) in slot.entries(d, "a mapping of preview class names to classes").unwrap_or_default() {
        let (name, at) = (key.as_str(), Pos::of(key.span()));
        check_name(d, "preview class", name, at);
        let label = format!("preview class `{}`", shorten(name));
        let entries =
            Slot::new(node, at, label.clone()).entries(d, "a mapping with `repository` and `from`").unwrap_or_default();
        check_keys(d, &entries, PREVIEW_KEYS, &label);
        let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}` of {label}")));
        let mut required = |key: &str, example: &str| match field(key) {
            None => {
                d.error(at, format!("{label} has no `{key}`: {example}"));
                (String::new(), at)
            }
            Some(s) => (s.string(d, "text").unwrap_or_default(), s.pos()),
        };
        let (repository, repository_at) = required(
            "repository",
            "name the repository whose pull requests open previews, e.g. `repository: github.com/acme/hello-service`",
        );
        let (from, from_at) =
            required("from", "name the declared environment each preview copies, e.g. `from: preview`");
        if !repository.is_empty() {
            check_repository(d, repository_at, &label, &repository);
        }
        let variables = field("variables").map(|s| variables(d, &s)).unwrap_or_default();
        let (include_labels, exclude_labels) = field("labels").map(|s| labels(d, &s)).unwrap_or_default();
        let drafts = field("drafts").and_then(|s| s.boolean(d)).unwrap_or(false);
        let infrastructure = field("infrastructure").and_then(|s| s.boolean(d)).unwrap_or(false);
        let infra_branch =
            field("infra_branch").and_then(|s| super::git_source::branch(d, &s)).unwrap_or_else(|| "main".to_string());
        let ttl = field("ttl").and_then(|s| {
            let declared = s.string(d, "a duration such as `72h`")?;
            super::job::duration(d, &s).map(|duration| Ttl { duration, declared })
        });
        let max = field("max").and_then(|s| {
            let n = s.number(d, MAX_PREVIEWS)?;
            if n == 0 {
                d.error(s.pos(), format!("{} must be at least 1 (leave it out for no cap)", s.label));
                return None;
            }
            Some(n)
        });
        let url = field("url").and_then(|s| url(d, &s));
        let def = PreviewDef {
            name: name.to_string(),
            repository: repository.to_string(),
            from,
            variables,
            include_labels,
            exclude_labels,
            drafts,
            ttl,
            max,
            url,
            infrastructure,
            infra_branch,
        };
        out.insert(name.to_string(), ParsedPreview { def, from_at, repository_at });
    }
    out
}

/// `HOST/OWNER/REPO`: a host with a dot or a port, then at least two path segments, no
/// scheme (the forge's webhook says which forge it is).
fn check_repository(d: &mut Diags, at: Pos, label: &str, repository: &str) {
    let segments: Vec<&str> = repository.split('/').collect();
    let host = segments[0];
    let problem = if repository.contains("://") {
        Some("must not have a scheme: write `github.com/OWNER/REPO` or `gitlab.com/GROUP/PROJECT`")
    } else if segments.len() < 3 || segments.iter().any(|s| s.is_empty()) {
        Some("must be HOST/OWNER/REPO, e.g. `github.com/acme/hello-service` or `gitlab.com/group/project`")
    } else if !(host.contains('.') || host.contains(':')) {
        Some("must start with the forge's host, e.g. `github.com` or `gitlab.example.com`")
    } else if !repository.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b)) {
        Some("may hold only letters, digits, `.`, `_`, `-`, `/` (and `:` for a port)")
    } else {
        None
    };
    if let Some(problem) = problem {
        d.error(at, format!("`repository` of {label} `{}` {problem}", shorten(repository)));
    }
}

/// `NAME: value`; `${pr.NAME}` must name a known field. No long form: a secret is a
/// `${secret:NAME}` reference, so no secret is ever kept in clear with the preview.
fn variables(d: &mut Diags, slot: &Slot<'_>) -> IndexMap<String, VariableDef> {
    let mut out = IndexMap::new();
    for (key, node) in slot.entries(d, "a mapping of variable names to values").unwrap_or_default() {
        let (name, at) = (key.as_str(), Pos::of(key.span()));
        if !is_valid_variable_name(name) || name.starts_with("TERRACE_") {
            d.error(
                at,
                format!(
                    "invalid variable name `{}` in {}: expected letters, digits and `_`, not starting with a digit nor with `TERRACE_`",
                    shorten(name),
                    slot.label
                ),
            );
            continue;
        }
        let label = format!("variable `{name}` of {}", slot.label);
        let value_slot = Slot::new(node, at, label.clone());
        let value = match node {
            Node::Mapping(_) | Node::Sequence(_) => {
                d.error(
                    at,
                    format!(
                        "{label} must be a plain value: a preview's variables are kept with its record, so a secret is written `${{secret:NAME}}` (a secret of the store), never in clear"
                    ),
                );
                continue;
            }
            _ if is_null(node) => {
                d.error(at, format!("{label} has no value; write `{name}: \"\"` for an empty string"));
                continue;
            }
            _ => match value_slot.string(d, "a string") {
                Some(v) => v,
                None => continue,
            },
        };
        if check_value(d, &value_slot, &value) {
            out.insert(name.to_string(), VariableDef { value, secret: false });
        }
    }
    out
}

/// Every `${pr.NAME}` names a field, and the rest is valid `${...}` syntax.
fn check_value(d: &mut Diags, slot: &Slot<'_>, value: &str) -> bool {
    for (field, _) in pr_references(value) {
        if !PR_FIELDS.contains(&field) {
            let mut message = format!(
                "{} uses `${{pr.{}}}`, which is not a pull request field: the fields are {}",
                slot.label,
                shorten(field),
                PR_FIELDS.iter().map(|f| format!("`${{pr.{f}}}`")).collect::<Vec<_>>().join(", ")
            );
            if let Some(close) = closest(field, PR_FIELDS) {
                message.push_str(&format!("; did you mean `${{pr.{close}}}`?"));
            }
            d.error(slot.pos(), message);
            return false;
        }
    }
    let sample = crate::preview::expand(value, |_| Some("x".into()));
    match crate::refs::pieces(&sample) {
        Ok(_) => true,
        Err(e) => {
            d.error(slot.pos(), format!("{}: {}", slot.label, e.message));
            false
        }
    }
}

fn labels(d: &mut Diags, slot: &Slot<'_>) -> (Vec<String>, Vec<String>) {
    let entries = slot.entries(d, "a mapping {include: [...], exclude: [...]}").unwrap_or_default();
    check_keys(d, &entries, LABEL_KEYS, &slot.label);
    let mut list = |key: &str| {
        get(&entries, key)
            .and_then(|(p, n)| unique_strings(d, &Slot::new(n, p, format!("`{key}` of {}", slot.label))))
            .map(|l| l.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let include = list("include");
    let exclude = list("exclude");
    if let Some(both) = include.iter().find(|l| exclude.contains(l)) {
        d.error(slot.pos(), format!("label `{}` is both included and excluded in {}", shorten(both), slot.label));
    }
    (include, exclude)
}

/// `https://{id}.previews.example.com`: http(s), with `{id}`.
fn url(d: &mut Diags, slot: &Slot<'_>) -> Option<String> {
    let text = slot.string(d, "a URL pattern such as `https://{id}.previews.example.com`")?;
    let problem = if !(text.starts_with("https://") || text.starts_with("http://")) {
        Some("must start with `https://` or `http://`")
    } else if !text.contains("{id}") {
        Some("must hold `{id}` (the preview's id), e.g. `https://{id}.previews.example.com`")
    } else if text.chars().any(char::is_whitespace) {
        Some("must not hold spaces")
    } else {
        None
    };
    match problem {
        Some(p) => {
            d.error(slot.pos(), format!("{} `{}` {p}", slot.label, shorten(&text)));
            None
        }
        None => Some(text),
    }
}

/// `from` names a declared environment; a repository belongs to one class.
pub(super) fn check(d: &mut Diags, previews: &IndexMap<String, ParsedPreview>, envs: &IndexMap<String, ParsedEnv>) {
    let env_names: Vec<&str> = envs.keys().map(String::as_str).collect();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (name, parsed) in previews {
        let from = parsed.def.from.as_str();
        if !from.is_empty() && !envs.contains_key(from) {
            let mut message = format!("`from` of preview class `{name}` names unknown environment `{}`", shorten(from));
            message.push_str(&if env_names.is_empty() {
                "; declare it under `environments:` (the environment every preview copies)".to_string()
            } else {
                format!("; the environments are {}", env_names.join(", "))
            });
            if let Some(close) = closest(from, &env_names) {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            d.error(parsed.from_at, message);
        }
        let repository = parsed.def.repository.as_str();
        if repository.is_empty() {
            continue;
        }
        match seen.iter().find(|(r, _)| r.eq_ignore_ascii_case(repository)) {
            Some((_, other)) => d.error(
                parsed.repository_at,
                format!(
                    "preview classes `{other}` and `{name}` both take pull requests of `{repository}`: a repository opens previews of one class"
                ),
            ),
            None => seen.push((repository, name)),
        }
    }
}
