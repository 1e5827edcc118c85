//! Promotion through the real binary against Debian's `docker-registry` on 127.0.0.1
//! (seed 003): four environments with one tag each, 0.0.3 (a multi-platform index)
//! promoted to dev then dev → alpha → stage → prod with an approval on prod; after each
//! step the environment's tag points at the right digest, the consuming job ran once with
//! the artifact's variables; the order rule, a version that does not exist, a rollback a
//! later promotion does not undo, a registry that is away, and the audit log.

mod common;

use common::TestProject;
use common::registry::Registry;
use serde_json::Value;

const REPO: &str = "library/software";

fn project(registry: &Registry) -> TestProject {
    let p = TestProject::new("project: p\n");
    let marks = p.root().join("marks");
    p.write(
        "terrace.yaml",
        &format!(
            r#"project: p
variables:
  MARKS: {marks}
artifacts:
  software:
    image: {host}/{REPO}
    order: [dev, alpha, stage, prod]
environments:
  dev: {{}}
  alpha: {{}}
  stage: {{}}
  prod:
    approval: required
jobs:
  service:
    artifacts: [software]
    events: [start]
    commands:
      start: 'echo "$TERRACE_ENVIRONMENT $SOFTWARE_VERSION $SOFTWARE_DIGEST $SOFTWARE_IMAGE" >> "$MARKS"'
"#,
            marks = marks.display(),
            host = registry.host
        ),
    );
    p
}

fn marks(p: &TestProject) -> Vec<String> {
    std::fs::read_to_string(p.root().join("marks")).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn a_release_goes_from_dev_to_prod_with_an_approval_and_rolls_back() {
    let registry = Registry::start();
    let d1 = registry.push_image(REPO, Some("0.0.1"), "0.0.1", "amd64");
    let d2 = registry.push_image(REPO, Some("0.0.2"), "0.0.2", "amd64");
    let d3 = registry.push_index(REPO, "0.0.3", "0.0.3");
    let p = project(&registry);
    p.run(&["validate"]).ok();

    let out = p.run(&["promote", "software", "--version", "0.0.3", "--to", "dev"]).ok();
    assert!(
        out.stdout.contains(&format!("software 0.0.3 ({d3}) is now `dev` in `dev`; redeploying service")),
        "{}",
        out.stdout
    );
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d3.as_str()));
    let image = format!("{}/{REPO}:dev", registry.host);
    assert_eq!(marks(&p), [format!("dev 0.0.3 {d3} {image}")], "the consumer ran once with the pin");

    // The order rule: stage comes after alpha, which never had 0.0.3.
    let refused = p.run(&["promote", "software", "--version", "0.0.3", "--to", "stage"]).code(1);
    assert!(refused.stderr.contains("was never promoted to `alpha`, which comes before `stage`"), "{}", refused.stderr);
    assert_eq!(registry.tag_digest(REPO, "stage"), None, "nothing moved");

    for (from, to) in [("dev", "alpha"), ("alpha", "stage")] {
        p.run(&["promote", "software", "--from", from, "--to", to]).ok();
        assert_eq!(registry.tag_digest(REPO, to).as_deref(), Some(d3.as_str()), "{to}");
    }
    assert_eq!(marks(&p).len(), 3);

    // prod requires an approval: nothing moves until it is given.
    let asked = p.run(&["promote", "software", "--from", "stage", "--to", "prod"]).ok();
    assert!(
        asked.stdout.contains("requires approval: promote `software` 0.0.3 to `prod` awaits approval"),
        "{}",
        asked.stdout
    );
    assert_eq!(registry.tag_digest(REPO, "prod"), None);
    let id = p.json(&["approvals"])[0]["id"].as_str().unwrap().to_string();
    p.run(&["approve", &id]).ok();
    assert_eq!(registry.tag_digest(REPO, "prod").as_deref(), Some(d3.as_str()));
    assert_eq!(marks(&p).len(), 4, "one redeploy per promotion");
    assert!(marks(&p)[3].starts_with(&format!("prod 0.0.3 {d3}")), "{:?}", marks(&p));

    // A version that does not exist: a clear error, nothing changed.
    let missing = p.run(&["promote", "software", "--version", "9.9.9", "--to", "dev"]).code(1);
    assert!(missing.stderr.contains("version `9.9.9` of `software` cannot be promoted"), "{}", missing.stderr);
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d3.as_str()));

    // A newer version to dev, then a rollback that a promotion from elsewhere does not undo.
    p.run(&["promote", "software", "--version", "0.0.2", "--to", "dev"]).ok();
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d2.as_str()));
    p.run(&["promote", "software", "--previous", "--to", "dev"]).ok();
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d3.as_str()), "rolled back");
    let status = p.json(&["status", "dev"]);
    assert_eq!(status["artifacts"][0]["version"], "0.0.3");
    assert_eq!(status["artifacts"][0]["held"], true);
    let held = p.run(&["promote", "software", "--from", "alpha", "--to", "dev"]).code(1);
    assert!(held.stderr.contains("does not replace a rollback"), "{}", held.stderr);
    p.run(&["promote", "software", "--version", "0.0.1", "--to", "dev"]).ok();
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d1.as_str()), "an explicit version replaces it");

    // Every promotion is audited with its digests.
    let audit = p.json(&["audit"]);
    let promotions: Vec<&Value> =
        audit.as_array().unwrap().iter().filter(|e| e["action"].as_str().unwrap().starts_with("artifact.")).collect();
    assert_eq!(promotions.len(), 7);
    let last: Value = serde_json::from_str(promotions[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!((last["old_digest"].as_str(), last["new_digest"].as_str()), (Some(d3.as_str()), Some(d1.as_str())));
    assert_eq!(promotions[0]["target"], "environment:p/dev");
    let history = p.json(&["promotions", "--env", "prod"]);
    assert_eq!(history[0]["state"], "done");
    assert_eq!(history[0]["from_env"], "stage");
}

#[test]
fn a_registry_that_is_away_records_nothing_done_and_a_retry_finishes() {
    let mut registry = Registry::start();
    let d3 = registry.push_image(REPO, Some("0.0.3"), "0.0.3", "amd64");
    let p = project(&registry);
    registry.stop();
    let away = p.run(&["promote", "software", "--version", "0.0.3", "--to", "dev"]).code(1);
    assert!(away.stderr.contains("cannot check that"), "{}", away.stderr);
    assert!(p.json(&["status", "dev"])["artifacts"].as_array().unwrap().is_empty(), "no pin");
    assert!(marks(&p).is_empty(), "nothing redeployed");
    registry.restart();
    p.run(&["promote", "software", "--version", "0.0.3", "--to", "dev"]).ok();
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d3.as_str()));
    assert_eq!(p.json(&["status", "dev"])["artifacts"][0]["digest"], d3.as_str());
}

