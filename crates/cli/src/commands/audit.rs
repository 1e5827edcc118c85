//! `terrace audit` in local mode: the audit log of the data folder's store (approvals and
//! promotions decided here), printed as client mode prints a server's.

use std::process::ExitCode;

use serde_json::Value;

use crate::args::Global;
use crate::context::session;
use crate::exit::CliError;
use crate::server_args::AuditArgs;

pub async fn audit(g: &Global, a: &AuditArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let list = s.control.audit_log(a.limit).await?;
    let values: Vec<Value> = list.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
    crate::client::admin::print_audit(&values, a.json)
}
