//! The examples each command's `--help` ends with, for the commands whose definition in
//! `args` has none of its own (before the text of one that has other after-help) (the README promises examples on every `terrace COMMAND --help`).
//! Kept apart from `args` so adding one never touches a command's definition.

/// (command, examples): shown as the command's after-help unless it has its own.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "up",
        "terrace up dev                    start (deploy or redeploy) `dev`, jobs in dependency order\n\
         terrace up dev --json             the outcome as JSON (progress on stderr)\n\
         terrace up dev --no-wait          fail at once if another event of `dev` runs",
    ),
    (
        "down",
        "terrace down dev                  every job's `stop`, in reverse dependency order\n\
         terrace down dev -q               without the jobs' log lines",
    ),
    (
        "destroy",
        "terrace destroy dev               every job's `delete` (reverse order), then the record\n\
         terrace destroy dev               again after a failure: resumes where it failed",
    ),
    ("job", "terrace job delete app --env dev  one job's delete alone (also a job removed from terrace.yaml)"),
    (
        "outputs",
        "terrace outputs dev               name, value (secrets as ***), job, variable\n\
         terrace outputs dev --reveal      secrets in clear\n\
         terrace outputs dev --json",
    ),
    (
        "status",
        "terrace status                    every environment and its state\n\
         terrace status dev                its state, ttl, schedules and each job's last run\n\
         terrace status dev --json",
    ),
    (
        "runs",
        "terrace runs                      the 50 newest runs, each named ENV#N\n\
         terrace runs --env dev --job app --limit 10\n\
         terrace runs --json",
    ),
    (
        "logs",
        "terrace logs dev#17               a run's log, secrets as ***\n\
         terrace logs dev#17 --attempt 2   one attempt's lines\n\
         terrace logs 01a2 --json          by id prefix, one JSON object per line",
    ),
    (
        "validate",
        "terrace validate                  every problem, as terrace.yaml:LINE:COLUMN: message\n\
         terrace validate --project infra/terrace.yaml --json",
    ),
    ("schema", "terrace schema > terrace.schema.json   for the editor's YAML language server"),
    (
        "template",
        "terrace template list\n\
         terrace template show terraform   its command per event, settings, resources, Dockerfile\n\
         terrace template eject terraform --to docker/terraform",
    ),
    (
        "token",
        "terrace token create --role admin --name me --data /var/lib/terrace   the first token, on the store\n\
         terrace token create --pool builds --name runner-1                    an agent pool's token\n\
         terrace token list --json\n\
         terrace token revoke ID",
    ),
    (
        "secret",
        "printf %s \"$REGISTRY_TOKEN\" | terrace secret set REGISTRY_TOKEN   the project's: every environment\n\
         printf %s \"$DB_PASSWORD\" | terrace secret set DB_PASSWORD --env prod   prod's, over the project's\n\
         terrace secret list               the project's: names, scope, who set them, when; never values\n\
         terrace secret list --env prod    what prod's runs read: its own and the project's\n\
         terrace secret delete DB_PASSWORD --env prod\n\
         terrace secret delete REGISTRY_TOKEN",
    ),
    (
        "request",
        "terrace request list --env dev --state running\n\
         terrace request show ID\n\
         terrace request cancel ID",
    ),
    (
        "project",
        "terrace project list\n\
         terrace project show shop\n\
         terrace project register /srv/shop\n\
         terrace project add --git https://github.com/acme/infra.git --branch main",
    ),
    (
        "audit",
        "terrace audit                     approvals, promotions (and on a server much more)\n\
         terrace audit --limit 20 --json",
    ),
    ("reject", "terrace reject ID --reason freeze     dropped: it never runs; who and why are kept"),
    (
        "approvals",
        "terrace approvals                 what waits for a person\n\
         terrace approvals --env prod --all --json",
    ),
    ("promotions", "terrace promotions --env prod --artifact software --limit 10"),
    (
        "env",
        "terrace env list                  every environment: STATE, ORIGIN, FROM\n\
         terrace env clone dev --to dev-alice --var SIZE=large\n\
         terrace env delete dev-alice      every job's delete, then the environment\n\
         terrace env extend preview 24h    postpone a ttl destroy",
    ),
    ("preview", "terrace preview list --json       each pull request's preview, its state and TTL"),
    (
        "tick",
        "terrace tick                      run what is due now (ttl destroys, cron jobs, drift checks)\n\
         * * * * *  cd /srv/shop && terrace tick    a crontab line",
    ),
];

/// Gives every command without examples of its own these.
pub fn add(mut cli: clap::Command) -> clap::Command {
    for (name, text) in EXAMPLES {
        let examples = format!("Examples:\n  {}", text.replace('\n', "\n  "));
        cli = cli.mut_subcommand(*name, |c| match c.get_after_help().map(|own| own.to_string()) {
            Some(own) if own.contains("Examples:") => c,
            Some(own) => c.after_help(format!("{examples}\n\n{own}")),
            None => c.after_help(examples),
        });
    }
    cli
}
