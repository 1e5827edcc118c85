//! After a kill -9 of `terrace` (issue #10): what the dead run left on disk is private
//! while it lives and gone after the next start; its processes die even when their group's
//! leader is already dead.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestProject, alive, contains};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn kill_9(pid: u32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
}

fn wait_dead(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(Instant::now() < deadline, "{what} ({pid}) is still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_dead_runs_files_are_private_and_swept_by_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("written");
    let yaml = format!(
        r#"project: p
environments: {{dev: {{}}}}
jobs:
  db:
    source: src
    input: params.json
    events: [start]
    commands:
      start: |
        printf '{{"DB_PASS": {{"value": "at-rest-s3cret", "sensitive": true}}}}' > "$TERRACE_OUTPUT_FILE"
        echo "$TERRACE_OUTPUT_FILE $TERRACE_JOB_INPUT" > {marker}
        sleep 300
"#,
        marker = marker.display()
    );
    let p = TestProject::new(&yaml);
    p.write("src/main.tf", "").write("params.json", r#"{"password": "param-s3cret"}"#);
    let mut child = p.start_up("dev", &marker);
    let text = std::fs::read_to_string(&marker).unwrap();
    let (output_file, input) = text.trim().split_once(' ').unwrap();
    let (output_file, input) = (Path::new(output_file), Path::new(input));
    let work = output_file.parent().unwrap();
    assert_eq!(mode(work.parent().unwrap()), 0o700, "work/");
    assert_eq!(mode(work), 0o700, "the attempt's folder");
    assert_eq!(mode(output_file), 0o600, "the output file, written by the job with `>`");
    assert_eq!(mode(input), 0o600, "the parameters file's copy");
    assert_eq!(mode(input.parent().unwrap()), 0o700);
    kill_9(child.id());
    child.wait().unwrap();

    let status = p.run(&["status", "dev", "--json"]).ok();
    assert!(status.stderr.contains("marked interrupted"), "{}", status.stderr);
    assert!(!work.exists(), "the dead run's work folder survived: {}", work.display());
    for (path, bytes) in p.data_files() {
        for secret in ["at-rest-s3cret", "param-s3cret"] {
            assert!(!contains(&bytes, secret), "{secret} at rest in {}", path.display());
        }
    }
}

#[test]
fn orphans_die_even_when_their_groups_leader_is_already_dead() {
    let tmp = tempfile::tempdir().unwrap();
    let (leader_file, member_file) = (tmp.path().join("leader"), tmp.path().join("member"));
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  a:\n    events: [start]\n    commands: {{start: 'sleep 300 & echo $! > {m}; echo $$ > {l}; wait'}}\n",
        m = member_file.display(),
        l = leader_file.display()
    );
    let p = TestProject::new(&yaml);
    let mut child = p.start_up("dev", &leader_file);
    let read = |f: &Path| -> u32 { std::fs::read_to_string(f).unwrap().trim().parse().unwrap() };
    let (leader, member) = (read(&leader_file), read(&member_file));
    kill_9(child.id());
    child.wait().unwrap();
    // The group's leader dies too (as after an OOM kill); its member lives on.
    kill_9(leader);
    wait_dead(leader, "the leader");
    assert!(alive(member));

    p.run(&["status", "dev"]).ok();
    wait_dead(member, "the orphaned member of a group whose leader died");
}
