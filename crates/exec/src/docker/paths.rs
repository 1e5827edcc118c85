//! Where a container sees the attempt's files: the working copy at `/data/src`, the
//! parameters file under `/data/input`, the output file at `/terrace-output/output.json`
//! (its folder also at `/qovery-output`, where `qovery-output.json` leads to the same
//! file, for images written for that platform), Terraform's state at `/terrace-state` and
//! the run's artifacts at `/terrace-artifacts`. The host folders stay inside the private
//! (0700) work folder; their insides are opened to every user of the container, so an
//! image whose USER is not root can read its input and write its outputs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bollard::models::{Mount, MountTypeEnum};

use crate::{PathRole, StepSpec};

pub(crate) const WORKDIR: &str = "/data/src";
pub(crate) const INPUT_DIR: &str = "/data/input";
pub(crate) const OUTPUT_DIR: &str = "/terrace-output";
pub(crate) const COMPAT_OUTPUT_DIR: &str = "/qovery-output";
pub(crate) const COMPAT_OUTPUT_FILE: &str = "qovery-output.json";
pub(crate) const STATE_DIR: &str = "/terrace-state";
pub(crate) const ARTIFACTS_DIR: &str = "/terrace-artifacts";

pub(crate) fn job_path(role: PathRole, host: &Path) -> PathBuf {
    let name = host.file_name().map(PathBuf::from).unwrap_or_default();
    match role {
        PathRole::Workdir => WORKDIR.into(),
        PathRole::Input => Path::new(INPUT_DIR).join(name),
        PathRole::OutputFile => Path::new(OUTPUT_DIR).join(name),
        PathRole::State => STATE_DIR.into(),
        PathRole::Artifacts => ARTIFACTS_DIR.into(),
    }
}

/// The bind mounts of a step: each host folder that exists, at its place.
pub(crate) fn mounts(spec: &StepSpec) -> Vec<Mount> {
    let bind = |source: &Path, target: &str, read_only: bool| Mount {
        source: Some(source.display().to_string()),
        target: Some(target.to_string()),
        typ: Some(MountTypeEnum::BIND),
        read_only: Some(read_only),
        ..Default::default()
    };
    let mut out = vec![bind(&spec.workdir, WORKDIR, false)];
    if let Some(dir) = spec.input.as_deref().and_then(Path::parent) {
        out.push(bind(dir, INPUT_DIR, true));
    }
    if let Some(dir) = spec.output_file.as_deref().and_then(Path::parent) {
        out.push(bind(dir, OUTPUT_DIR, false));
        out.push(bind(dir, COMPAT_OUTPUT_DIR, false));
    }
    for (dir, target) in [(&spec.container.state_dir, STATE_DIR), (&spec.container.artifacts_dir, ARTIFACTS_DIR)] {
        if let Some(dir) = dir.as_deref().filter(|d| d.is_dir()) {
            out.push(bind(dir, target, false));
        }
    }
    out
}

/// The variables that say where the files are, as the container sees them: the output
/// file, the parameters file (also as `JOB_INPUT`, the name images written for the seed's
/// platform read) and the run.
pub(crate) fn file_env(spec: &StepSpec) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(p) = &spec.output_file {
        env.push(("TERRACE_OUTPUT_FILE".into(), job_path(PathRole::OutputFile, p).display().to_string()));
    }
    if let Some(p) = &spec.input {
        let seen = job_path(PathRole::Input, p).display().to_string();
        env.push(("TERRACE_JOB_INPUT".into(), seen.clone()));
        env.push(("JOB_INPUT".into(), seen));
    }
    env.push(("TERRACE_RUN_ID".into(), spec.run.clone()));
    env
}

/// Opens the attempt's files to the container's user (whatever its uid) and links
/// `qovery-output.json` to the output file. Blocking.
pub(crate) fn open_up(spec: &StepSpec) -> std::io::Result<()> {
    open_tree(&spec.workdir)?;
    if let Some(input) = &spec.input {
        if let Some(dir) = input.parent() {
            set_mode(dir, 0o755)?;
        }
        set_mode(input, 0o644)?;
    }
    if let Some(out) = &spec.output_file {
        if let Some(dir) = out.parent() {
            set_mode(dir, 0o777)?;
            let link = dir.join(COMPAT_OUTPUT_FILE);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(out.file_name().unwrap_or_default(), &link)?;
            }
        }
        set_mode(out, 0o666)?;
    }
    for dir in [&spec.container.state_dir, &spec.container.artifacts_dir].into_iter().flatten() {
        if dir.is_dir() {
            open_tree(dir)?;
        }
    }
    Ok(())
}

/// Folders 0777 and files readable and writable by all (executable bits kept), without
/// following symlinks.
fn open_tree(root: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        let ft = entry.file_type();
        if ft.is_dir() {
            set_mode(entry.path(), 0o777)?;
        } else if ft.is_file() {
            let mode = entry.metadata().map_err(std::io::Error::other)?.permissions().mode();
            set_mode(entry.path(), (mode & 0o7777) | 0o666)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_fixed_places() {
        let p = |role, host: &str| job_path(role, Path::new(host)).display().to_string();
        assert_eq!(p(PathRole::Workdir, "/d/work/r-1/src"), "/data/src");
        assert_eq!(p(PathRole::Input, "/d/work/r-1/input/params.json"), "/data/input/params.json");
        assert_eq!(p(PathRole::OutputFile, "/d/work/r-1/output/output.json"), "/terrace-output/output.json");
        assert_eq!(p(PathRole::State, "/d/state/p/e/j"), "/terrace-state");
        assert_eq!(p(PathRole::Artifacts, "/d/artifacts/r"), "/terrace-artifacts");
    }
}
