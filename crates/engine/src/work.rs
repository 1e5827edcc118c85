//! The work folder of one attempt, `work/<run>-<attempt>/` under the data folder: the fresh
//! copy of the source (`src/`), the parameters file's copy (`input/`) and the output file
//! (`output.json` beside `src/`; `output/output.json` for an executor that mounts its
//! folder in a container).
//! Everything in it may hold a secret, so it is private (0700 folders, 0600 files) from
//! creation; it goes when the attempt ends, and whatever a dead process left is swept by
//! the next start (`sweep`, from recovery).

use std::path::{Path, PathBuf};

use terrace_exec::workspace::{self, Excluded};
use terrace_model::RunId;
use terrace_store::Store;

mod spares;

/// The output file's name, beside `src/` or in `output/`.
pub(crate) const OUTPUT_FILE: &str = "output.json";

/// Beside `src/` in a work folder kept on purpose (`TERRACE_KEEP_WORK=1`): the sweep spares it.
const KEPT_MARK: &str = ".kept";

/// The work folders' parent.
pub(crate) fn work_root(data_dir: &Path) -> PathBuf {
    data_dir.join("work")
}

/// A prepared work folder; removed when dropped (see `discard`).
pub(crate) struct WorkFolder {
    pub root: PathBuf,
    /// The copy of the source: every step's working directory.
    pub src: PathBuf,
    /// The copy of the parameters file.
    pub input: Option<PathBuf>,
    /// The snapshot of the copy of the source (`Sources::snapshot`), or why none was made.
    pub snapshot: Option<Result<terrace_store::SourceSnapshot, String>>,
    /// `TERRACE_OUTPUT_FILE`, created empty (0600) so that `> "$TERRACE_OUTPUT_FILE"` keeps it private.
    pub output_file: PathBuf,
}

/// What to copy into a work folder: both already checked to lie inside the project.
pub(crate) struct Sources {
    /// `None`: `src/` is left for a git checkout to write.
    pub source: Option<PathBuf>,
    pub input: Option<PathBuf>,
    /// The data folder: never copied, wherever it lies.
    pub data_dir: PathBuf,
    /// The output file in a folder of its own (`output/`), which a container executor
    /// mounts, and only it. Otherwise it lies beside `src/`: one folder fewer to make
    /// and remove per attempt, which costs more than the job itself on a file system
    /// that looks for an inode not recently freed (docs/PERFORMANCE.md, B).
    pub output_folder: bool,
    /// Archive the copy of the source as the run's source snapshot (`crate::snapshot`),
    /// before the job can change it.
    pub snapshot: bool,
}

/// Makes the work folder of attempt `attempt` of `run`. The error is the reason the
/// attempt fails, for its log.
pub(crate) async fn prepare(data_dir: &Path, run: RunId, attempt: u32, from: Sources) -> Result<WorkFolder, String> {
    prepare_named(data_dir, format!("{run}-{attempt}"), from).await
}

/// Makes the work folder `name` (a debug session's, `debug-<id>`: no run of the store
/// owns it, so the sweep leaves it to the session, which removes it when it ends).
pub(crate) async fn prepare_named(data_dir: &Path, name: String, from: Sources) -> Result<WorkFolder, String> {
    let root = work_root(data_dir).join(name);
    let work = root.clone();
    let made = tokio::task::spawn_blocking(move || prepare_blocking(&work, &from)).await;
    match made {
        Ok(Ok(folder)) => Ok(folder),
        Ok(Err(reason)) => {
            discard(root);
            Err(reason)
        }
        Err(e) => Err(format!("preparing the working copy failed: {e}")),
    }
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        discard(std::mem::take(&mut self.root));
    }
}

