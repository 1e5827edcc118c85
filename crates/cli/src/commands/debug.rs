//! `terrace run JOB --env ENV --event debug`: a shell in the job's exact environment (its
//! executor, image, working copy, parameters and variables), for the person at this
//! terminal; everything it made goes when the shell ends. Local mode only: the shell runs
//! on this machine.

use std::process::ExitCode;

use terrace_engine::DebugRequest;

use crate::args::{ExecFlags, Global};
use crate::context::session;
use crate::exit::CliError;
use crate::out::errln;

pub async fn run(g: &Global, job: String, env: String, flags: &ExecFlags) -> Result<ExitCode, CliError> {
    let session = session(g).await?;
    let secrets = session.secrets(&env).await?;
    let engine = session.engine(flags);
    // Ctrl-C belongs to the shell and what runs in it, not to Terrace.
    tokio::spawn(async {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
        }
    });
    errln!("debug: a shell in the environment of job `{job}` in `{env}` (exit to end it; nothing is recorded)");
    let say = |line: &str| errln!("{line}");
    let code = engine.debug(DebugRequest { env, job, secrets }, &say).await?;
    errln!("debug: the shell exited with status {code}; its working copy is removed");
    Ok(if code == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
