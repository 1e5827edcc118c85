//! `notifications:` of a project: where Terrace tells people what happened (a Slack
//! incoming webhook, or a generic webhook whose JSON body is signed with HMAC-SHA256) and
//! for which kinds of event.

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// A pipeline (an event of an environment) failed.
    RunFailed,
    /// An event waits for `terrace approve`.
    ApprovalNeeded,
    /// A `start` applied successfully.
    Applied,
    /// A failed `start` was rolled back to the last good commit.
    RolledBack,
    /// A drift check found resources changed outside Terrace.
    Drift,
    /// An ephemeral environment is destroyed soon.
    TtlWarning,
    /// An ephemeral environment's time to live ended: its destroy was asked.
    TtlDestroy,
    /// A destroy that must happen failed (a pull request's preview on close): the
    /// environment stays `failed` and the destroy is tried again.
    DestroyFailed,
}

impl NotifyKind {
    pub const ALL: &'static [NotifyKind] = &[
        NotifyKind::RunFailed,
        NotifyKind::ApprovalNeeded,
        NotifyKind::Applied,
        NotifyKind::RolledBack,
        NotifyKind::Drift,
        NotifyKind::TtlWarning,
        NotifyKind::TtlDestroy,
        NotifyKind::DestroyFailed,
    ];
    pub const NAMES: &'static [&'static str] = &[
        "run_failed",
        "approval_needed",
        "applied",
        "rolled_back",
        "drift",
        "ttl_warning",
        "ttl_destroy",
        "destroy_failed",
    ];

    pub fn as_str(self) -> &'static str {
        NotifyKind::NAMES[NotifyKind::ALL.iter().position(|k| *k == self).unwrap_or(0)]
    }

    pub fn parse(word: &str) -> Option<NotifyKind> {
        NotifyKind::NAMES.iter().position(|n| *n == word).map(|i| NotifyKind::ALL[i])
    }
}

impl std::fmt::Display for NotifyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a notification goes.
#[derive(Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// A Slack incoming webhook: `{"text": ...}` POSTed to its URL.
    Slack { url: String },
    /// Any HTTP endpoint: the event as JSON, signed with `secret` when set
    /// (`X-Terrace-Signature: sha256=<hex HMAC-SHA256 of the body>`).
    Webhook { url: String, secret: Option<String> },
}

impl NotifyTarget {
    pub fn url(&self) -> &str {
        match self {
            NotifyTarget::Slack { url } | NotifyTarget::Webhook { url, .. } => url,
        }
    }
}

// A URL may hold a token (Slack's does): never printed.
impl std::fmt::Debug for NotifyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyTarget::Slack { .. } => f.write_str("Slack"),
            NotifyTarget::Webhook { secret, .. } => write!(f, "Webhook(signed: {})", secret.is_some()),
        }
    }
}

/// One entry of `notifications:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationDef {
    pub name: String,
    pub target: NotifyTarget,
    /// The kinds it receives (all when `on:` is absent).
    pub on: Vec<NotifyKind>,
    /// Only events of these environments (all when absent).
    pub environments: Option<Vec<String>>,
}

impl NotificationDef {
    pub fn wants(&self, kind: NotifyKind, env: &str) -> bool {
        self.on.contains(&kind) && self.environments.as_ref().is_none_or(|l| l.iter().any(|e| e == env))
    }
}
