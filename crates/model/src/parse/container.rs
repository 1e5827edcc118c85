//! A job's container settings: `image` (a reference such as `registry:5000/team/tool:1.2`
//! or `name@sha256:...`), `dockerfile` (relative to the job's source folder, its build
//! context), `entrypoint` (a list: the program and its first arguments; a string: one
//! program) and `resources: {cpu, memory}` in Kubernetes notation. `image` and
//! `dockerfile` exclude each other; the first three need a container executor, which
//! `check` verifies for every environment the job runs in.

use marked_yaml::Node;

use super::job::{ParsedJob, relative_path};
use super::walk::{Diags, Pos, Slot, check_keys, get, shorten};
use crate::project::{CONTAINER_EXECUTORS, ContainerSettings, Project};
use crate::resources::{CPU_HELP, MEMORY_HELP, ResourceSpec, cpu_millis, memory_bytes};

pub(super) const RESOURCE_KEYS: &[&str] = &["cpu", "memory"];

/// The longest image reference Docker accepts.
const MAX_REFERENCE: usize = 255;

pub(super) fn settings<'a>(d: &mut Diags, field: &dyn Fn(&str) -> Option<Slot<'a>>) -> ContainerSettings {
    let image = field("image").and_then(|s| image(d, &s));
    let dockerfile = field("dockerfile").and_then(|s| relative_path(d, &s));
    if let (Some(_), Some(slot)) = (&image, field("dockerfile"))
        && dockerfile.is_some()
    {
        d.error(
            slot.pos(),
            format!(
                "{} and `image` exclude each other: a job runs an image from a registry, or one built from its source folder",
                slot.label
            ),
        );
    }
    let entrypoint = field("entrypoint").and_then(|s| entrypoint(d, &s));
    let resources = field("resources").map(|s| resources(d, &s)).unwrap_or_default();
    ContainerSettings { image, dockerfile, entrypoint, resources }
}

/// An image reference: `[host[:port]/]path[:tag][@sha256:hex]`, lowercase path components.
fn image(d: &mut Diags, slot: &Slot<'_>) -> Option<String> {
    let text = slot.string(d, "an image reference such as `registry.example.com/team/tool:1.2`")?;
    match reference_problem(&text) {
        None => Some(text),
        Some(problem) => {
            d.error(slot.pos(), format!("{} `{}` is not an image reference: {problem}", slot.label, shorten(&text)));
            None
        }
    }
}

/// What is wrong with an image reference, if anything.
pub fn reference_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("it is empty".into());
    }
    if text.len() > MAX_REFERENCE {
        return Some(format!("it is longer than {MAX_REFERENCE} characters"));
    }
    let (name, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Some("a digest is `sha256:` and 64 lowercase hex digits".into());
        }
    }
    // A tag follows the last ':' that comes after the last '/' (a port comes before it).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Some("a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`".into());
        }
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    // The first part is a registry host when it has a '.' or a ':' or is `localhost`.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let host = parts.remove(0);
        let (h, port) = host.split_once(':').unwrap_or((host, "1"));
        let host_ok = !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        if !host_ok || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Some(format!("`{}` is not a registry host[:port]", shorten(host)));
        }
    }
    for part in &parts {
        let ok = !part.is_empty()
            && part.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Some(format!(
                "the name part `{}` must be lowercase letters and digits, separated by `.`, `_` or `-`",
                shorten(part)
            ));
        }
    }
    None
}

fn entrypoint(d: &mut Diags, slot: &Slot<'_>) -> Option<Vec<String>> {
    let argv = match slot.node {
        Node::Sequence(_) => slot.strings(d)?,
        _ => vec![(slot.string(d, "a program or a list of a program and its first arguments")?, slot.pos())],
    };
    match argv.first() {
        None => {
            d.error(slot.pos(), format!("{} is empty: leave it out to use the image's own entrypoint", slot.label));
            None
        }
        Some((program, at)) if program.trim().is_empty() => {
            d.error(*at, format!("the program of {} is empty", slot.label));
            None
        }
        Some(_) => Some(argv.into_iter().map(|(s, _)| s).collect()),
    }
}

fn resources(d: &mut Diags, slot: &Slot<'_>) -> ResourceSpec {
    let entries = slot.entries(d, "a mapping with `cpu` and `memory`").unwrap_or_default();
    check_keys(d, &entries, RESOURCE_KEYS, &slot.label);
    let quantity = |d: &mut Diags, key: &str, parse: fn(&str) -> Result<u64, String>, help: &str| {
        let (at, node) = get(&entries, key)?;
        let value = Slot::new(node, at, format!("`{key}` in {}", slot.label));
        let text = value.string(d, help)?;
        match parse(&text) {
            Ok(_) => Some(text.trim().to_string()),
            Err(problem) => {
                d.error(value.pos(), format!("{}: {problem}", value.label));
                None
            }
        }
    };
    ResourceSpec {
        cpu: quantity(d, "cpu", cpu_millis, CPU_HELP),
        memory: quantity(d, "memory", memory_bytes, MEMORY_HELP),
    }
}

/// A job whose container settings need a container executor but that runs on another in
/// some environment (or, with no environments, by the project's default).
pub(super) fn check(d: &mut Diags, project: &Project, jobs: &indexmap::IndexMap<String, ParsedJob>) {
    for (name, parsed) in jobs {
        let keys = parsed.job.container.container_only_keys();
        if keys.is_empty() {
            continue;
        }
        let mut envs: Vec<&str> =
            project.environments.keys().map(String::as_str).filter(|e| parsed.job.runs_in(e)).collect();
        if project.environments.is_empty() {
            envs.push("");
        }
        let on_other: Vec<(&str, String)> = envs
            .into_iter()
            .map(|e| (e, project.executor_of(e, &parsed.job)))
            .filter(|(_, x)| !CONTAINER_EXECUTORS.contains(&x.as_str()))
            .collect();
        let Some((_, executor)) = on_other.first() else { continue };
        let at: Pos = parsed.container_at;
        let place =
            match on_other.iter().filter(|(e, _)| !e.is_empty()).map(|(e, _)| format!("`{e}`")).collect::<Vec<_>>() {
                names if names.is_empty() => String::new(),
                names => format!(" in environment{} {}", if names.len() == 1 { "" } else { "s" }, names.join(", ")),
            };
        d.error(
            at,
            format!(
                "job `{name}` sets `{}`, which only a container executor ({}) uses, but it runs on the `{executor}` executor{place}: add `executor: docker` to the job, its environment or the project",
                keys.join("`, `"),
                CONTAINER_EXECUTORS.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::reference_problem;

    #[test]
    fn image_references() {
        for ok in [
            "busybox",
            "library/busybox:1.36",
            "127.0.0.1:5000/team/tool:v1.2-rc.1",
            "localhost/x",
            "registry.example.com/a/b/c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "sha256-like:tag",
        ] {
            assert_eq!(reference_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("a b", "lowercase"),
            ("x:", "tag"),
            ("x:-1", "tag"),
            ("x@sha256:12", "digest"),
            ("host:port/x", "host"),
            ("a//b", "lowercase"),
        ] {
            let problem = reference_problem(bad).unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }
}
