//! A Terraform job in a container: the template's phases (init, plan to a saved file,
//! apply, output -json, destroy) run one container each in an image that only holds the
//! tool (the statically linked terraform, FROM scratch), with the working copy, the state
//! and the saved plan mounted; the outputs come back as local runs' do.

use crate::common::TestProject;
use crate::common::tools::require_terraform;
use crate::support::{BUSYBOX_BASE, build, leftovers};

fn terraform_image() -> String {
    require_terraform();
    let terraform = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("terraform")).find(|f| f.is_file()))
        .expect("terraform on PATH");
    let bytes = std::fs::read(&terraform).unwrap();
    assert!(
        bytes.len() > 4 && &bytes[..4] == b"\x7fELF",
        "{} is not a terraform binary that can be copied into an image",
        terraform.display()
    );
    let dockerfile = format!("{BUSYBOX_BASE}COPY terraform /usr/local/bin/terraform\n");
    build("terrace-test/terraform:1", &dockerfile, &[("terraform", &bytes, 0o755)])
}

#[test]
fn a_terraform_job_runs_its_phases_in_a_container_and_keeps_its_state() {
    let image = terraform_image();
    let yaml = format!(
        "project: tf\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  net:\n    template: terraform\n    source: infra\n    image: {image}\n    input: infra/dev.tfvars\n"
    );
    let p = TestProject::new(&yaml);
    p.write(
        "infra/main.tf",
        "variable \"name\" { type = string }\nresource \"terraform_data\" \"net\" { input = var.name }\noutput \"network\" { value = \"net-${terraform_data.net.output}\" }\noutput \"token\" {\n  value = \"tok-${var.name}-0123456789\"\n  sensitive = true\n}\n",
    );
    p.write("infra/dev.tfvars", "name = \"blue\"\n");
    // A saved plan is written in the working copy, then kept (sealed) in the store.
    p.run(&["plan", "dev"]).ok();
    let planned = p.runs_of("net")[0].clone();
    assert_eq!(planned["plan"]["add"], 1, "{planned:#}");
    assert!(p.log(planned["id"].as_str().unwrap()).contains("-out=/data/src/.terrace.tfplan"));
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let run = TestProject::job_in(&out, "net")["run_id"].as_str().unwrap().to_string();
    let log = p.log(&run);
    for phase in ["init:", "plan:", "-var-file=/data/input/dev.tfvars", "apply:", "output:"] {
        assert!(log.contains(phase), "no `{phase}` in the log:\n{log}");
    }
    assert!(!log.contains("tok-blue-0123456789"), "{log}");
    let outputs = p.json(&["outputs", "dev", "--reveal"]);
    let value = |name: &str| outputs.as_array().unwrap().iter().find(|o| o["name"] == name).map(|o| o["value"].clone());
    assert_eq!(value("network"), Some("net-blue".into()), "{outputs:#}");
    assert_eq!(value("token"), Some("tok-blue-0123456789".into()));
    // The state is kept in Terrace's store (the http backend), never on disk, and a destroy
    // in a new container finds it: the one resource is destroyed.
    assert!(!p.data.join("state/tf/dev/net/terraform.tfstate").exists());
    let done = p.run(&["destroy", "dev", "--json"]).ok().json();
    let run = TestProject::job_in(&done, "net")["run_id"].as_str().unwrap().to_string();
    let log = p.log(&run);
    assert!(log.contains("Resources: 1 destroyed"), "{log}");
    assert_eq!(leftovers(&p), Vec::<String>::new());
}
