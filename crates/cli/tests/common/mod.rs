//! A real temporary project and the real `terrace` binary, for integration tests.
#![allow(dead_code)]

pub mod git;
pub mod registry;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct TestProject {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run::from(out)
    }

    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_terrace")
}

impl TestProject {
    /// A project with this `terrace.yaml`.
    pub fn new(yaml: &str) -> TestProject {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join(".terrace");
        let p = TestProject { dir, data };
        p.write("terrace.yaml", yaml);
        p
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (parents created); `.sh` files are made executable.
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.root())
            .env("TERRACE_DATA", &self.data)
            .env("TERRACE_KILL_GRACE", "1s")
            .env_remove("TERRACE_MASTER_KEY")
            .stdin(std::process::Stdio::null());
        c
    }

    /// Runs `terrace ARGS` in the project folder and waits.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run terrace"))
    }

    /// Like `run`, with the command adjusted first (its environment, ...).
    pub fn run_with(&self, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Run {
        let mut c = self.command(args);
        adjust(&mut c);
        Run::from(c.output().expect("run terrace"))
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--json");
        self.run(&all).ok().json()
    }

    /// The last runs of a job, newest first.
    pub fn runs_of(&self, job: &str) -> Vec<Value> {
        self.json(&["runs", "--job", job]).as_array().expect("array").clone()
    }

    /// The stored log of a run as text.
    pub fn log(&self, run_id: &str) -> String {
        self.run(&["logs", run_id]).ok().stdout
    }

    /// The run of `job` in a pipeline outcome (`up --json`).
    pub fn job_in<'a>(outcome: &'a Value, job: &str) -> &'a Value {
        outcome["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["job"] == job))
            .unwrap_or_else(|| panic!("no job {job} in {outcome:#}"))
    }

    /// Every byte the store holds on disk (database, WAL, key file excluded).
    pub fn store_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&self.data).expect("data dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
            if name.starts_with("terrace.db") {
                all.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
        all
    }
}

impl TestProject {
    /// Every file under the data folder (database, logs, work folders, artifacts) but the
    /// key file, with its path, for "no secret at rest" checks.
    pub fn data_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let kind = entry.file_type().expect("file type");
                if kind.is_dir() {
                    walk(&path, out);
                } else if kind.is_file() && path.file_name().is_none_or(|n| n != "master.key") {
                    out.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data, &mut out);
        out
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Whether a process is alive; a zombie counts as dead.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

impl TestProject {
    /// Starts `terrace up ENV` in the background and waits until its job has written to `marker`.
    pub fn start_up(&self, env: &str, marker: &Path) -> std::process::Child {
        let child = self
            .command(&["up", env])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn terrace up");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::fs::read_to_string(marker).map(|s| s.trim().is_empty()).unwrap_or(true) {
            assert!(std::time::Instant::now() < deadline, "the job never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child
    }
}
