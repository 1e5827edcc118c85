//! What a pull-request event asks of the previews: for each preview class watching its
//! repository, whether the pull request should have a preview now and with which
//! variables. Pure: the event and the project in, wishes out.

use std::collections::BTreeMap;

use terrace_forge::{Forge, PullRequestAction, PullRequestEvent};
use terrace_model::Project;
use terrace_model::preview::{Admission, PreviewDef, PullRequestFacts, preview_environment, preview_id};
use terrace_store::PreviewWish;

/// The wishes of `event` for the classes of `project` that watch its repository.
pub fn wishes(project: &Project, forge: Forge, event: &PullRequestEvent) -> Vec<PreviewWish> {
    let pr = &event.pull_request;
    let slug = pr.repository.slug();
    project
        .previews
        .values()
        .filter(|class| class.watches(&slug))
        .map(|class| wish(project, class, forge, event))
        .collect()
}

fn wish(project: &Project, class: &PreviewDef, forge: Forge, event: &PullRequestEvent) -> PreviewWish {
    let pr = &event.pull_request;
    let facts = PullRequestFacts {
        full_name: pr.repository.full_name.clone(),
        number: pr.number,
        head_sha: pr.head_sha.clone(),
        branch: pr.head_ref.clone(),
        draft: pr.draft,
        labels: pr.labels.clone(),
    };
    let why = match &event.action {
        PullRequestAction::Closed { merged: true } => Some("the pull request was merged".to_string()),
        PullRequestAction::Closed { merged: false } => Some("the pull request was closed".to_string()),
        _ => match class.admits(&facts) {
            Admission::Admitted => None,
            Admission::Refused(why) => Some(format!("no preview: {why}")),
        },
    };
    let id = preview_id(&facts.full_name, facts.number);
    let variables: BTreeMap<String, String> =
        class.variables_for(&facts).into_iter().map(|(name, def)| (name, def.value)).collect();
    PreviewWish {
        project: project.name.clone(),
        class: class.name.clone(),
        environment: preview_environment(&id),
        preview_id: id,
        forge: match forge {
            Forge::GitHub => "github".into(),
            Forge::GitLab => "gitlab".into(),
        },
        repository: pr.repository.slug(),
        full_name: facts.full_name,
        number: facts.number,
        head_sha: facts.head_sha,
        branch: facts.branch,
        wanted: why.is_none(),
        why,
        variables,
    }
}
