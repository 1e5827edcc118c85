//! Terrace's own view of what GitHub and GitLab send: only the fields pipelines and
//! previews act on, the same types for both forges.

use std::fmt;

/// Which forge an event or a client speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forge {
    GitHub,
    GitLab,
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
        })
    }
}

/// A repository (GitHub) or project (GitLab).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    pub forge: Forge,
    /// The forge's numeric id (GitLab's API accepts it in place of the path).
    pub id: u64,
    /// `OWNER/REPO` on GitHub, `GROUP/SUBGROUP/PROJECT` on GitLab.
    pub full_name: String,
    /// The owner (GitHub) or namespace (GitLab): `full_name` less its last segment.
    pub owner: String,
    pub name: String,
    /// The page of the repository, e.g. `https://github.com/OWNER/REPO`.
    pub web_url: String,
    pub clone_url: String,
    pub ssh_url: Option<String>,
    pub default_branch: Option<String>,
}

impl Repository {
    /// `HOST/FULL_NAME`, e.g. `github.com/acme/infra`: how `terrace.yaml` names it.
    pub fn slug(&self) -> String {
        let host = self.web_url.split_once("://").map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
        format!("{}/{}", host.to_ascii_lowercase(), self.full_name)
    }
}

/// Commits pushed to a branch or tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    pub repository: Repository,
    /// The full ref, e.g. `refs/heads/main` or `refs/tags/v1`.
    pub git_ref: String,
    /// The commit the ref was at (all zeros when the ref was created).
    pub before: String,
    /// The commit the ref is at now (all zeros when the ref was deleted).
    pub after: String,
    pub pusher: String,
    pub created: bool,
    pub deleted: bool,
}

impl Push {
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }

    pub fn tag(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/tags/")
    }
}

/// A pull request (GitHub) or merge request (GitLab), as of the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// The repository the pull request targets.
    pub repository: Repository,
    /// GitHub's number, GitLab's `iid`: what the API and the page use.
    pub number: u64,
    pub title: String,
    pub head_sha: String,
    /// The source branch.
    pub head_ref: String,
    /// Where the head branch lives (`full_name`); differs from `repository` for a fork.
    pub head_repository: Option<String>,
    pub base_ref: String,
    pub draft: bool,
    /// Label names, as they are after the event.
    pub labels: Vec<String>,
    pub web_url: String,
}

/// What happened to a pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullRequestAction {
    Opened,
    Reopened,
    /// New commits on the head: GitHub `synchronize`, GitLab `update` with `oldrev`.
    Synchronized {
        before: Option<String>,
    },
    Labeled {
        label: String,
    },
    Unlabeled {
        label: String,
    },
    /// GitLab `update` without new commits (title, description, labels...): nothing to
    /// redeploy; `labels_changed` says whether label filters must be looked at again.
    Edited {
        labels_changed: bool,
    },
    ReadyForReview,
    ConvertedToDraft,
    Closed {
        merged: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub action: PullRequestAction,
    pub pull_request: PullRequest,
    /// Who caused the event.
    pub sender: String,
}

/// A webhook delivery, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// GitHub's `ping` when a webhook is set up.
    Ping {
        hook_id: Option<u64>,
    },
    Push(Push),
    PullRequest(PullRequestEvent),
    /// An event, or an action of one, that Terrace does not act on: answered 202, ignored.
    Unhandled {
        event: String,
        action: Option<String>,
    },
}

/// A verified webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub forge: Forge,
    /// The forge's delivery id, the same on a redelivery: `X-GitHub-Delivery`, GitLab's
    /// `Idempotency-Key` or else `X-Gitlab-Event-UUID`.
    pub id: Option<String>,
    pub event: Event,
}

impl Delivery {
    /// A key to deduplicate deliveries by (`github:ID`), when the forge sent an id.
    pub fn dedup_key(&self) -> Option<String> {
        let forge = match self.forge {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        };
        self.id.as_ref().map(|id| format!("{forge}:{id}"))
    }
}
