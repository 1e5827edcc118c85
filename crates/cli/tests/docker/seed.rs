//! Seed 000's CloudFormation recipe, unchanged in shape: an image built from the job's
//! own Dockerfile, running as a non-root user, whose entrypoint takes `start`, `stop`,
//! `delete` (also `raw` and `debug`) as its first argument, reads `$JOB_INPUT` and writes
//! `/qovery-output/qovery-output.json`. The `aws` CLI is a stand-in script (no registry
//! can be reached from here for the real one); `jq` is replaced by a `sed` doing the same
//! mapping. Everything else is the recipe's.

use crate::common::{TestProject, contains};
use crate::support::{BUSYBOX_BASE, busybox, docker, leftovers, shell_image, write_files};

/// The recipe's entrypoint.sh, as the seed writes it (jq → sed).
const ENTRYPOINT: &str = r#"#!/bin/sh

if [ "$JOB_INPUT" != '' ]
then
PARAMETERS="file://$JOB_INPUT"
fi

CMD=$1; shift
set -ex

cd cloudformation

STACK_NAME="qovery-stack-${QOVERY_JOB_ID%%-*}"

case "$CMD" in
start)
echo 'start command invoked'
aws cloudformation deploy --stack-name $STACK_NAME --template $CF_TEMPLATE_NAME --parameter-overrides $PARAMETERS
echo 'generating stack output - injecting it as Qovery environment variable for downstream usage'
aws cloudformation describe-stacks --stack-name $STACK_NAME --output json --query "Stacks[0].Outputs" > /data/output.json
sed -n 's/.*"OutputKey": "\([^"]*\)", "OutputValue": "\([^"]*\)".*/{ "\1": { "value": "\2", "type" : "string", "sensitive": false } }/p' /data/output.json > /qovery-output/qovery-output.json
;;

stop)
echo 'stop command invoked'
exit 0
;;

delete)
echo 'delete command invoked'
aws cloudformation delete-stack --stack-name $STACK_NAME
aws cloudformation wait stack-delete-complete --stack-name $STACK_NAME
;;

raw)
echo 'raw command invoked'
aws cloudformation "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9"
;;

debug)
echo 'debug command invoked. sleeping for 9999999sec'
echo 'Use remote shell to connect and execute commands'
sleep 9999999
exit 1
;;

*)
echo "Command not handled by entrypoint.sh: '$CMD'"
exit 1
;;
esac
"#;

/// The stand-in for the aws CLI: says what it was asked, shows the parameters file it
/// was given, and answers describe-stacks like CloudFormation.
const AWS: &str = r#"#!/bin/sh
echo "aws $* (key $AWS_SECRET_ACCESS_KEY in $AWS_REGION)"
case "$2" in
deploy) for a in "$@"; do case "$a" in file://*) echo "parameters: $(cat "${a#file://}")";; esac; done; test -f "$CF_TEMPLATE_NAME" ;;
describe-stacks) echo '[{"OutputKey": "DbEndpoint", "OutputValue": "db.internal:5432"}]' ;;
esac
"#;

/// The recipe's Dockerfile, FROM scratch with busybox for alpine and the stand-ins.
fn dockerfile() -> String {
    format!(
        "{BUSYBOX_BASE}RUN set -e; mkdir -p /etc /data; echo 'app:x:1000:1000::/data:/bin/sh' >> /etc/passwd; echo 'app:x:1000:' >> /etc/group; chown -R 1000:1000 /data\nCOPY aws /usr/bin/aws\nWORKDIR /data\nUSER app\nCOPY --chown=app:app entrypoint.sh /data/entrypoint.sh\nCOPY --chown=app:app . cloudformation\nENV CF_TEMPLATE_NAME=must-be-set-as-env-var\nENTRYPOINT [\"/data/entrypoint.sh\"]\nCMD [\"start\"]\n"
    )
}

const SECRET: &str = "s3cr3t-aws-key-0451";