#[test]
fn bad_promotions_are_clear_errors() {
    let registry = Registry::start();
    let p = project(&registry);
    let e = p.run(&["promote", "nope", "--version", "1", "--to", "dev"]).code(2);
    assert!(e.stderr.contains("artifact `nope` is not declared"), "{}", e.stderr);
    let e = p.run(&["promote", "software", "--to", "dev"]).code(2);
    assert!(e.stderr.contains("exactly one of --version V, --from ENV or --previous"), "{}", e.stderr);
    let e = p.run(&["promote", "software", "--version", "1", "--to", "qa"]).code(2);
    assert!(e.stderr.contains("environment `qa` is not defined"), "{}", e.stderr);
    let e = p.run(&["promote", "software", "--previous", "--to", "dev"]).code(1);
    assert!(e.stderr.contains("has no previous version"), "{}", e.stderr);
    p.write("terrace.yaml", "project: p\nartifacts:\n  a: {image: software}\njobs:\n  j: {artifacts: [b], events: [start], commands: {start: 'true'}}\n");
    let bad = p.run(&["validate"]).code(2);
    let all = format!("{}{}", bad.stdout, bad.stderr);
    assert!(all.contains("must be REGISTRY/REPOSITORY"), "{all}");
    assert!(all.contains("job `j` consumes unknown artifact `b`"), "{all}");
}

/// Seed 003's force-new-deployment: a consumer with `commands.redeploy` runs that instead of
/// `start`; one without runs `start`. The redeploy run is recorded as such.
#[test]
fn a_redeploy_command_runs_instead_of_start() {
    let registry = Registry::start();
    let d3 = registry.push_image(REPO, Some("0.0.3"), "0.0.3", "amd64");
    let p = project(&registry);
    let yaml = std::fs::read_to_string(p.root().join("terrace.yaml")).unwrap();
    p.write(
        "terrace.yaml",
        &format!(
            "{yaml}  ecs:\n    artifacts: [software]\n    events: [start]\n    commands:\n      \
             start: 'echo \"start of ecs\" >> \"$MARKS\"'\n      \
             redeploy: 'echo \"redeploy $TERRACE_EVENT $SOFTWARE_VERSION $SOFTWARE_DIGEST\" >> \"$MARKS\"'\n"
        ),
    );
    p.run(&["validate"]).ok();
    let out = p.run(&["promote", "software", "--version", "0.0.3", "--to", "dev"]).ok();
    assert!(out.stdout.contains("redeploying service, ecs (its redeploy command)"), "{}", out.stdout);
    let seen = marks(&p);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.contains(&format!("redeploy redeploy 0.0.3 {d3}")), "{seen:?}");
    assert!(seen.iter().any(|m| m.starts_with("dev 0.0.3")), "service ran its start: {seen:?}");
    let runs = p.runs_of("ecs");
    assert_eq!((runs.len(), runs[0]["event"].as_str()), (1, Some("redeploy")), "{runs:?}");
    // The same command by hand.
    p.run(&["run", "ecs", "--env", "dev", "--event", "redeploy"]).ok();
    assert_eq!(marks_starting(&p, "redeploy redeploy"), 2);
    // `redeploy` is a command, not an event a job subscribes to.
    p.write("terrace.yaml", "project: p\njobs:\n  j: {events: [redeploy], commands: {redeploy: 'true'}}\n");
    let bad = p.run(&["validate"]).code(2);
    assert!(
        format!("{}{}", bad.stdout, bad.stderr).contains("`commands.redeploy` is what a promotion runs"),
        "{}",
        bad.stderr
    );
}

