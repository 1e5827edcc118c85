//! Finds the program of a job the way the job's own shell would: in the PATH of the
//! job's environment, not Terrace's, with relative entries taken from its workdir.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{ExecError, StepSpec};

/// What execvp(3) searches when PATH is unset.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

pub(crate) async fn program(spec: &StepSpec) -> Result<PathBuf, ExecError> {
    let name = match spec.argv.first() {
        Some(name) if !name.is_empty() => name,
        _ => return Err(ExecError::EmptyCommand),
    };
    if name.contains('/') {
        return Ok(spec.workdir.join(name));
    }
    find(name, &spec.env, &spec.workdir)
        .ok_or_else(|| ExecError::Spawn { program: name.clone(), source: io::Error::from(nix::errno::Errno::ENOENT) })
}

/// `name` (without '/') in the PATH of `env`, relative entries taken from `workdir`.
pub(crate) fn find(name: &str, env: &[(String, String)], workdir: &Path) -> Option<PathBuf> {
    let path = env.iter().rev().find(|(k, _)| k == "PATH").map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    // An empty entry means the current folder, as for the shell.
    path.split(':').map(|dir| workdir.join(dir).join(name)).find(|candidate| is_executable_file(candidate))
}

/// Whether `program` would be found for a step with this environment and workdir.
pub(crate) fn has_program(program: &str, env: &[(String, String)], workdir: &Path) -> bool {
    if program.contains('/') {
        return is_executable_file(&workdir.join(program));
    }
    find(program, env, workdir).is_some()
}

fn is_executable_file(path: &Path) -> bool {
    // A plain stat, not tokio::fs: that hands each call to the blocking pool and back
    // (two thread wake-ups per PATH entry tried), which costs more than the stat itself,
    // a lookup in the kernel's cached dentries.
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(argv0: &str, path: Option<&str>, workdir: &Path) -> StepSpec {
        StepSpec {
            run: "r".into(),
            attempt: 1,
            argv: vec![argv0.to_string()],
            image: None,
            container: Default::default(),
            workdir: workdir.to_path_buf(),
            input: None,
            output_file: None,
            env: path.map(|p| ("PATH".to_string(), p.to_string())).into_iter().collect(),
            resources: crate::Resources::default(),
            limits: crate::Limits { max_duration: None, kill_grace: Duration::from_secs(1) },
            capture_stdout: false,
            agent: None,
        }
    }

    #[tokio::test]
    async fn looks_up_the_jobs_path_not_ours() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("tools");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("mytool"), "#!/bin/sh\n").unwrap();
        std::fs::write(bin.join("notexec"), "").unwrap();
        std::fs::set_permissions(bin.join("mytool"), std::fs::Permissions::from_mode(0o755)).unwrap();

        let found = program(&spec("mytool", Some(&format!("/nonexistent:{}", bin.display())), d.path())).await;
        assert_eq!(found.unwrap(), bin.join("mytool"));
        // Relative PATH entries are relative to the workdir.
        assert_eq!(program(&spec("mytool", Some("tools"), d.path())).await.unwrap(), d.path().join("tools/mytool"));
        assert!(matches!(program(&spec("notexec", Some("tools"), d.path())).await, Err(ExecError::Spawn { .. })));
        // Our own PATH has `sh`, the job's does not.
        let err = program(&spec("sh", Some("/nonexistent"), d.path())).await.unwrap_err();
        assert_eq!(err.to_string(), "cannot start `sh`: No such file or directory (is it installed and on PATH?)");
        assert!(program(&spec("sh", None, d.path())).await.is_ok());
    }

    #[tokio::test]
    async fn paths_with_a_slash_are_used_as_given() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(program(&spec("/bin/sh", Some(""), d.path())).await.unwrap(), Path::new("/bin/sh"));
        assert_eq!(program(&spec("./x.sh", Some(""), d.path())).await.unwrap(), d.path().join("./x.sh"));
        assert!(matches!(program(&spec("", None, d.path())).await, Err(ExecError::EmptyCommand)));
    }
}
