//! `previews:`: a full class reads back, and each rule reports its place.

use std::time::Duration;

use super::tests::problems;
use super::*;

const ENVS: &str = "project: p\nenvironments:\n  preview: {}\njobs:\n  app:\n    events: [start, delete]\n    commands: {start: 'true', delete: 'true'}\n";

fn with(previews: &str) -> String {
    format!("{ENVS}previews:\n{previews}")
}

#[test]
fn a_class_reads_back() {
    let yaml = with(
        "  hello:\n    repository: github.com/acme/hello-service\n    from: preview\n    variables:\n      CODE_VERSION: ${pr.head_sha}\n      INFRA_BRANCH: ${pr.infra_branch}\n      TOKEN: '${secret:T}'\n    labels: {include: [preview], exclude: [wip]}\n    drafts: true\n    ttl: 72h\n    max: 5\n    url: https://{id}.previews.example.com\n    infra_branch: trunk\n  infra:\n    repository: gitlab.com/acme/sub/infra\n    from: preview\n    infrastructure: true\n",
    );
    let p = parse_project("terrace.yaml", &yaml).unwrap();
    let c = &p.previews["hello"];
    assert_eq!(c.repository, "github.com/acme/hello-service");
    assert_eq!(c.from, "preview");
    assert_eq!(c.variables["CODE_VERSION"].value, "${pr.head_sha}");
    assert_eq!(c.variables["TOKEN"].value, "${secret:T}");
    assert_eq!(c.include_labels, ["preview"]);
    assert_eq!(c.exclude_labels, ["wip"]);
    assert!(c.drafts && !c.infrastructure);
    assert_eq!(c.ttl.as_ref().unwrap().duration, Duration::from_secs(72 * 3600));
    assert_eq!(c.max, Some(5));
    assert_eq!(c.url.as_deref(), Some("https://{id}.previews.example.com"));
    assert_eq!(c.infra_branch, "trunk");
    let infra = &p.previews["infra"];
    assert!(infra.infrastructure && !infra.drafts);
    assert_eq!(infra.infra_branch, "main");
    assert!(infra.include_labels.is_empty() && infra.max.is_none());
}

#[test]
fn required_keys_and_known_environment() {
    assert_eq!(
        problems(&with("  a: {}\n")),
        [
            "9:3: preview class `a` has no `repository`: name the repository whose pull requests open previews, e.g. `repository: github.com/acme/hello-service`",
            "9:3: preview class `a` has no `from`: name the declared environment each preview copies, e.g. `from: preview`",
        ]
    );
    assert_eq!(
        problems(&with("  a: {repository: github.com/a/b, from: previw}\n")),
        [
            "9:41: `from` of preview class `a` names unknown environment `previw`; the environments are preview; did you mean `preview`?"
        ]
    );
}

#[test]
fn repository_rules() {
    let one = |repo: &str| problems(&with(&format!("  a: {{repository: '{repo}', from: preview}}\n")));
    assert!(one("https://github.com/a/b")[0].contains("must not have a scheme"));
    assert!(one("github.com/a")[0].contains("must be HOST/OWNER/REPO"));
    assert!(one("acme/hello/x")[0].contains("must start with the forge's host"));
    assert!(one("github.com/a b/c")[0].contains("may hold only"));
    assert_eq!(one("github.com/a b/c")[0].split(": ").next(), Some("9:19"));
    let twice = problems(&with(
        "  a: {repository: github.com/a/b, from: preview}\n  b: {repository: GitHub.com/a/b, from: preview}\n",
    ));
    assert_eq!(
        twice,
        [
            "10:19: preview classes `a` and `b` both take pull requests of `GitHub.com/a/b`: a repository opens previews of one class"
        ]
    );
}

#[test]
fn variables_labels_url_max() {
    let base = "  a:\n    repository: github.com/a/b\n    from: preview\n";
    let p = problems(&with(&format!("{base}    variables: {{V: '${{pr.sha}}', TERRACE_X: y}}\n")));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("12:20: variable `V` of `variables` of preview class `a` uses `${pr.sha}`, which is not a pull request field: the fields are `${pr.head_sha}`"),
        "{p:?}"
    );
    assert!(p[1].starts_with("12:33: invalid variable name `TERRACE_X`"), "{p:?}");
    let p = problems(&with(&format!("{base}    variables: {{V: '${{pr.id}}-${{nope'}}\n")));
    assert!(p[0].contains("unterminated `${`"), "{p:?}");
    let p = problems(&with(&format!("{base}    variables: {{V: {{value: x, secret: true}}}}\n")));
    assert!(p[0].contains("must be a plain value") && p[0].contains("${secret:NAME}"), "{p:?}");
    let p = problems(&with(&format!("{base}    labels: {{include: [x], exclude: [x], only: [y]}}\n")));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("12:5: label `x` is both included and excluded"), "{p:?}");
    assert!(p[1].contains("unknown key `only` in `labels` of preview class `a`"), "{p:?}");
    let p = problems(&with(&format!("{base}    url: https://previews.example.com\n    max: 0\n    ttl: soon\n")));
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0].contains("must hold `{id}`"), "{p:?}");
    assert!(p[1].starts_with("13:10: `max` of preview class `a` must be at least 1"), "{p:?}");
    assert!(p[2].contains("`ttl` of preview class `a` `soon` is not a duration"), "{p:?}");
    let p = problems(&with(&format!("{base}    drafts: yes\n    fetch: 1\n")));
    assert!(p[0].contains("`drafts` of preview class `a` must be true or false"), "{p:?}");
    assert!(p[1].contains("unknown key `fetch` in preview class `a`"), "{p:?}");
}
