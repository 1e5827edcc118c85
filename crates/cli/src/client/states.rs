//! `terrace state list|show|pull` against a server, printed as local mode prints them.

use std::process::ExitCode;

use reqwest::Method;

use super::{Client, project_name, seg};
use crate::args::{Global, StateCommand};
use crate::commands::state::{print_contents, print_raw, print_versions};
use crate::exit::CliError;

pub async fn state(client: &Client, g: &Global, c: StateCommand) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let base =
        |env: &str, job: &str| format!("/projects/{}/environments/{}/states/{}", seg(&project), seg(env), seg(job));
    let version = |v: Option<u64>| v.map(|n| format!("?version={n}")).unwrap_or_default();
    match c {
        StateCommand::List { env, job, json } => {
            print_versions(&client.get(&format!("{}/versions", base(&env, &job))).await?, json)
        }
        StateCommand::Show { env, job, version: v, json } => {
            print_contents(&client.get(&format!("{}{}", base(&env, &job), version(v))).await?, json)
        }
        StateCommand::Pull { env, job, version: v } => {
            print_raw(&client.send(Method::GET, &format!("{}/raw{}", base(&env, &job), version(v)), None).await?)
        }
    }
}
