//! The terraform template on real Terraform (terraform_data resources, no provider
//! download): params file, sensitive and non-string outputs feeding the next job, per
//! environment state, redeploy as a no-op, plan with its summary and saved plan, raw,
//! destroy with the same state, and errors that name the phase.

mod common;

use common::TestProject;
use common::tools::require_terraform;

const MAIN_TF: &str = r#"
variable "cidr" { type = string }
variable "zones" { type = list(string) }
variable "owner" {
  type    = string
  default = "nobody"
}
resource "terraform_data" "vpc" { input = var.cidr }
output "cidr" { value = terraform_data.vpc.output }
output "zones" { value = var.zones }
output "limits" { value = { max = 3, min = 1 } }
output "count" { value = 2 }
output "owner" { value = var.owner }
output "id" { value = terraform_data.vpc.id }
output "token" {
  value     = "tok-${terraform_data.vpc.id}"
  sensitive = true
}
"#;

fn project() -> TestProject {
    require_terraform();
    let p = TestProject::new(
        r#"project: tf
environments: {dev: {}, prod: {}}
jobs:
  net:
    template: terraform
    source: net
    input: net/params.tfvars.json
    events: [start, delete]
    variables: {TF_VAR_owner: platform-team}
  app:
    depends_on: [net]
    events: [start]
    commands: {start: 'echo "cidr=$cidr zones=$zones limits=$limits count=$count owner=$owner token=$token"'}
"#,
    );
    p.write("net/main.tf", MAIN_TF).write("net/params.tfvars.json", r#"{"cidr": "10.0.0.0/16", "zones": ["a", "b"]}"#);
    p
}

fn output<'a>(outputs: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    outputs.as_array().unwrap().iter().find(|o| o["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn start_applies_a_saved_plan_and_outputs_feed_the_next_job() {
    let p = project();
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let app_log = p.log(TestProject::job_in(&out, "app")["run_id"].as_str().unwrap());
    assert!(
        app_log.contains(
            r#"cidr=10.0.0.0/16 zones=["a","b"] limits={"max":3,"min":1} count=2 owner=platform-team token=***"#
        ),
        "{app_log}"
    );
    let net_log = p.log(TestProject::job_in(&out, "net")["run_id"].as_str().unwrap());
    for phase in
        ["init: terraform init", "plan: terraform plan", "apply: terraform apply", "output: terraform output -json"]
    {
        assert!(net_log.contains(phase), "{phase} missing:\n{net_log}");
    }
    assert!(net_log.contains("-var-file=") && net_log.contains("params.tfvars.json"), "{net_log}");
    let outputs = p.json(&["outputs", "dev"]);
    assert_eq!(output(&outputs, "token")["sensitive"], true);
    assert_eq!(output(&outputs, "token")["value"], "***");
    let revealed = p.json(&["outputs", "dev", "--reveal"]);
    let token = output(&revealed, "token")["value"].as_str().unwrap().to_string();
    assert!(token.starts_with("tok-"));
    assert!(!net_log.contains(&token) && !app_log.contains(&token), "the sensitive output leaked into a log");
    assert!(!common::contains(&p.store_bytes(), &token));

    // Redeploy: start runs again, a no-op apply.
    let again = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&again, "net")["run_id"].as_str().unwrap());
    assert!(log.contains("0 added, 0 changed, 0 destroyed"), "{log}");
    let revealed = p.json(&["outputs", "dev", "--reveal"]);
    assert_eq!(output(&revealed, "token")["value"], token, "same state, same resource");
}

#[test]
fn environments_have_their_own_state_and_destroy_uses_it() {
    let p = project();
    p.run(&["up", "dev"]).ok();
    p.run(&["up", "prod"]).ok();
    let dev_id = output(&p.json(&["outputs", "dev"]), "id")["value"].clone();
    let prod_id = output(&p.json(&["outputs", "prod"]), "id")["value"].clone();
    assert_ne!(dev_id, prod_id, "two environments share one state");

    let raw = p.run(&["run", "net", "--env", "dev", "--event", "raw", "--json", "--", "state", "list"]).ok().json();
    let log = p.log(TestProject::job_in(&raw, "net")["run_id"].as_str().unwrap());
    assert!(log.contains("stdout  terraform_data.vpc"), "{log}");

    let destroyed = p.run(&["destroy", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&destroyed, "net")["run_id"].as_str().unwrap());
    assert!(log.contains("Resources: 1 destroyed"), "{log}");
    // prod is untouched: planning it finds nothing to do.
    let plan = p.run(&["plan", "prod", "--json"]).ok().json();
    let net = TestProject::job_in(&plan, "net");
    assert_eq!(net["plan"]["empty"], true, "{plan:#}");
}