fn project() -> TestProject {
    let yaml = format!(
        "project: seed
executor: docker
environments:
  dev: {{}}
jobs:
  rds:
    source: cloudformation
    dockerfile: Dockerfile
    input: cloudformation/params.json
    events: [start, stop, delete]
    commands: {{start: [start], stop: [stop], delete: [delete]}}
    resources: {{cpu: 500m, memory: 64Mi}}
    variables:
      CF_TEMPLATE_NAME: rds.yaml
      AWS_REGION: eu-west-3
      AWS_SECRET_ACCESS_KEY: {{value: {SECRET}, secret: true}}
  app:
    depends_on: [rds]
    image: {}
    entrypoint: [/bin/sh, -c]
    events: [start]
    commands: {{start: ['echo \"app sees endpoint=$DbEndpoint\"']}}
",
        shell_image()
    );
    let p = TestProject::new(&yaml);
    let dir = p.root().join("cloudformation");
    write_files(
        &dir,
        &[
            ("entrypoint.sh", ENTRYPOINT.as_bytes(), 0o755),
            ("aws", AWS.as_bytes(), 0o755),
            ("Dockerfile", dockerfile().as_bytes(), 0o644),
            ("rds.yaml", b"Resources: {}\n", 0o644),
            ("params.json", br#"[{"ParameterKey": "DbName", "ParameterValue": "shop"}]"#, 0o644),
        ],
    );
    std::fs::copy(busybox(), dir.join("busybox")).unwrap();
    p
}

#[test]
fn the_seeds_cloudformation_recipe_runs_unchanged_in_its_own_image() {
    let p = project();
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let rds = TestProject::job_in(&out, "rds");
    let log = p.log(rds["run_id"].as_str().unwrap());
    // Built now, or by an earlier run of this test: the same content is built once.
    assert!(
        log.contains("building image terrace-build:") || log.contains("built before from the same context"),
        "{log}"
    );
    for expected in [
        "start command invoked",
        "--parameter-overrides file:///data/input/params.json",
        r#"parameters: [{"ParameterKey": "DbName", "ParameterValue": "shop"}]"#,
        "(key *** in eu-west-3)",
    ] {
        assert!(log.contains(expected), "no `{expected}` in the log:\n{log}");
    }
    assert!(!log.contains(SECRET), "{log}");
    // The output the recipe wrote to /qovery-output is the job's, and reaches the next job.
    let outputs = p.json(&["outputs", "dev"]);
    let endpoint = outputs.as_array().unwrap().iter().find(|o| o["name"] == "DbEndpoint").expect("DbEndpoint");
    assert_eq!(endpoint["value"], "db.internal:5432", "{outputs:#}");
    let app = TestProject::job_in(&out, "app");
    let app_log = p.log(app["run_id"].as_str().unwrap());
    assert!(app_log.contains("app sees endpoint=db.internal:5432"), "{app_log}");

    // The same context is built once; stop and delete are the recipe's own.
    let again = p.run(&["up", "dev", "--json"]).ok().json();
    let rds = TestProject::job_in(&again, "rds");
    let log = p.log(rds["run_id"].as_str().unwrap());
    assert!(log.contains("built before from the same context"), "{log}");
    p.run(&["down", "dev"]).ok();
    let done = p.run(&["destroy", "dev", "--json"]).ok().json();
    let rds = TestProject::job_in(&done, "rds");
    let log = p.log(rds["run_id"].as_str().unwrap());
    assert!(log.contains("delete command invoked") && log.contains("aws cloudformation delete-stack"), "{log}");
    assert_eq!(leftovers(&p), Vec::<String>::new(), "containers were left behind");

    // The secret is in no layer, label or build setting of the image.
    let at = log.find("terrace-build:").expect("the image's tag in the log");
    let tag = &log[at..at + "terrace-build:".len() + 32];
    let inspect = docker(&["image", "inspect", tag]);
    let history = docker(&["history", "--no-trunc", tag]);
    assert!(!contains(inspect.as_bytes(), SECRET) && !contains(history.as_bytes(), SECRET));
}
