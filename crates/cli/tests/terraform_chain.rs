//! Two Terraform jobs chained on real Terraform: the second module's variables come from
//! the first module's outputs by reference (`TF_VAR_vpc_id: ${outputs.net.vpc_id}`), with
//! no `TF_VAR_*` naming in the first module; neither job lists `events` (the template's
//! defaults: start, stop, delete), so `destroy` removes both in reverse order.

mod common;

use common::TestProject;
use common::tools::require_terraform;

const NET_TF: &str = r#"
resource "terraform_data" "vpc" { input = "vpc-42" }
output "vpc_id" { value = terraform_data.vpc.output }
output "token" {
  value     = "tok-${terraform_data.vpc.id}"
  sensitive = true
}
"#;

const APP_TF: &str = r#"
variable "vpc_id" { type = string }
variable "token" {
  type      = string
  sensitive = true
}
resource "terraform_data" "app" { input = "${var.vpc_id}/app" }
output "app_id" { value = terraform_data.app.output }
output "token_length" { value = length(nonsensitive(var.token)) }
"#;

#[test]
fn a_terraform_job_takes_its_variables_from_the_outputs_of_the_one_before() {
    require_terraform();
    let p = TestProject::new(
        r#"project: tfc
environments: {dev: {}}
jobs:
  net:
    template: terraform
    source: net
  app:
    template: terraform
    source: app
    depends_on: [net]
    variables:
      TF_VAR_vpc_id: ${outputs.net.vpc_id}
      TF_VAR_token: ${outputs.net.token}
"#,
    );
    p.write("net/main.tf", NET_TF).write("app/main.tf", APP_TF);
    p.run(&["validate"]).ok();
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    assert_eq!(out["environment_state"], "running", "{out}");
    let outputs = p.json(&["outputs", "dev"]);
    let value = |job: &str, name: &str| {
        outputs
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["job"] == job && o["name"] == name)
            .unwrap_or_else(|| panic!("no {job}.{name} in {outputs}"))["value"]
            .clone()
    };
    assert_eq!(value("app", "app_id"), "vpc-42/app");
    // `tok-` and a 36-character id: the sensitive output reached the second module whole.
    assert_eq!(value("app", "token_length"), "40");

    let down = p.run(&["destroy", "dev", "--json"]).ok().json();
    let order: Vec<&str> = down["jobs"].as_array().unwrap().iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(order, ["app", "net"], "{down}");
    assert!(down["jobs"].as_array().unwrap().iter().all(|j| j["state"] == "succeeded"), "{down}");
    assert_eq!(down["environment_state"], "deleted");
}
