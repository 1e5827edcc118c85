//! Who holds a run or a request: one `Owner` type for a local `terrace` process, a
//! server replica and (later) an agent, with a stable string form kept in the store;
//! and the lease a holder writes under, with its fencing token.
//!
//! String forms: `local:<pid>:<start>@<host>` (a `terrace` command), `server:<pid>:<start>@<host>`
//! (a `terrace server` replica), `agent:<id>`. `<start>` is the process's start time in
//! clock ticks since boot, so a pid reused by another process is told apart. A form this
//! version does not know is kept as it is (`Other`).

use std::fmt;
use std::sync::Arc;

use terrace_model::RunId;

use crate::control::RequestId;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    /// A `terrace` command in local mode.
    Local { pid: u32, start: u64, host: String },
    /// A `terrace server` replica.
    Replica { pid: u32, start: u64, host: String },
    /// A remote agent of a worker pool.
    Agent { id: String },
    /// A form this version does not know.
    Other,
}

/// A holder of leases. Cheap to clone; compares by its string form.
#[derive(Clone, Debug)]
pub struct Owner {
    text: Arc<str>,
    kind: OwnerKind,
}

impl PartialEq for Owner {
    fn eq(&self, other: &Owner) -> bool {
        self.text == other.text
    }
}
impl Eq for Owner {}

impl std::hash::Hash for Owner {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

impl Owner {
    pub fn local(pid: u32, start: u64, host: &str) -> Owner {
        Owner::from_kind(OwnerKind::Local { pid, start, host: host.to_string() })
    }

    pub fn replica(pid: u32, start: u64, host: &str) -> Owner {
        Owner::from_kind(OwnerKind::Replica { pid, start, host: host.to_string() })
    }

    pub fn agent(id: &str) -> Owner {
        Owner::from_kind(OwnerKind::Agent { id: id.to_string() })
    }

    fn from_kind(kind: OwnerKind) -> Owner {
        let text = match &kind {
            OwnerKind::Local { pid, start, host } => format!("local:{pid}:{start}@{host}"),
            OwnerKind::Replica { pid, start, host } => format!("server:{pid}:{start}@{host}"),
            OwnerKind::Agent { id } => format!("agent:{id}"),
            OwnerKind::Other => String::new(),
        };
        Owner { text: text.into(), kind }
    }

    /// Reads a stored owner; never fails (an unknown form is `OwnerKind::Other`).
    pub fn parse(text: &str) -> Owner {
        Owner { text: text.into(), kind: parse_kind(text).unwrap_or(OwnerKind::Other) }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> &OwnerKind {
        &self.kind
    }

    /// The process holding the leases and its host, for a local command or a replica.
    pub fn process(&self) -> Option<(u32, u64, &str)> {
        match &self.kind {
            OwnerKind::Local { pid, start, host } | OwnerKind::Replica { pid, start, host } => {
                Some((*pid, *start, host.as_str()))
            }
            _ => None,
        }
    }

    /// Who it is, in words, for reasons a user reads.
    pub fn describe(&self) -> String {
        match &self.kind {
            OwnerKind::Local { pid, host, .. } => format!("the terrace process {pid} on host {host}"),
            OwnerKind::Replica { pid, host, .. } => format!("the terrace server (pid {pid}) on host {host}"),
            OwnerKind::Agent { id } => format!("agent {id}"),
            OwnerKind::Other => format!("`{}`", self.text),
        }
    }
}

fn parse_kind(text: &str) -> Option<OwnerKind> {
    if let Some(id) = text.strip_prefix("agent:") {
        return Some(OwnerKind::Agent { id: id.to_string() });
    }
    let (kind, rest) = text.split_once(':')?;
    let (ids, host) = rest.split_once('@')?;
    let (pid, start) = ids.split_once(':')?;
    let (pid, start, host) = (pid.parse().ok()?, start.parse().ok()?, host.to_string());
    match kind {
        "local" => Some(OwnerKind::Local { pid, start, host }),
        "server" => Some(OwnerKind::Replica { pid, start, host }),
        _ => None,
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A lease on a run or a request: its holder and the fencing token of the claim. Every
/// write under it is refused (`StoreError::LeaseLost`) once another claim or a take-back
/// bumped the token, or the record ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease<Id> {
    pub id: Id,
    pub owner: Owner,
    pub token: u64,
}

pub type RunLease = Lease<RunId>;
pub type RequestLease = Lease<RequestId>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_round_trip() {
        for owner in [Owner::local(12, 345, "vm"), Owner::replica(7, 8, "host-a"), Owner::agent("pool-1/a")] {
            let back = Owner::parse(owner.as_str());
            assert_eq!(back.kind(), owner.kind());
            assert_eq!(back, owner);
        }
        assert_eq!(Owner::local(12, 345, "vm").as_str(), "local:12:345@vm");
        assert_eq!(Owner::replica(7, 8, "h").as_str(), "server:7:8@h");
        assert_eq!(Owner::replica(7, 8, "h").process(), Some((7, 8, "h")));
        assert_eq!(Owner::parse("me").kind(), &OwnerKind::Other);
        assert_eq!(Owner::parse("local:x:1@h").kind(), &OwnerKind::Other);
        assert_eq!(Owner::parse("me").as_str(), "me");
    }
}
