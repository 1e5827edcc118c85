//! Preview classes (`previews:` of `terrace.yaml`): which pull requests open a preview
//! environment, what each one sets, and the rules that name it. Pure: the reconciler
//! feeds a pull request's facts in and gets the preview's variables out.

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use crate::project::{Ttl, VariableDef};

/// The `${pr.NAME}` placeholders a preview's variables (and its `url`) may use.
pub const PR_FIELDS: &[&str] = &["head_sha", "number", "branch", "id", "repository", "infra_branch"];

/// One entry of `previews:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewDef {
    pub name: String,
    /// `HOST/OWNER/REPO` (`github.com/acme/hello`, `gitlab.com/group/sub/project`): pull
    /// requests of this repository open previews.
    pub repository: String,
    /// The declared environment each preview copies (its variables, jobs and inputs).
    pub from: String,
    /// Set in each preview over `from`'s; values may use `${pr.NAME}` (see [`PR_FIELDS`]).
    pub variables: IndexMap<String, VariableDef>,
    /// A pull request opens a preview only with one of these labels (empty: any).
    pub include_labels: Vec<String>,
    /// ... and none of these.
    pub exclude_labels: Vec<String>,
    /// Draft pull requests open previews too.
    pub drafts: bool,
    /// A preview is destroyed this long after it was created, even if its PR stays open.
    pub ttl: Option<Ttl>,
    /// At most this many previews of the class exist at once; more wait in a queue.
    pub max: Option<u32>,
    /// The preview's address, `{id}` standing for its id: listed first in the PR comment.
    pub url: Option<String>,
    /// The repository is the infrastructure repository of the seed: `${pr.infra_branch}`
    /// is the pull request's branch. Otherwise it is [`PreviewDef::infra_branch`].
    pub infrastructure: bool,
    /// The infrastructure branch previews of a service repository use [default: `main`].
    pub infra_branch: String,
}

/// What a pull request tells a preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestFacts {
    /// `OWNER/REPO` (GitLab: `GROUP/PROJECT`), without the host.
    pub full_name: String,
    pub number: u64,
    pub head_sha: String,
    pub branch: String,
    pub draft: bool,
    pub labels: Vec<String>,
}

/// Whether a pull request gets a preview of a class, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    Refused(String),
}

/// The id of the preview of pull request `number` of `full_name` (`OWNER/REPO`): the
/// first 8 hex characters of sha256 of `OWNER/REPO#NUMBER`, so it survives a reopen.
pub fn preview_id(full_name: &str, number: u64) -> String {
    let digest = Sha256::digest(format!("{full_name}#{number}").as_bytes());
    hex::encode(digest)[..8].to_string()
}

/// The environment a preview lives in: `pr-<id>`.
pub fn preview_environment(id: &str) -> String {
    format!("pr-{id}")
}

impl PreviewDef {
    /// Whether this class takes pull requests of `slug` (`HOST/OWNER/REPO`, any case of host).
    pub fn watches(&self, slug: &str) -> bool {
        self.repository.eq_ignore_ascii_case(slug)
    }

    /// Whether the pull request opens (or keeps) a preview: drafts and labels.
    pub fn admits(&self, pr: &PullRequestFacts) -> Admission {
        if pr.draft && !self.drafts {
            return Admission::Refused("draft pull requests get no preview (`drafts: true` allows them)".into());
        }
        if let Some(label) = self.exclude_labels.iter().find(|l| pr.labels.contains(l)) {
            return Admission::Refused(format!("label `{label}` excludes it"));
        }
        if !self.include_labels.is_empty() && !self.include_labels.iter().any(|l| pr.labels.contains(l)) {
            return Admission::Refused(format!("it needs one of the labels {}", self.include_labels.join(", ")));
        }
        Admission::Admitted
    }

    /// The value of `${pr.NAME}` for a pull request.
    pub fn field(&self, pr: &PullRequestFacts, name: &str) -> Option<String> {
        Some(match name {
            "head_sha" => pr.head_sha.clone(),
            "number" => pr.number.to_string(),
            "branch" => pr.branch.clone(),
            "id" => preview_id(&pr.full_name, pr.number),
            "repository" => pr.full_name.clone(),
            "infra_branch" if self.infrastructure => pr.branch.clone(),
            "infra_branch" => self.infra_branch.clone(),
            _ => return None,
        })
    }

