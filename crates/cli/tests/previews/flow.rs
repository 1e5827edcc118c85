//! One pull request's preview, with a real Terraform job through the state backend: opened
//! → the environment `pr-<id>` made from `from` and started (comment with the URL first,
//! statuses); a redelivery does nothing; a push re-runs only the job that consumes the
//! head; a label that excludes it destroys it; closed → every resource destroyed (the
//! destroy-time provisioner runs) before the environment record goes.

use crate::payloads::{Pr, sha};
use crate::tools::require_terraform;
use crate::{Previews, env_of, ledger};

const MAIN_TF: &str = r#"
variable "env" { type = string }
variable "ledger" { type = string }
resource "terraform_data" "network" {
  input = var.env
  provisioner "local-exec" {
    command = "echo created network ${self.input} >> ${var.ledger}"
  }
  provisioner "local-exec" {
    when    = destroy
    command = "echo destroyed network ${self.input} >> ${self.triggers_replace}"
  }
  triggers_replace = var.ledger
}
output "endpoint" { value = "http://${var.env}.internal" }
"#;

fn yaml(resources: &std::path::Path) -> String {
    format!(
        "project: shop\nenvironments:\n  preview:\n    variables: {{LEDGER: \"{ledger}\"}}\njobs:\n  network:\n    \
         template: terraform\n    source: network\n    events: [start, delete]\n    variables:\n      \
         TF_VAR_env: ${{TERRACE_ENVIRONMENT}}\n      TF_VAR_ledger: ${{LEDGER}}\n      CODE_VERSION: none\n  \
         app:\n    source: app\n    depends_on: [network]\n    events: [start, delete]\n    \
         commands: {{start: ./up.sh, delete: ./down.sh}}\npreviews:\n  hello:\n    repository: github.com/acme/hello\n    \
         from: preview\n    variables: {{CODE_VERSION: \"${{pr.head_sha}}\"}}\n    labels: {{include: [preview], exclude: [wip]}}\n    \
         url: https://{{id}}.previews.example.com\n",
        ledger = resources.join("ledger").display()
    )
}

#[test]
fn a_pull_request_opens_updates_and_closes_its_preview() {
    require_terraform();
    let dir = tempfile::tempdir().unwrap();
    let resources = dir.path().join("resources");
    std::fs::create_dir_all(&resources).unwrap();
    let mut p = Previews::new(&yaml(&resources));
    p.f.write("proj/network/main.tf", MAIN_TF);
    p.f.write(
        "proj/app/up.sh",
        "#!/bin/sh\necho \"created app $TERRACE_ENVIRONMENT $CODE_VERSION $endpoint\" >> \"$LEDGER\"\n",
    );
    p.f.write("proj/app/down.sh", "#!/bin/sh\necho \"destroyed app $TERRACE_ENVIRONMENT\" >> \"$LEDGER\"\n");
    p.start();
    let env = env_of("acme/hello", 7);
    let (a, b) = (sha("a1"), sha("b2"));
    let mut pr = Pr { repo: "acme/hello", number: 7, head: &a, branch: "feature", labels: &["preview"], draft: false };

    assert_eq!(p.github("d-open", &pr.github("opened", false)), "queued");
    let running = p.wait(&env, "running");
    let id = terrace_model::preview::preview_id("acme/hello", 7);
    assert_eq!(running["url"], format!("https://{id}.previews.example.com"));
    assert_eq!(running["number"], 7);
    assert_eq!(running["deployed_sha"], a);
    let lines = ledger(&resources);
    assert_eq!(lines, [format!("created network {env}"), format!("created app {env} {a} http://{env}.internal")]);

    // The comment: one, the URL first, the endpoint output; the head's status.
    // The comment is edited after the state is recorded: wait for it, not for the state.
    let comments = crate::support::eventually(crate::WITHIN, "the comment says running", || {
        let c = p.comments(7);
        c.iter().any(|c| c.contains("**State:** running")).then_some(c)
    });
    assert_eq!(comments.len(), 1, "{comments:?}");
    let c = &comments[0];
    let url_at = c.find(&format!("https://{id}.previews.example.com")).expect("the URL");
    assert!(url_at < c.find("**State:** running").expect("state"), "{c}");
    assert!(c.contains(&format!("http://{env}.internal")), "{c}");
    let statuses = crate::support::eventually(crate::WITHIN, "the head's status is final", || {
        let s = p.statuses(&a, &env);
        (!s.is_empty() && s.last().map(String::as_str) != Some("pending")).then_some(s)
    });
    assert_eq!(statuses.first().map(String::as_str), Some("pending"));
    assert_eq!(statuses.last().map(String::as_str), Some("success"));

    // A redelivery does nothing twice.
    assert_eq!(p.github("d-open", &pr.github("opened", false)), "duplicate");
    assert_eq!(p.github("d-open-2", &pr.github("opened", false)), "queued");

    // A push: only `app`, which consumes the head, runs again.
    pr.head = &b;
    p.github("d-sync", &pr.github("synchronize", false));
    let updated = crate::support::eventually(crate::WITHIN, "the push deployed", || {
        p.preview(&env).filter(|v| v["state"] == "running" && v["deployed_sha"] == b.as_str())
    });
    assert_eq!(updated["environment"], env);
    let runs = p.runs(&env);
    let starts: Vec<(&str, &str)> =
        runs.iter().filter(|(_, e, _)| e == "start").map(|(j, _, s)| (j.as_str(), s.as_str())).collect();
    assert_eq!(
        starts,
        [("network", "succeeded"), ("app", "succeeded"), ("network", "skipped"), ("app", "succeeded")],
        "{runs:?}"
    );
    assert_eq!(ledger(&resources).len(), 3, "the network was not made again");
    let statuses = crate::support::eventually(crate::WITHIN, "the push's status is final", || {
        let s = p.statuses(&b, &env);
        (!s.is_empty() && s.last().map(String::as_str) != Some("pending")).then_some(s)
    });
    assert_eq!(statuses.last().map(String::as_str), Some("success"), "{statuses:?}");

    // Closed: every job's delete, reverse order, then the record.
    p.github("d-close", &pr.github("closed", true));
    let deleted = p.wait(&env, "deleted");
    assert_eq!(deleted["wanted"], false);
    assert!(!p.env_exists(&env), "the environment record went");
    let lines = ledger(&resources);
    assert_eq!(
        lines[3..],
        [format!("destroyed app {env}"), format!("destroyed network {env}")],
        "resources destroyed, in reverse order: {lines:?}"
    );
    let c = crate::support::eventually(crate::WITHIN, "the comment says destroyed", || {
        let c = p.comments(7);
        c.iter().any(|c| c.contains("destroyed (every resource deleted; the pull request was merged)")).then_some(c)
    });
    assert_eq!(c.len(), 1, "one comment, edited in place: {c:?}");

    // Reopened: the same id, made again.
    p.github("d-reopen", &pr.github("reopened", false));
    let again = p.wait(&env, "running");
    assert_eq!(again["environment"], env);
    p.github("d-wip", &Pr { labels: &["preview", "wip"], ..pr }.github("labeled", false));
    let gone = p.wait(&env, "deleted");
    assert!(gone["reason"].as_str().unwrap_or_default().contains("wip"), "{gone}");
}
