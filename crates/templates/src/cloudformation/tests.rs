//! The decisions of the cloudformation template on answers AWS gives and moto does not
//! (an update with nothing to change, a stack that rolls back, a stack left in
//! ROLLBACK_COMPLETE), replayed through a scripted StepRunner. The aws CLI itself is
//! exercised against moto by the CLI's integration tests.

use std::collections::VecDeque;
use std::path::Path;

use async_trait::async_trait;
use terrace_model::Event;
use terrace_model::project::{Job, TemplateKind};

use crate::steps::{JobContext, JobPaths, Outcome, Step, StepAbort, StepOutput, StepRunner};

/// Answers each step with the next scripted output and records what was asked.
struct Script {
    answers: VecDeque<(&'static str, StepOutput)>,
    asked: Vec<String>,
}

impl Script {
    fn new(answers: Vec<(&'static str, StepOutput)>) -> Self {
        Script { answers: answers.into(), asked: vec![] }
    }
}

fn ok(stdout: &str) -> StepOutput {
    StepOutput { exit_code: 0, stdout: stdout.as_bytes().to_vec(), stderr_tail: vec![] }
}

fn err(stderr: &str) -> StepOutput {
    StepOutput { exit_code: 255, stdout: vec![], stderr_tail: vec![stderr.to_string()] }
}

#[async_trait]
impl StepRunner for Script {
    async fn run(&mut self, step: Step) -> Result<StepOutput, StepAbort> {
        let verb = step.argv.get(2).cloned().unwrap_or_default();
        let verb = if verb == "wait" { format!("wait {}", step.argv[3]) } else { verb };
        self.asked.push(verb.clone());
        let (expected, out) = self.answers.pop_front().unwrap_or_else(|| panic!("unexpected step {verb}"));
        assert_eq!(verb, expected, "steps so far: {:?}", self.asked);
        Ok(out)
    }
    async fn note(&mut self, _: &str) -> Result<(), StepAbort> {
        Ok(())
    }
    fn has_program(&self, _: &str) -> bool {
        true
    }
}

const EXISTS: &str =
    r#"{"Stacks": [{"StackStatus": "CREATE_COMPLETE", "Outputs": [{"OutputKey": "Url", "OutputValue": "u"}]}]}"#;

async fn deploy(answers: Vec<(&'static str, StepOutput)>) -> (Outcome, Vec<String>, String) {
    let dir =
        std::env::temp_dir().join(format!("terrace-cfn-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stack.yaml"), "Resources: {}").unwrap();
    let mut job = Job::new("db", TemplateKind::Cloudformation);
    job.events = vec![Event::Start];
    job.iac.template_file = Some("stack.yaml".into());
    let output_file = dir.join("output.json");
    let paths = JobPaths {
        workdir: &dir,
        input: None,
        output_file: &output_file,
        state_dir: Path::new("/nonexistent"),
        artifacts_dir: Path::new("/nonexistent"),
    };
    let ctx = JobContext {
        project: "p",
        environment: "dev",
        job: &job,
        event: Event::Start,
        raw_args: &[],
        host: paths,
        job_paths: paths,
        variables: &[],
        state: None,
        apply_saved_plan: false,
    };
    let mut script = Script::new(answers);
    let outcome = super::run(&ctx, &mut script).await.unwrap();
    let written = std::fs::read_to_string(&output_file).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(script.answers.is_empty(), "steps not taken: {:?}", script.answers);
    (outcome, script.asked, written)
}

#[tokio::test]
async fn an_update_with_nothing_to_change_is_success_and_outputs_are_read() {
    let (outcome, _, written) = deploy(vec![
        ("describe-stacks", ok(EXISTS)),
        ("update-stack", err("An error occurred (ValidationError) when calling the UpdateStack operation: No updates are to be performed.")),
        ("describe-stacks", ok(EXISTS)),
    ])
    .await;
    assert_eq!(outcome, Outcome::ok());
    assert!(written.contains(r#""Url":{"value":"u","sensitive":false}"#), "{written}");
}

#[tokio::test]
async fn a_stack_that_rolls_back_fails_with_the_events_that_explain_why() {
    let rolled_back = r#"{"Stacks": [{"StackStatus": "ROLLBACK_COMPLETE"}]}"#;
    let events = r#"{"StackEvents": [{"LogicalResourceId": "Db", "ResourceType": "AWS::RDS::DBInstance",
        "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "DBInstanceClass db.x1 is not supported"}]}"#;
    let (outcome, asked, _) = deploy(vec![
        ("describe-stacks", err("Stack with id terrace-p-dev-db does not exist")),
        ("create-stack", ok("{}")),
        ("wait stack-create-complete", err("Waiter StackCreateComplete failed: terminal failure state")),
        ("describe-stacks", ok(rolled_back)),
        ("describe-stack-events", ok(events)),
    ])
    .await;
    let Outcome::Failed(f) = outcome else { panic!("expected a failure, asked {asked:?}") };
    assert_eq!(f.phase, "deploy");
    assert!(f.message.contains("ROLLBACK_COMPLETE"), "{}", f.message);
    assert!(
        f.message.contains("Db (AWS::RDS::DBInstance) CREATE_FAILED: DBInstanceClass db.x1 is not supported"),
        "{}",
        f.message
    );
}

#[tokio::test]
async fn a_stack_left_in_rollback_complete_is_deleted_then_created_again() {
    let (outcome, asked, _) = deploy(vec![
        ("describe-stacks", ok(r#"{"Stacks": [{"StackStatus": "ROLLBACK_COMPLETE"}]}"#)),
        ("delete-stack", ok("")),
        ("wait stack-delete-complete", ok("")),
        ("create-stack", ok("{}")),
        ("wait stack-create-complete", ok("")),
        ("describe-stacks", ok(EXISTS)),
    ])
    .await;
    assert_eq!(outcome, Outcome::ok(), "{asked:?}");
}
