//! The terraform phases with the paths of a container executor: the steps name the files
//! where the job sees them, Terrace writes them where they are on its host. The same code
//! runs on the local executor, where both are the same.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use terrace_model::Event;
use terrace_model::project::{Job, TemplateKind};

use crate::steps::{JobContext, JobPaths, Outcome, Step, StepAbort, StepOutput, StepRunner};

/// Records every step and answers `output -json` with one output.
#[derive(Default)]
struct Recorder {
    steps: Vec<(&'static str, Vec<String>)>,
}

#[async_trait]
impl StepRunner for Recorder {
    async fn run(&mut self, step: Step) -> Result<StepOutput, StepAbort> {
        self.steps.push((step.phase, step.argv.clone()));
        let stdout =
            if step.phase == "output" { br#"{"id": {"value": "x", "sensitive": false}}"#.to_vec() } else { vec![] };
        Ok(StepOutput { exit_code: 0, stdout, stderr_tail: vec![] })
    }
    async fn note(&mut self, _: &str) -> Result<(), StepAbort> {
        Ok(())
    }
    fn has_program(&self, _: &str) -> bool {
        true
    }
}

struct Layout {
    root: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("work/src")).unwrap();
        std::fs::create_dir_all(root.path().join("work/input")).unwrap();
        std::fs::write(root.path().join("work/src/main.tf"), "output \"id\" { value = \"x\" }\n").unwrap();
        Layout { root }
    }
    fn host(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
}

#[tokio::test]
async fn the_steps_name_the_files_where_the_job_sees_them() {
    let l = Layout::new();
    let (work, input, out, state, artifacts) = (
        l.host("work/src"),
        l.host("work/input/p.tfvars.json"),
        l.host("work/output.json"),
        l.host("state/p/dev/net"),
        l.host("artifacts/r"),
    );
    let host = JobPaths {
        workdir: &work,
        input: Some(&input),
        output_file: &out,
        state_dir: &state,
        artifacts_dir: &artifacts,
    };
    let seen = JobPaths {
        workdir: Path::new("/data/src"),
        input: Some(Path::new("/data/input/p.tfvars.json")),
        output_file: Path::new("/terrace-output/output.json"),
        state_dir: Path::new("/terrace-state"),
        artifacts_dir: Path::new("/terrace-artifacts"),
    };
    let mut job = Job::new("net", TemplateKind::Terraform);
    job.events = vec![Event::Start];
    let ctx = JobContext {
        project: "p",
        environment: "dev",
        job: &job,
        event: Event::Start,
        raw_args: &[],
        host,
        job_paths: seen,
        variables: &[],
        state: None,
        apply_saved_plan: false,
    };
    let mut steps = Recorder::default();
    let outcome = crate::run(&ctx, &mut steps).await.unwrap();
    assert_eq!(outcome, Outcome::ok());
    let phases: Vec<&str> = steps.steps.iter().map(|(p, _)| *p).collect();
    assert_eq!(phases, ["init", "plan", "apply", "output"]);
    let plan = &steps.steps[1].1;
    assert!(plan.contains(&"-out=/data/src/.terrace.tfplan".to_string()), "{plan:?}");
    assert!(plan.contains(&"-var-file=/data/input/p.tfvars.json".to_string()), "{plan:?}");
    assert_eq!(steps.steps[2].1.last().map(String::as_str), Some("/data/src/.terrace.tfplan"));
    // Terrace's own writes land on its host: the state override (naming the job's path),
    // the state folder, the output file.
    let wired = std::fs::read_to_string(work.join(super::backend::OVERRIDE_FILE)).unwrap();
    assert!(wired.contains("\"/terrace-state/terraform.tfstate\""), "{wired}");
    assert!(state.is_dir());
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"id\""));
}