    /// The preview's variables for a pull request, `${pr.NAME}` replaced (other
    /// references are kept for run time).
    pub fn variables_for(&self, pr: &PullRequestFacts) -> IndexMap<String, VariableDef> {
        self.variables
            .iter()
            .map(|(k, v)| (k.clone(), VariableDef { value: expand(&v.value, |n| self.field(pr, n)), secret: v.secret }))
            .collect()
    }

    /// The preview's URL, `{id}` replaced.
    pub fn url_for(&self, id: &str) -> Option<String> {
        self.url.as_ref().map(|u| u.replace("{id}", id))
    }
}

/// `value` with each `${pr.NAME}` replaced by `field(NAME)`; unknown names stay as written.
pub fn expand(value: &str, field: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${pr.") {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let replaced = tail.find('}').and_then(|end| field(&tail[5..end]).map(|v| (v, end)));
        match replaced {
            Some((v, end)) => {
                out.push_str(&v);
                rest = &tail[end + 1..];
            }
            None => {
                out.push_str("${pr.");
                rest = &tail[5..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `${pr.NAME}` names in `value`, each with its byte offset.
pub fn pr_references(value: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = value[from..].find("${pr.") {
        let start = from + at;
        match value[start..].find('}') {
            Some(end) => {
                out.push((&value[start + 5..start + end], start));
                from = start + end + 1;
            }
            None => {
                out.push((&value[start + 5..], start));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class() -> PreviewDef {
        PreviewDef {
            name: "hello".into(),
            repository: "github.com/acme/hello".into(),
            from: "preview".into(),
            variables: [("CODE".to_string(), VariableDef { value: "v-${pr.head_sha}-${pr.x}".into(), secret: false })]
                .into_iter()
                .collect(),
            include_labels: vec!["preview".into()],
            exclude_labels: vec!["wip".into()],
            drafts: false,
            ttl: None,
            max: None,
            url: Some("https://{id}.previews.example.com".into()),
            infrastructure: false,
            infra_branch: "main".into(),
        }
    }

    fn pr() -> PullRequestFacts {
        PullRequestFacts {
            full_name: "acme/hello".into(),
            number: 7,
            head_sha: "abc".into(),
            branch: "feature".into(),
            draft: false,
            labels: vec!["preview".into()],
        }
    }

    #[test]
    fn the_id_is_sha256_of_owner_repo_number() {
        // printf 'acme/hello#7' | sha256sum
        let full = hex::encode(Sha256::digest(b"acme/hello#7"));
        assert_eq!(preview_id("acme/hello", 7), full[..8]);
        assert_eq!(preview_environment("0a1b2c3d"), "pr-0a1b2c3d");
        assert_ne!(preview_id("acme/hello", 8), preview_id("acme/hello", 7));
    }

    #[test]
    fn labels_and_drafts_decide() {
        let c = class();
        assert_eq!(c.admits(&pr()), Admission::Admitted);
        let wip = PullRequestFacts { labels: vec!["preview".into(), "wip".into()], ..pr() };
        assert!(matches!(c.admits(&wip), Admission::Refused(m) if m.contains("wip")));
        let none = PullRequestFacts { labels: vec![], ..pr() };
        assert!(matches!(c.admits(&none), Admission::Refused(_)));
        let draft = PullRequestFacts { draft: true, ..pr() };
        assert!(matches!(c.admits(&draft), Admission::Refused(m) if m.contains("draft")));
        assert_eq!(PreviewDef { drafts: true, ..c }.admits(&draft), Admission::Admitted);
    }

    #[test]
    fn variables_take_the_pull_request() {
        let c = class();
        assert_eq!(c.variables_for(&pr())["CODE"].value, "v-abc-${pr.x}");
        assert_eq!(c.field(&pr(), "infra_branch").unwrap(), "main");
        let infra = PreviewDef { infrastructure: true, ..c.clone() };
        assert_eq!(infra.field(&pr(), "infra_branch").unwrap(), "feature");
        let id = preview_id("acme/hello", 7);
        assert_eq!(c.url_for(&id).unwrap(), format!("https://{id}.previews.example.com"));
        assert_eq!(pr_references("a${pr.id}b${pr.no"), vec![("id", 1), ("no", 10)]);
    }
}
