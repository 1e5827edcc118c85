//! The JSON Schema (draft 2020-12) of `terrace.yaml`, for editors. Hand-written like
//! the parser; a test pins its property names to the parser's key lists so they agree.

use serde_json::{Value, json};

use crate::parse::TEMPLATES;

/// `names::is_valid_resource_name` as a pattern (the length is `maxLength`).
const RESOURCE_NAME: &str = "^[a-z0-9][a-z0-9_-]*$";
/// `names::is_valid_variable_name` as a pattern.
const VARIABLE_NAME: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// The schema of the whole file.
pub fn json_schema() -> Value {
    let events: Vec<&str> = crate::Event::LIFECYCLE.iter().map(|e| e.as_str()).collect();
    let templates: Vec<&str> = TEMPLATES.iter().map(|(name, _)| *name).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "terrace.yaml",
        "description": "A Terrace project: its environments, the lifecycle jobs that build them, and their variables.",
        "type": "object",
        "additionalProperties": false,
        "required": ["project"],
        "properties": {
            "project": {
                "description": "The project's name: lowercase letters, digits, `-` and `_`, at most 63 characters.",
                "type": "string", "pattern": RESOURCE_NAME, "maxLength": 63
            },
            "variables": { "$ref": "#/$defs/variables", "description": "Variables every job of every environment gets (the lowest explicit scope)." },
            "environments": {
                "description": "The environments of the project, by name. Each may override variables.",
                "type": ["object", "null"],
                "propertyNames": { "pattern": RESOURCE_NAME, "maxLength": 63 },
                "additionalProperties": { "$ref": "#/$defs/environment" }
            },
            "jobs": {
                "description": "The lifecycle jobs, by name. Each runs on the events it lists, in dependency order.",
                "type": ["object", "null"],
                "propertyNames": { "pattern": RESOURCE_NAME, "maxLength": 63 },
                "additionalProperties": { "$ref": "#/$defs/job" }
            },
            "executor": { "$ref": "#/$defs/executor", "description": "Where jobs run unless an environment or a job says otherwise (default `local`)." },
            "artifacts": {
                "description": "Images promoted between environments (`terrace promote`): each environment has a tag of the image that its IaC references, moved to a version by a promotion.",
                "type": ["object", "null"],
                "propertyNames": { "pattern": RESOURCE_NAME, "maxLength": 63 },
                "additionalProperties": { "$ref": "#/$defs/artifact" }
            },
            "previews": {
                "description": "Preview classes: each pull request of `repository` (that passes the label and draft filters) gets an environment `pr-<id>` copied from `from`, kept current on every push and destroyed, resources first, when it closes.",
                "type": ["object", "null"],
                "propertyNames": { "pattern": RESOURCE_NAME, "maxLength": 63 },
                "additionalProperties": { "$ref": "#/$defs/preview" }
            },
            "notifications": {
                "description": "Where Terrace reports what happened, by name: a Slack incoming webhook (`slack`) or a generic webhook (`webhook`, a JSON body signed with HMAC-SHA256 under `secret`), for the kinds in `on`. Deliveries are retried with backoff; a failing endpoint never fails a run.",
                "type": ["object", "null"],
                "propertyNames": { "pattern": RESOURCE_NAME, "maxLength": 63 },
                "additionalProperties": { "$ref": "#/$defs/notification" }
            }
        },
        "$defs": {
            "notification": {
                "description": "One endpoint: exactly one of `slack` and `webhook`.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "slack": { "description": "The Slack incoming webhook URL; it holds a token, so write `${secret:NAME}` (set with `terrace secret set NAME --env ENV`).", "type": "string" },
                    "webhook": { "description": "An http(s) URL (or `${secret:NAME}`) that receives each notification as a JSON POST.", "type": "string" },
                    "secret": { "description": "`${secret:NAME}`: the key of the body's HMAC-SHA256, sent as `X-Terrace-Signature: sha256=<hex>` (webhook only).", "type": "string", "pattern": "^\\$\\{secret:[A-Za-z0-9_]+\\}$" },
                    "on": { "description": "The kinds it receives (default: all).", "type": "array", "uniqueItems": true, "items": { "enum": crate::notify::NotifyKind::NAMES } },
                    "environments": { "description": "Only events of these environments (default: all).", "type": "array", "uniqueItems": true, "items": { "type": "string" } }
                }
            },
            "variables": {
                "description": "Variables by name. A value may reference `${outputs.JOB.NAME}` (an output of a job this job depends on, directly or not), `${NAME}` (another variable the job sees, or a built-in), `${secret:NAME}` (a secret of the store) and `${env:NAME}` (the invoking shell; on a server only the names its `allow_env` lists); `$${` is a literal `${`. A value that uses a secret or a sensitive output is itself secret.",
                "type": ["object", "null"],
                "propertyNames": { "pattern": VARIABLE_NAME, "not": { "pattern": "^TERRACE_" } },
                "additionalProperties": { "$ref": "#/$defs/variable" }
            },
            "variable": {
                "description": "A value (short form) or a mapping with `value` and `secret` (long form).",
                "anyOf": [
                    { "type": ["string", "number", "boolean"] },
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["value"],
                        "properties": {
                            "value": { "description": "The variable's value; may hold `${...}` references (see `variables`).", "type": ["string", "number", "boolean"] },
                            "secret": { "description": "Whether the value is a secret: stored encrypted and masked as `***` in logs.", "type": "boolean", "default": false }
                        }
                    }
                ]
            },
            "environment": {
                "description": "One environment. Empty or null when it only needs the project's defaults.",
                "type": ["object", "null"],
                "additionalProperties": false,
                "properties": {
                    "variables": { "$ref": "#/$defs/variables", "description": "Variables of this environment; they override the project's." },
                    "inputs": {
                        "description": "Per job, the parameters file it uses in this environment instead of its own `input` (relative to the project file).",
                        "type": ["object", "null"],
                        "propertyNames": { "pattern": RESOURCE_NAME, "maxLength": 63 },
                        "additionalProperties": { "$ref": "#/$defs/relative_path" }
                    },
                    "executor": { "$ref": "#/$defs/executor", "description": "Where this environment's jobs run unless a job says otherwise." },
                    "pool": { "$ref": "#/$defs/pool", "description": "The agent pool whose agents run this environment's jobs unless a job names its own (`terrace agent --pool NAME`)." },
                    "branch": { "type": "string", "minLength": 1, "description": "The git branch this environment follows: a push to it deploys the environment (plan and apply at the pushed commit); a pull request into it is planned against it." },
                    "on_failure": { "enum": ["rollback", "destroy", "none"], "default": "none", "description": "What a failed `start` leads to: `rollback` re-applies the last commit that applied successfully here, `destroy` runs the delete event, `none` leaves the environment `failed`." },
                    "approval": {
                        "description": "`required`: every event but `plan` (and every promotion to it) waits in `awaiting_approval` until `terrace approve` or `terrace reject`. The mapping form can also require the approver to differ from who asked.",
                        "anyOf": [
                            { "enum": ["required", "none"] },
                            {
                                "type": "object",
                                "additionalProperties": false,
                                "properties": {
                                    "required": { "type": "boolean", "description": "Whether approval is required." },
                                    "distinct_approver": { "type": "boolean", "description": "The approver must be someone other than who asked for the event." }
                                }
                            }
                        ]
                    },
                    "ttl": { "type": "string", "minLength": 1, "description": "Time to live of an ephemeral environment (`72h`, `1h 30m`): its `delete` event runs this long after it was created (`terrace env extend ENV 24h` postpones it); warnings go out before." },
                    "drift": { "$ref": "#/$defs/cron", "description": "When to check for drift: a scheduled plan of its terraform/opentofu jobs; resources changed outside Terrace mark the environment drifted (output-only changes do not)." }
                }
            },
            "job": job_schema(&events, &templates),
            "artifact": {
                "description": "An image repository and the tag each environment uses.",
                "type": "object",
                "additionalProperties": false,
                "required": ["image"],
                "properties": {
                    "image": { "type": "string", "description": "REGISTRY/REPOSITORY, without tag (plain http only for 127.0.0.1 and localhost)." },
                    "tag": { "type": "string", "default": "{env}", "description": "The environment's tag; `{env}` is the environment's name." },
                    "credentials": {
                        "description": "Registry credentials (default: the secrets REGISTRY_USERNAME and REGISTRY_PASSWORD when set). Values may be `${secret:NAME}` or `${env:NAME}`.",
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["username", "password"],
                        "properties": {
                            "username": { "type": "string", "description": "The user name." },
                            "password": { "type": "string", "description": "The password or token." }
                        }
                    },
                    "order": {
                        "description": "The environments a version goes through, in order: a version reaches one only after the one before (`--skip-order` overrides, audited).",
                        "type": "array", "items": { "type": "string" }, "uniqueItems": true
                    }
                }
            },
            "preview": preview_schema(),
            "command": {
                "description": "A string run by `/bin/sh -c`, or a list: the program and its arguments, run as is.",
                "anyOf": [
                    { "type": "string", "minLength": 1 },
                    { "type": "array", "minItems": 1, "items": { "type": "string" } }
                ]
            },
            "cron": {
                "description": "A cron expression in UTC: minute hour day-of-month month day-of-week (an optional seconds field first), e.g. \"0 3 * * *\".",
                "type": "string", "minLength": 9
            },
            "executor": {
                "description": "An executor: where a job's steps run (`local`: processes on the host running Terrace; `docker`: a container per step on the Docker Engine).",
                "enum": crate::project::EXECUTORS
            },
            "pool": {
                "description": "An agent pool: the `terrace agent --pool NAME` processes that pull its jobs from the server.",
                "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"
            },
            "relative_path": {
                "type": "string", "minLength": 1, "pattern": "^[^/]",
                "not": { "pattern": "(^|/)\\.\\.(/|$)" }
            }
        }
    })
}