fn prepare_blocking(root: &Path, from: &Sources) -> Result<WorkFolder, String> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("cannot prepare the working copy ({what}): {e}")
    };
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(io("removing an old copy"))?;
    }
    // A spare has the plain layout only: `src/` for a copy, the output file beside it.
    let spare = from.source.is_some() && !from.output_folder && spares::take(root);
    if !spare {
        workspace::private_dir(root).map_err(io(&root.display().to_string()))?;
    }
    let src = root.join("src");
    let mut snapshot = None;
    if let Some(source) = &from.source {
        let excluded = Excluded::folders([from.data_dir.as_path()]);
        workspace::copy_tree(source, &src, &excluded)
            .map_err(|e| format!("cannot copy source folder {}: {e}", source.display()))?;
        if from.snapshot {
            snapshot = Some(crate::snapshot::archive_copy(&src));
        }
    }
    let input = match &from.input {
        Some(p) => {
            let dir = root.join("input");
            workspace::private_dir(&dir).map_err(io("input folder"))?;
            let dest = dir.join(p.file_name().unwrap_or_else(|| "params".as_ref()));
            let mut reader = std::fs::File::open(p).map_err(io(&p.display().to_string()))?;
            let mut writer = workspace::private_file(&dest).map_err(io(&dest.display().to_string()))?;
            std::io::copy(&mut reader, &mut writer).map_err(io(&p.display().to_string()))?;
            Some(dest)
        }
        None => None,
    };
    let output_file = match from.output_folder {
        true => {
            let output_dir = root.join("output");
            workspace::private_dir(&output_dir).map_err(io("output folder"))?;
            output_dir.join(OUTPUT_FILE)
        }
        false => root.join(OUTPUT_FILE),
    };
    // A spare's is there already, empty and private.
    if !spare {
        workspace::private_file(&output_file).map_err(io("output file"))?;
    }
    Ok(WorkFolder { root: root.to_path_buf(), src, input, snapshot, output_file })
}

/// Removes a work folder off the path to the next job, unless `TERRACE_KEEP_WORK` asks to
/// keep it (then it is marked, and the sweep spares it).
pub(crate) fn discard(root: PathBuf) {
    if root.as_os_str().is_empty() {
        return;
    }
    if std::env::var_os("TERRACE_KEEP_WORK").is_some() {
        let _ = std::fs::write(root.join(KEPT_MARK), "TERRACE_KEEP_WORK\n");
        return;
    }
    let remove = move || match spares::keep(&root) {
        // Emptied and renamed aside for the next attempt.
        true => {}
        false => match std::fs::remove_dir_all(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove work folder {}: {e}", root.display()),
        },
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn_blocking(remove)),
        Err(_) => remove(),
    }
}

/// Removes the emptied work folders this process kept for its next attempts: call it
/// when no attempt will follow (the process ends), after the async runtime has stopped.
pub fn remove_spares() {
    spares::remove_all();
}

/// Removes the work folders no live run uses: those of finished or unknown runs (a process
/// killed before it could remove them). Run by recovery, after it marked the dead
/// processes' runs interrupted. Returns how many it removed.
pub async fn sweep(store: &dyn Store, data_dir: &Path) -> std::io::Result<usize> {
    let root = work_root(data_dir);
    let names = match tokio::task::spawn_blocking(move || list(&root)).await.map_err(std::io::Error::other)? {
        Ok(names) => names,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut stale = Vec::new();
    for (name, run) in names {
        let active = match store.get_run(run).await {
            Ok(found) => found.is_some_and(|r| r.state.is_active()),
            // Unknown is kept: removing a live run's folder would break it.
            Err(_) => true,
        };
        if !active {
            stale.push(work_root(data_dir).join(name));
        }
    }
    let root = work_root(data_dir);
    let removed = tokio::task::spawn_blocking(move || {
        let spares = spares::sweep_dead(&root);
        stale
            .into_iter()
            .filter(|dir| !dir.join(KEPT_MARK).exists())
            .filter(|dir| std::fs::remove_dir_all(dir).is_ok())
            .count()
            + spares
    })
    .await
    .map_err(std::io::Error::other)?;
    Ok(removed)
}

/// The work folders under `root` and the run each belongs to.
fn list(root: &Path) -> std::io::Result<Vec<(String, RunId)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some((run, attempt)) = name.rsplit_once('-')
            && attempt.parse::<u32>().is_ok()
            && let Ok(run) = run.parse::<RunId>()
        {
            found.push((name, run));
        }
    }
    Ok(found)
}
