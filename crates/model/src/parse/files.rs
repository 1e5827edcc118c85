//! The files a project names, checked against the disk for `terrace validate`: source
//! folders, parameters files (the job's own and per environment) and CloudFormation
//! templates. The model does no IO: the caller answers through [`ProjectFiles`].

use std::path::Path;

use super::Walked;
use super::walk::Diags;

/// Answers whether a path relative to the project file's folder exists.
pub trait ProjectFiles {
    fn is_dir(&self, relative: &Path) -> bool;
    fn is_file(&self, relative: &Path) -> bool;
}

pub(super) fn check(d: &mut Diags, walked: &Walked, files: &dyn ProjectFiles) {
    for (name, parsed) in &walked.jobs {
        let job = &parsed.job;
        // A git source's files are in its repository, checked out when a run starts.
        let source_ok = job.git.is_some() || files.is_dir(&job.source);
        if !source_ok {
            d.error(
                parsed.source_at,
                format!(
                    "job `{name}`: source folder `{}` does not exist (paths are relative to the project file)",
                    job.source.display()
                ),
            );
        }
        if let Some(input) = &job.input
            && !files.is_file(input)
        {
            d.error(parsed.input_at, format!("job `{name}`: parameters file `{}` does not exist", input.display()));
        }
        if let Some(t) = &job.iac.template_file
            && job.git.is_none()
            && source_ok
            && !files.is_file(&job.source.join(t))
        {
            d.error(
                parsed.template_file_at,
                format!(
                    "job `{name}`: template_file `{}` does not exist in its source folder `{}`",
                    t.display(),
                    job.source.display()
                ),
            );
        }
        if let Some(f) = &job.container.dockerfile
            && source_ok
            && !files.is_file(&job.source.join(f))
        {
            d.error(
                parsed.dockerfile_at,
                format!(
                    "job `{name}`: dockerfile `{}` does not exist in its source folder `{}` (its build context)",
                    f.display(),
                    job.source.display()
                ),
            );
        }
    }
    for (env, parsed) in &walked.envs {
        for (job, _, path_at) in &parsed.inputs {
            if let Some(path) = parsed.def.inputs.get(job)
                && !files.is_file(path)
            {
                d.error(
                    *path_at,
                    format!("environment `{env}`: parameters file `{}` of job `{job}` does not exist", path.display()),
                );
            }
        }
    }
}
