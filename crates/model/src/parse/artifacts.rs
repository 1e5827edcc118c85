//! `artifacts:` at the top level: each artifact's image repository (`REGISTRY/REPOSITORY`),
//! the pattern of an environment's tag (`{env}` by default), registry credentials and the
//! order versions are promoted through environments; and the check that a job's
//! `artifacts: [NAME]` names declared ones.

use indexmap::IndexMap;

use super::job::{ParsedJob, unique_strings};
use super::walk::{Diags, Pos, Slot, check_keys, closest, get, shorten};
use super::{check_name, environments::ParsedEnv};
use crate::project::{ArtifactCredentials, ArtifactDef};

pub const ARTIFACT_KEYS: &[&str] = &["image", "tag", "credentials", "order"];
const CREDENTIAL_KEYS: &[&str] = &["username", "password"];

/// An artifact plus where its `order` entries are written.
pub(super) struct ParsedArtifact {
    pub def: ArtifactDef,
    pub order: Vec<(String, Pos)>,
}

pub(super) fn artifacts(d: &mut Diags, slot: &Slot<'_>) -> IndexMap<String, ParsedArtifact> {
    let mut out = IndexMap::new();
    for (key, node) in slot.entries(d, "a mapping of artifact names to artifacts").unwrap_or_default() {
        let (name, at) = (key.as_str(), Pos::of(key.span()));
        check_name(d, "artifact", name, at);
        let label = format!("artifact `{}`", shorten(name));
        let entries = Slot::new(node, at, label.clone()).entries(d, "a mapping with `image`").unwrap_or_default();
        check_keys(d, &entries, ARTIFACT_KEYS, &label);
        let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}` of {label}")));
        let image = match field("image") {
            None => {
                d.error(at, format!("{label} has no `image`: write its repository, e.g. `image: registry.example.com/library/software`"));
                String::new()
            }
            Some(slot) => slot.string(d, "an image repository").map(|s| check_image(d, &slot, s)).unwrap_or_default(),
        };
        let tag = field("tag")
            .and_then(|slot| slot.string(d, "a tag pattern such as `{env}`").map(|t| check_tag(d, &slot, t)))
            .unwrap_or_else(|| "{env}".to_string());
        let credentials = field("credentials").and_then(|slot| credentials(d, &slot));
        let order = field("order").and_then(|s| unique_strings(d, &s)).unwrap_or_default();
        let def = ArtifactDef {
            name: name.to_string(),
            image,
            tag,
            credentials,
            order: order.iter().map(|(e, _)| e.clone()).collect(),
        };
        out.insert(name.to_string(), ParsedArtifact { def, order });
    }
    out
}

/// `REGISTRY/REPOSITORY`: a registry host (with a `.` or a port, or `localhost`), a path,
/// and no tag or digest (the version is what a promotion gives).
fn check_image(d: &mut Diags, slot: &Slot<'_>, image: String) -> String {
    let (host, path) = image.split_once('/').unwrap_or(("", ""));
    let host_ok = host.contains('.') || host.contains(':') || host == "localhost";
    let last = path.rsplit('/').next().unwrap_or("");
    let problem = if !host_ok || path.is_empty() {
        Some(
            "must be REGISTRY/REPOSITORY with the registry's host first (e.g. `registry.example.com/library/software`, `127.0.0.1:5000/software`)",
        )
    } else if image.contains('@') || last.contains(':') {
        Some("must name the repository only, without a tag or digest: the version comes from the promotion")
    } else if !path.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b)) {
        Some("must be a repository path of lowercase letters, digits, `.`, `_`, `-` and `/`")
    } else {
        None
    };
    if let Some(problem) = problem {
        d.error(slot.pos(), format!("{} `{}` {problem}", slot.label, shorten(&image)));
    }
    image
}

/// A tag pattern: `{env}` is the environment's name; the result must be a valid tag.
fn check_tag(d: &mut Diags, slot: &Slot<'_>, tag: String) -> String {
    let sample = tag.replace("{env}", "env");
    let ok = !sample.is_empty()
        && sample.len() <= 128
        && sample.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !sample.starts_with(['.', '-']);
    if !ok {
        d.error(
            slot.pos(),
            format!(
                "{} `{}` must give a valid tag: letters, digits, `_`, `.`, `-` (not first), with `{{env}}` for the environment's name",
                slot.label,
                shorten(&tag)
            ),
        );
    }
    tag
}

fn credentials(d: &mut Diags, slot: &Slot<'_>) -> Option<ArtifactCredentials> {
    let entries = slot.entries(d, "a mapping {username, password}")?;
    check_keys(d, &entries, CREDENTIAL_KEYS, &slot.label);
    let mut read = |key: &str| {
        let Some((p, n)) = get(&entries, key) else {
            d.error(slot.pos(), format!("{} has no `{key}`", slot.label));
            return None;
        };
        Slot::new(n, p, format!("`{key}` of {}", slot.label)).string(d, "text, e.g. `${secret:REGISTRY_PASSWORD}`")
    };
    let username = read("username");
    let password = read("password");
    Some(ArtifactCredentials { username: username?, password: password? })
}

/// A job's `artifacts` name declared ones; an artifact's `order` names environments.
pub(super) fn check(
    d: &mut Diags,
    artifacts: &IndexMap<String, ParsedArtifact>,
    jobs: &IndexMap<String, ParsedJob>,
    envs: &IndexMap<String, ParsedEnv>,
) {
    let names: Vec<&str> = artifacts.keys().map(String::as_str).collect();
    for (job, parsed) in jobs {
        for (name, at) in &parsed.artifacts {
            if !artifacts.contains_key(name) {
                let mut message = format!("job `{job}` consumes unknown artifact `{}`", shorten(name));
                message.push_str(&if names.is_empty() {
                    "; declare it under the top-level `artifacts:`".to_string()
                } else {
                    format!("; the artifacts are {}", names.join(", "))
                });
                if let Some(close) = closest(name, &names) {
                    message.push_str(&format!("; did you mean `{close}`?"));
                }
                d.error(*at, message);
            }
        }
    }
    let env_names: Vec<&str> = envs.keys().map(String::as_str).collect();
    for (name, parsed) in artifacts {
        for (env, at) in &parsed.order {
            if !envs.contains_key(env) {
                d.error(
                    *at,
                    format!(
                        "`order` of artifact `{name}` names unknown environment `{}`; the environments are {}",
                        shorten(env),
                        env_names.join(", ")
                    ),
                );
            }
        }
    }
}