fn preview_schema() -> Value {
    let fields: Vec<String> = crate::preview::PR_FIELDS.iter().map(|f| format!("`${{pr.{f}}}`")).collect();
    let variables = format!(
        "Variables each preview sets over those of `from`. Values may use {} (`${{pr.id}}`: the first 8 hex characters of sha256 of `OWNER/REPO#NUMBER`) besides the usual references; a secret is `${{secret:NAME}}`, never a value in clear. On a push only the variables whose value changed are updated, and only the jobs whose inputs changed run again.",
        fields.join(", ")
    );
    json!({
        "description": "A preview class: which pull requests open previews, and what each preview sets.",
        "type": "object",
        "additionalProperties": false,
        "required": ["repository", "from"],
        "properties": {
            "repository": { "type": "string", "pattern": "^[A-Za-z0-9.:-]+(/[A-Za-z0-9._-]+){2,}$", "description": "The repository whose pull requests open previews: `github.com/OWNER/REPO` or `gitlab.com/GROUP/PROJECT` (a self-hosted forge's host likewise)." },
            "from": { "type": "string", "pattern": RESOURCE_NAME, "description": "The declared environment each preview copies: its variables, jobs and inputs." },
            "variables": {
                "description": variables,
                "type": ["object", "null"],
                "propertyNames": { "pattern": VARIABLE_NAME, "not": { "pattern": "^TERRACE_" } },
                "additionalProperties": { "type": ["string", "number", "boolean"] }
            },
            "labels": {
                "description": "Label filters: a pull request needs one of `include` (when given) and none of `exclude`. Adding or removing a label creates or destroys the preview accordingly.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "include": { "type": "array", "items": { "type": "string" }, "uniqueItems": true, "description": "Labels that open a preview (any one of them)." },
                    "exclude": { "type": "array", "items": { "type": "string" }, "uniqueItems": true, "description": "Labels that keep a pull request from having a preview (e.g. `wip`)." }
                }
            },
            "drafts": { "type": "boolean", "default": false, "description": "Whether draft pull requests get previews too." },
            "ttl": { "type": "string", "minLength": 1, "description": "A preview is destroyed this long after it was created even if its pull request stays open (`72h`)." },
            "max": { "type": "integer", "minimum": 1, "maximum": crate::parse::MAX_PREVIEWS, "description": "At most this many previews of the class at once; the next pull requests wait in a queue (their comment says so) until one is destroyed." },
            "url": { "type": "string", "pattern": "^https?://[^\\s]*\\{id\\}", "description": "The preview's address, `{id}` standing for its id, e.g. `https://{id}.previews.example.com`: the first line of the pull request's comment." },
            "infrastructure": { "type": "boolean", "default": false, "description": "This is the infrastructure repository of the seed: `${pr.infra_branch}` is the pull request's branch (otherwise `infra_branch`)." },
            "infra_branch": { "type": "string", "minLength": 1, "default": "main", "description": "The infrastructure branch previews of a service repository use, as `${pr.infra_branch}`." }
        }
    })
}

