//! Images for the tests, built with the docker CLI from files the tests provide, and
//! checks on what Docker holds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A static busybox: `TERRACE_TEST_BUSYBOX`, else Debian's busybox-static at /bin/busybox.
pub fn busybox() -> PathBuf {
    let path = std::env::var_os("TERRACE_TEST_BUSYBOX").map(PathBuf::from).unwrap_or_else(|| "/bin/busybox".into());
    assert!(
        path.is_file(),
        "no static busybox at {}: run the tests with scripts/test, which installs busybox-static",
        path.display()
    );
    path
}

#[track_caller]
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("the docker CLI");
    assert!(out.status.success(), "docker {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `tag` from a context holding busybox and `files` (name, bytes, mode).
pub fn build(tag: &str, dockerfile: &str, files: &[(&str, &[u8], u32)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(busybox(), dir.path().join("busybox")).unwrap();
    write_files(dir.path(), files);
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    docker(&["build", "-q", "-t", tag, &dir.path().display().to_string()]);
    tag.to_string()
}

pub fn write_files(dir: &Path, files: &[(&str, &[u8], u32)]) {
    use std::os::unix::fs::PermissionsExt;
    for (name, bytes, mode) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
}

/// The start of every test image: busybox as /bin, a /tmp.
pub const BUSYBOX_BASE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN mkdir -p /tmp /usr/bin && chmod 1777 /tmp\n";

/// A shell image: `sh -c` takes the command.
pub fn shell_image() -> String {
    build("terrace-test/busybox:1", BUSYBOX_BASE, &[])
}

/// The containers Docker still has for a run (running or not).
pub fn containers_of(run: &str) -> Vec<String> {
    docker(&["ps", "-aq", "--filter", &format!("label=terrace.run={run}")]).lines().map(String::from).collect()
}

/// The containers of every run of `project`'s data folder that Docker still has.
pub fn leftovers(p: &crate::common::TestProject) -> Vec<String> {
    let runs = p.json(&["runs"]);
    runs.as_array().unwrap().iter().flat_map(|r| containers_of(r["id"].as_str().unwrap())).collect()
}

/// Starts `terrace up dev` of `p` in the background and waits until its job's container
/// runs (the run is in the store before its container starts); returns the process and
/// the run's id.
#[expect(clippy::zombie_processes, reason = "the child is handed to the caller, which waits on it")]
pub fn up_until_its_container_runs(p: &crate::common::TestProject) -> (std::process::Child, String) {
    use std::time::{Duration, Instant};
    let mut child = p
        .command(&["up", "dev"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the job's container never ran");
        }
        let runs = p.json(&["runs"]);
        let run = runs.as_array().unwrap().first().map(|r| r["id"].as_str().unwrap().to_string());
        if let Some(run) = run {
            let running = docker(&["ps", "-q", "--filter", &format!("label=terrace.run={run}")]);
            if !running.trim().is_empty() {
                return (child, run);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