fn marks_starting(p: &TestProject, prefix: &str) -> usize {
    marks(p).iter().filter(|m| m.starts_with(prefix)).count()
}

/// Two promotions of one environment at once: both finish, one after the other, and each
/// records what it really replaced (the pin's previous and the audit's old digest chain).
#[test]
fn two_promotions_of_one_environment_at_once_are_serialised() {
    let registry = Registry::start();
    let d1 = registry.push_image(REPO, Some("0.0.1"), "0.0.1", "amd64");
    let d2 = registry.push_image(REPO, Some("0.0.2"), "0.0.2", "amd64");
    let p = project(&registry);
    p.run(&["validate"]).ok();
    let children: Vec<_> = ["0.0.1", "0.0.2"]
        .iter()
        .map(|v| {
            p.command(&["promote", "software", "--version", v, "--to", "dev"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn terrace promote")
        })
        .collect();
    for child in children {
        common::Run::from_output(child.wait_with_output().expect("wait")).ok();
    }
    let done = p.json(&["promotions", "--env", "dev"]);
    let done = done.as_array().unwrap();
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|d| d["state"] == "done"), "{done:?}");
    let pin = &p.json(&["status", "dev"])["artifacts"][0];
    let (now, before) = (pin["digest"].as_str().unwrap(), pin["previous_digest"].as_str().unwrap_or("none"));
    let mut both = [now, before];
    both.sort();
    let mut expected = [d1.as_str(), d2.as_str()];
    expected.sort();
    assert_eq!(both, expected, "the last one replaced the first: {pin}");
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(now), "the tag is the last one's");
    // The first finished replaced nothing; the second replaced the first.
    let first = done.iter().find(|d| d["digest"] == before).unwrap();
    let second = done.iter().find(|d| d["digest"] == now).unwrap();
    assert!(first["old_digest"].is_null(), "{first}");
    assert_eq!(second["old_digest"], before, "{second}");
    assert_eq!(marks(&p).len(), 2, "each promotion redeployed once");
}

/// The registry goes away after the version was checked and before the tag moved (while
/// prod's approval waited): the approval's promotion is recorded failed with the reason,
/// nothing pinned, nothing redeployed; once the registry is back, promoting again finishes.
#[test]
fn a_registry_gone_mid_promotion_records_nothing_done_and_a_retry_finishes() {
    let mut registry = Registry::start();
    let d3 = registry.push_image(REPO, Some("0.0.3"), "0.0.3", "amd64");
    let p = project(&registry);
    p.run(&["promote", "software", "--version", "0.0.3", "--to", "prod", "--skip-order"]).ok();
    let id = p.json(&["approvals"])[0]["id"].as_str().unwrap().to_string();
    registry.stop();
    let failed = p.run(&["approve", &id]).code(1);
    assert!(failed.stderr.contains("promote again to finish"), "{}", failed.stderr);
    let history = p.json(&["promotions", "--env", "prod"]);
    assert_eq!(history[0]["state"], "failed", "{history}");
    assert!(history[0]["reason"].as_str().unwrap().contains("cannot move"), "{history}");
    assert!(p.json(&["status", "prod"])["artifacts"].as_array().unwrap().is_empty(), "no pin");
    assert!(marks(&p).is_empty(), "nothing redeployed");
    let audit = p.json(&["audit"]);
    assert!(!audit.as_array().unwrap().iter().any(|e| e["action"] == "artifact.promote"), "not audited as done");

    registry.restart();
    p.run(&["promote", "software", "--version", "0.0.3", "--to", "prod", "--skip-order"]).ok();
    let id = p.json(&["approvals"])[0]["id"].as_str().unwrap().to_string();
    p.run(&["approve", &id]).ok();
    assert_eq!(registry.tag_digest(REPO, "prod").as_deref(), Some(d3.as_str()));
    assert_eq!(p.json(&["status", "prod"])["artifacts"][0]["digest"], d3.as_str());
    assert_eq!(marks(&p).len(), 1);
}