fn job_schema(events: &[&str], templates: &[&str]) -> Value {
    let mut commands: serde_json::Map<String, Value> = events
        .iter()
        .map(|e| {
            let description = format!("The command run on `{e}`.");
            (e.to_string(), json!({ "$ref": "#/$defs/command", "description": description }))
        })
        .collect();
    commands.insert(
        "redeploy".into(),
        json!({ "$ref": "#/$defs/command", "description": "What a promotion of an artifact the job consumes runs instead of `start` (seed 003's force-new-deployment, e.g. `aws ecs update-service --force-new-deployment`)." }),
    );
    json!({
        "description": "A lifecycle job.",
        "type": "object",
        "additionalProperties": false,
        // Only the shell template must list its events: the IaC templates run on
        // start, stop and delete unless told otherwise.
        "if": { "required": ["template"], "properties": { "template": { "enum": ["terraform", "opentofu", "cloudformation"] } } },
        "else": { "required": ["events"] },
        "properties": {
            "template": { "description": "The recipe the job uses.", "enum": templates, "default": "shell" },
            "source": {
                "description": "The job's folder, relative to the project file (no `..`), or a git repository: each run checks out the exact commit `ref` names when its pipeline starts (recorded as the run's `commit` and exported as TERRACE_COMMIT).",
                "default": ".",
                "oneOf": [
                    { "$ref": "#/$defs/relative_path" },
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["git", "ref"],
                        "properties": {
                            "git": { "type": "string", "minLength": 1, "description": "The repository URL (https, ssh, `file://` or an absolute path); never with credentials in it." },
                            "ref": { "type": "string", "minLength": 1, "description": "A branch, a tag, a full ref or a commit id." },
                            "path": { "$ref": "#/$defs/relative_path", "description": "The folder inside the repository (default its root)." },
                            "token": { "type": "string", "pattern": "^\\$\\{secret:[A-Za-z_][A-Za-z0-9_]*\\}$", "description": "An https token, as `${secret:NAME}` (a secret of the store)." },
                            "ssh_key": { "type": "string", "pattern": "^\\$\\{secret:[A-Za-z_][A-Za-z0-9_]*\\}$", "description": "An ssh private key, as `${secret:NAME}` (a secret of the store)." }
                        }
                    }
                ]
            },
            "events": {
                "description": "The lifecycle events the job runs on. Required for shell jobs; terraform, opentofu and cloudformation jobs run on start, stop and delete when it is left out.",
                "type": "array", "minItems": 1, "uniqueItems": true,
                "items": { "enum": events }
            },
            "commands": {
                "description": "The command for each event the job runs on.",
                "type": "object",
                "additionalProperties": false,
                "properties": commands
            },
            "depends_on": {
                "description": "Jobs that must finish before this one starts (and that stop or delete after it).",
                "type": ["array", "null"], "uniqueItems": true,
                "items": { "type": "string", "pattern": RESOURCE_NAME, "maxLength": 63 }
            },
            "input": { "$ref": "#/$defs/relative_path", "description": "The one parameters file, relative to the project file (no `..`); `environments.ENV.inputs.JOB` replaces it in one environment." },
            "variables": { "$ref": "#/$defs/variables", "description": "Variables of this job; they override the environment's and the project's." },
            "max_duration": {
                "description": "How long one attempt may run before its process group is killed, e.g. `10m` or `1h 30m`.",
                "type": "string", "pattern": "^\\s*([0-9]+\\s*[A-Za-zµ]+\\s*)+$"
            },
            "max_restarts": {
                "description": "How many times a failed attempt is run again.",
                "type": "integer", "minimum": 0, "maximum": crate::parse::MAX_RESTARTS, "default": 0
            },
            "passthrough": {
                "description": "Variables of the invoking shell the job inherits, by name.",
                "type": ["array", "null"], "uniqueItems": true,
                "items": { "type": "string", "pattern": VARIABLE_NAME }
            },
            "skip_unchanged": {
                "description": "Skip `start` when its inputs equal those of the last successful start.",
                "type": "boolean", "default": false
            },
            "environments": {
                "description": "The environments the job runs in (default: all). A job it depends on must run in each of them too.",
                "type": "array", "minItems": 1, "uniqueItems": true,
                "items": { "type": "string", "pattern": RESOURCE_NAME, "maxLength": 63 }
            },
            "binary": {
                "description": "terraform / opentofu: the program to run (default `terraform`, or `tofu` for opentofu).",
                "type": "string"
            },
            "backend_config": {
                "description": "terraform / opentofu: `-backend-config` entries passed to `init`.",
                "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] }
            },
            "template_file": { "$ref": "#/$defs/relative_path", "description": "cloudformation: the template, relative to the job's source folder (required for cloudformation)." },
            "capabilities": {
                "description": "cloudformation: capabilities the stack needs.",
                "type": "array", "uniqueItems": true,
                "items": { "enum": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"] }
            },
            "sensitive_outputs": {
                "description": "cloudformation: names of stack Outputs to treat as secrets.",
                "type": "array", "uniqueItems": true, "items": { "type": "string" }
            },
            "executor": { "$ref": "#/$defs/executor", "description": "Where the job runs (default: its environment's, the project's, else `local`)." },
            "pool": { "$ref": "#/$defs/pool", "description": "The agent pool whose agents run the job, with its executor on the agent's host (`terrace agent --pool NAME`); default: its environment's pool, else the server itself." },
            "image": {
                "description": "Container executors: the image the job runs, e.g. `registry.example.com/team/tool:1.2` or `name@sha256:...`; pulled when absent, its digest recorded in the run. Excludes `dockerfile`.",
                "type": "string", "minLength": 1, "maxLength": 255
            },
            "dockerfile": { "$ref": "#/$defs/relative_path", "description": "Container executors: the Dockerfile that builds the job's image, relative to its source folder (the build context). Without `image` or `dockerfile`, the template's default Dockerfile is used." },
            "entrypoint": {
                "description": "Container executors: the program (and first arguments) that receives the event's command as its arguments; the image's own ENTRYPOINT when left out.",
                "anyOf": [
                    { "type": "string", "minLength": 1 },
                    { "type": "array", "minItems": 1, "items": { "type": "string" } }
                ]
            },
            "resources": {
                "description": "What one attempt may use, in Kubernetes notation; each defaults to the template's (`terrace template show`). Enforced by container executors (CPU quota, memory limit).",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "cpu": { "description": "Cores (`1`, `0.5`) or millicores (`500m`).", "type": ["string", "number"], "pattern": "^([0-9]+m|[0-9]*\\.?[0-9]+)$" },
                    "memory": { "description": "Bytes with a unit: `512Mi`, `2Gi`, `1G`; at least 6Mi.", "type": ["string", "number"], "pattern": "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" }
                }
            },
            "artifacts": {
                "description": "Artifacts (of the top-level `artifacts`) this job consumes: it gets `<NAME>_VERSION`, `<NAME>_DIGEST` and `<NAME>_IMAGE`, and a promotion to its environment redeploys it (its `commands.redeploy`, else its `start`).",
                "type": ["array", "null"],
                "items": { "type": "string", "pattern": RESOURCE_NAME },
                "uniqueItems": true
            },
            "schedule": { "$ref": "#/$defs/cron", "description": "A cron job: its `start` runs on this schedule in every deployed (running) environment it runs in; a tick missed while no server ran runs once, not once per missed tick." }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ENVIRONMENT_KEYS, JOB_KEYS, TOP_KEYS, VARIABLE_KEYS};

    fn keys(v: &Value) -> Vec<&str> {
        v["properties"].as_object().expect("properties").keys().map(String::as_str).collect()
    }

    #[test]
    fn property_names_match_the_parser() {
        let s = json_schema();
        assert_eq!(keys(&s), TOP_KEYS);
        assert_eq!(keys(&s["$defs"]["environment"]), ENVIRONMENT_KEYS);
        assert_eq!(keys(&s["$defs"]["job"]), JOB_KEYS);
        assert_eq!(keys(&s["$defs"]["job"]["properties"]["resources"]), crate::parse::RESOURCE_KEYS);
        assert_eq!(keys(&s["$defs"]["artifact"]), crate::parse::ARTIFACT_KEYS);
        assert_eq!(keys(&s["$defs"]["preview"]), crate::parse::PREVIEW_KEYS);
        assert_eq!(keys(&s["$defs"]["preview"]["properties"]["labels"]), crate::parse::LABEL_KEYS);
        assert_eq!(keys(&s["$defs"]["notification"]), crate::parse::NOTIFICATION_KEYS);
        assert_eq!(keys(&s["$defs"]["variable"]["anyOf"][1]), VARIABLE_KEYS);
        assert_eq!(keys(&s["$defs"]["job"]["properties"]["commands"]), ["start", "stop", "delete", "redeploy"]);
        assert_eq!(
            s["$defs"]["job"]["properties"]["template"]["enum"],
            json!(["shell", "terraform", "opentofu", "cloudformation"])
        );
    }

    /// Every object with fixed properties is closed, and every property is described.
    fn check(v: &Value, path: &str) {
        match v {
            Value::Object(map) => {
                // A condition (`if`) only reads properties; it cannot and need not be closed.
                if let Some(Value::Object(props)) = map.get("properties").filter(|_| !path.ends_with("/if")) {
                    assert_eq!(map.get("additionalProperties"), Some(&json!(false)), "{path} is open");
                    for (name, prop) in props {
                        assert!(
                            prop.get("description").and_then(Value::as_str).is_some(),
                            "{path}.{name} has no description"
                        );
                    }
                }
                for (k, child) in map {
                    check(child, &format!("{path}/{k}"));
                }
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, c)| check(c, &format!("{path}/{i}"))),
            _ => {}
        }
    }

    #[test]
    fn closed_and_described_everywhere() {
        check(&json_schema(), "#");
    }

    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r);
                    }
                    m.values().for_each(|c| refs(c, out));
                }
                Value::Array(a) => a.iter().for_each(|c| refs(c, out)),
                _ => {}
            }
        }
        let s = json_schema();
        let mut found = Vec::new();
        refs(&s, &mut found);
        assert!(found.len() >= 5);
        for r in found {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(s.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }
}
