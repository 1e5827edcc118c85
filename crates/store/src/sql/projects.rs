//! Projects registered with a `terrace server`, by name: by the path of their file, or
//! from a git repository and branch (with the commit they were last read at).

use super::SqlStore;
use crate::control::{GitProject, ProjectRecord};
use crate::db::value::now_db;
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "projects";

macro_rules! columns {
    () => {
        "name, path, registered_at, git_url, git_branch, git_path, git_commit"
    };
}

fn from_row(mut r: Row) -> Result<ProjectRecord> {
    let (name, path, registered_at) = (r.text(0)?, r.text(1)?, r.ts(2)?);
    let git = match (r.text_opt(3)?, r.text_opt(4)?, r.text_opt(5)?, r.text_opt(6)?) {
        (Some(url), Some(branch), path, Some(commit)) => {
            Some(GitProject { url, branch, path: path.unwrap_or_default(), commit })
        }
        _ => None,
    };
    Ok(ProjectRecord { name, path, registered_at, git })
}

/// Registers (or moves) a project by name; one registered from git before no longer is.
pub(super) async fn put(s: &SqlStore, name: &str, path: &str) -> Result<ProjectRecord> {
    let sql = concat!(
        "INSERT INTO projects (name, path, registered_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET path = excluded.path, git_url = NULL, git_branch = NULL, \
         git_path = NULL, git_commit = NULL RETURNING ",
        columns!()
    );
    let stmt = Stmt::new(T, sql).bind(name).bind(path).bind(now_db()?).doing(format!("register project {name}"));
    write_one(s, name, stmt).await
}

pub(super) async fn put_git(s: &SqlStore, name: &str, path: &str, git: &GitProject) -> Result<ProjectRecord> {
    let sql = concat!(
        "INSERT INTO projects (name, path, registered_at, git_url, git_branch, git_path, git_commit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (name) DO UPDATE SET path = excluded.path, git_url = excluded.git_url, \
         git_branch = excluded.git_branch, git_path = excluded.git_path, git_commit = excluded.git_commit RETURNING ",
        columns!()
    );
    let stmt = Stmt::new(T, sql)
        .bind(name)
        .bind(path)
        .bind(now_db()?)
        .bind(&git.url)
        .bind(&git.branch)
        .bind(&git.path)
        .bind(&git.commit)
        .doing(format!("register project {name} from git"));
    write_one(s, name, stmt).await
}

async fn write_one(s: &SqlStore, name: &str, stmt: Stmt) -> Result<ProjectRecord> {
    let mut tx = Tx::new();
    let i = tx.push(stmt);
    let mut outs = s.db.write(tx).await?;
    let row = outs[i].rows.pop().ok_or_else(|| StoreError::Corrupt(format!("project {name} not returned")))?;
    from_row(row)
}

pub(super) async fn get(s: &SqlStore, name: &str) -> Result<Option<ProjectRecord>> {
    let stmt = Stmt::new(T, concat!("SELECT ", columns!(), " FROM projects WHERE name = $1"))
        .bind(name)
        .doing(format!("read project {name}"));
    s.db.query_opt(stmt).await?.map(from_row).transpose()
}

pub(super) async fn list(s: &SqlStore) -> Result<Vec<ProjectRecord>> {
    let stmt = Stmt::new(T, concat!("SELECT ", columns!(), " FROM projects ORDER BY name")).doing("list projects");
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}