#[test]
fn plan_keeps_a_summary_and_the_saved_plan_in_the_store() {
    let p = project();
    let plan = p.run(&["plan", "dev", "--json"]).ok().json();
    assert_eq!(plan["jobs"].as_array().unwrap().len(), 1, "only terraform jobs plan: {plan:#}");
    let net = TestProject::job_in(&plan, "net");
    assert_eq!(net["plan"]["add"], 1);
    assert_eq!(net["plan"]["empty"], false);
    let runs = p.runs_of("net");
    assert_eq!(runs[0]["event"], "plan");
    assert_eq!(runs[0]["plan"]["add"], 1);
    // The saved plan is kept in the store (encrypted), not in a folder.
    assert!(runs[0]["artifacts"].is_null(), "{:#}", runs[0]);
    assert!(!p.data.join("artifacts").exists());
    // A plan applies nothing.
    assert_eq!(p.json(&["outputs", "dev"]).as_array().map(Vec::len), Some(0));
    let text = p.run(&["plan", "dev"]).ok().stdout;
    assert!(text.contains("net: 1 to add, 0 to change, 0 to destroy"), "{text}");
}

#[test]
fn tool_errors_name_the_phase_and_carry_the_tools_message() {
    require_terraform();
    let p = TestProject::new(
        "project: tf\nenvironments: {dev: {}}\njobs:\n  bad:\n    template: terraform\n    source: bad\n    events: [start]\n  missing:\n    template: opentofu\n    source: bad\n    events: [start]\n    binary: terrace-no-such-tofu\n",
    );
    p.write("bad/main.tf", "resource \"terraform_data\" \"x\" {\n  input = var.undeclared\n}\n");
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let bad = TestProject::job_in(&out, "bad")["reason"].as_str().unwrap().to_string();
    assert!(bad.contains("phase `plan`") || bad.contains("phase `init`"), "{bad}");
    assert!(bad.contains("undeclared"), "the tool's own message is missing: {bad}");
    let missing = TestProject::job_in(&out, "missing")["reason"].as_str().unwrap().to_string();
    assert!(
        missing.contains("`terrace-no-such-tofu` is not on PATH") && missing.contains("install OpenTofu"),
        "{missing}"
    );
}

#[test]
fn a_configuration_with_its_own_backend_gets_one_workspace_per_environment() {
    require_terraform();
    let states = tempfile::tempdir().unwrap();
    let p = TestProject::new(
        "project: tf\nenvironments: {dev: {}, prod: {}}\njobs:\n  net:\n    template: terraform\n    source: net\n    events: [start, delete]\n",
    );
    p.write(
        "net/main.tf",
        &format!(
            "terraform {{\n  backend \"local\" {{\n    workspace_dir = \"{}\"\n  }}\n}}\nresource \"terraform_data\" \"x\" {{ input = terraform.workspace }}\noutput \"ws\" {{ value = terraform_data.x.output }}\n",
            states.path().display()
        ),
    );
    p.run(&["up", "dev"]).ok();
    p.run(&["up", "prod"]).ok();
    let ws = |env: &str| p.json(&["outputs", env])[0]["value"].as_str().unwrap().to_string();
    assert_eq!(ws("dev"), "dev");
    assert_eq!(ws("prod"), "prod");
    assert!(states.path().join("dev/terraform.tfstate").is_file());
    assert!(states.path().join("prod/terraform.tfstate").is_file());
    assert!(!p.data.join("state/tf/dev/net/terraform.tfstate").exists(), "the configuration's backend is kept");
}
