//! Where a job's source folder and parameters file are: inside the project folder, with
//! every symlink resolved. A path that leads out of the project (a symlink to /etc, `..`)
//! is refused, so a run never copies or reads what the project does not hold.

use std::path::{Path, PathBuf};

use terrace_model::project::Job;

/// A job's source folder and parameters file, absolute and free of symlinks.
pub(crate) struct Located {
    /// `None` for a git source: its files come from the repository.
    pub source: Option<PathBuf>,
    pub input: Option<PathBuf>,
}

/// Resolves `job`'s paths against `project_root`; the error is the reason its run fails.
pub(crate) async fn locate(project_root: &Path, job: &Job) -> Result<Located, String> {
    let (root, input) = (project_root.to_path_buf(), job.input.clone());
    let source = job.git.is_none().then(|| job.source.clone());
    tokio::task::spawn_blocking(move || {
        let root = std::fs::canonicalize(&root)
            .map_err(|e| format!("cannot read the project folder {}: {e}", root.display()))?;
        let source = source.map(|s| inside(&root, &s, "source folder", |m| m.is_dir())).transpose()?;
        let input = input.map(|p| inside(&root, &p, "parameters file", |m| m.is_file())).transpose()?;
        Ok(Located { source, input })
    })
    .await
    .map_err(|e| format!("cannot locate the job's files: {e}"))?
}

fn inside(root: &Path, rel: &Path, what: &str, kind: fn(&std::fs::Metadata) -> bool) -> Result<PathBuf, String> {
    let given = root.join(rel);
    let resolved = match std::fs::canonicalize(&given) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{what} {} does not exist", given.display()));
        }
        Err(e) => return Err(format!("{what} {}: {e}", given.display())),
    };
    if !resolved.starts_with(root) {
        return Err(format!(
            "{what} `{}` resolves to {}, outside the project folder {}: sources and parameters files must stay inside the project (symlinks included)",
            rel.display(),
            resolved.display(),
            root.display()
        ));
    }
    match std::fs::metadata(&resolved) {
        Ok(m) if kind(&m) => Ok(resolved),
        Ok(_) => Err(format!(
            "{what} {} is not a {}",
            given.display(),
            if what == "source folder" { "folder" } else { "file" }
        )),
        Err(e) => Err(format!("{what} {}: {e}", given.display())),
    }
}

/// `job`'s paths when its source was restored into `src` (a removed job's snapshot): the
/// parameters file is read from the copy when it lay in the source folder, from the
/// project otherwise.
pub(crate) async fn locate_restored(project_root: &Path, job: &Job, src: &Path) -> Result<Located, String> {
    let source = Some(src.to_path_buf());
    let inside_copy = job.input.as_deref().and_then(|i| crate::snapshot::input_inside(&job.source, i, src));
    let input = match (inside_copy, job.input.clone()) {
        (Some(found), _) => Some(found),
        (None, None) => None,
        (None, Some(rel)) => {
            let root = project_root.to_path_buf();
            tokio::task::spawn_blocking(move || {
                let root = std::fs::canonicalize(&root)
                    .map_err(|e| format!("cannot read the project folder {}: {e}", root.display()))?;
                inside(&root, &rel, "parameters file", |m| m.is_file())
            })
            .await
            .map_err(|e| format!("cannot locate the job's files: {e}"))??
            .into()
        }
    };
    Ok(Located { source, input })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(source: &str, input: Option<&str>) -> Job {
        let mut j = Job::new("j", terrace_model::project::TemplateKind::Shell);
        j.source = source.into();
        j.input = input.map(PathBuf::from);
        j
    }

    #[tokio::test]
    async fn paths_stay_inside_the_project() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("shadow"), "root:x").unwrap();
        let p = tempfile::tempdir().unwrap();
        let root = p.path();
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(root.join("app/params.json"), "{}").unwrap();
        std::os::unix::fs::symlink("app", root.join("app-link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("shadow"), root.join("params-link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out-link")).unwrap();

        let ok = locate(root, &job("app-link", Some("app/params.json"))).await.unwrap();
        assert_eq!(ok.source.unwrap(), std::fs::canonicalize(root.join("app")).unwrap());
        assert!(ok.input.unwrap().ends_with("app/params.json"));

        let err = locate(root, &job("app", Some("params-link"))).await.err().unwrap();
        assert!(err.starts_with("parameters file `params-link` resolves to "), "{err}");
        assert!(err.contains("outside the project folder"), "{err}");
        let err = locate(root, &job("out-link", None)).await.err().unwrap();
        assert!(err.starts_with("source folder `out-link` resolves to "), "{err}");
        let err = locate(root, &job("../", None)).await.err().unwrap();
        assert!(err.contains("outside the project folder"), "{err}");
        let err = locate(root, &job("missing", None)).await.err().unwrap();
        assert!(err.contains("does not exist"), "{err}");
        let err = locate(root, &job("app/params.json", None)).await.err().unwrap();
        assert!(err.ends_with("is not a folder"), "{err}");
    }
}
