//! Environment events and the commands that behave like them.

use std::fmt;
use std::str::FromStr;

/// What a run was started for. `Start`, `Stop` and `Delete` are the lifecycle events a
/// job subscribes to; `Plan` and `Raw` are commands of the IaC templates; `Redeploy` is a
/// job's `commands.redeploy`, which a promotion runs instead of `start` when it is written
/// (seed 003's force-new-deployment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Start,
    Stop,
    Delete,
    Plan,
    Raw,
    Redeploy,
}

impl Event {
    pub const LIFECYCLE: [Event; 3] = [Event::Start, Event::Stop, Event::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Stop => "stop",
            Event::Delete => "delete",
            Event::Plan => "plan",
            Event::Raw => "raw",
            Event::Redeploy => "redeploy",
        }
    }

    /// Whether jobs run in reverse dependency order for this event.
    pub fn reverse_order(self) -> bool {
        matches!(self, Event::Stop | Event::Delete)
    }

    pub fn is_lifecycle(self) -> bool {
        matches!(self, Event::Start | Event::Stop | Event::Delete)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown event name.
#[derive(Debug, thiserror::Error)]
#[error("unknown event `{0}`: expected one of start, stop, delete, plan, raw, redeploy")]
pub struct UnknownEvent(pub String);

impl FromStr for Event {
    type Err = UnknownEvent;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "start" => Event::Start,
            "stop" => Event::Stop,
            "delete" => Event::Delete,
            "plan" => Event::Plan,
            "raw" => Event::Raw,
            "redeploy" => Event::Redeploy,
            other => return Err(UnknownEvent(other.to_string())),
        })
    }
}
