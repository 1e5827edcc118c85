//! Resolution of one run's variables: precedence, aliases and their notes, and the
//! references of values (outputs of upstream jobs, variables, secrets, environment).

use std::collections::BTreeSet;

use indexmap::IndexMap;

use super::*;

fn def(v: &str) -> VariableDef {
    VariableDef { value: v.into(), secret: false }
}

fn out(job: &str, name: &str, v: &str) -> JobOutput {
    JobOutput { job: job.into(), name: name.into(), value: v.into(), sensitive: false }
}

fn vars(list: &[(&str, &str)]) -> IndexMap<String, VariableDef> {
    list.iter().map(|(k, v)| (k.to_string(), def(v))).collect()
}

fn no_env(name: &str) -> Result<String, String> {
    Err(format!("`{name}` is not set in the invoking environment"))
}

/// Resolves for job `app` in `dev` with these scopes, outputs, upstream jobs and secrets.
fn run(
    project: &IndexMap<String, VariableDef>,
    env: &IndexMap<String, VariableDef>,
    job: &IndexMap<String, VariableDef>,
    outputs: &[JobOutput],
    upstream: &[&str],
    secrets: &[(String, String)],
) -> Result<Resolved, UnresolvedVariable> {
    let upstream: BTreeSet<&str> = upstream.iter().copied().collect();
    let scopes = [
        Scope { kind: ScopeKind::Project, owner: "", vars: project },
        Scope { kind: ScopeKind::Environment, owner: "dev", vars: env },
        Scope { kind: ScopeKind::Job, owner: "app", vars: job },
    ];
    let env_lookup = |n: &str| if n == "HOME" { Ok("/root".to_string()) } else { no_env(n) };
    resolve(&RunVariables {
        job: "app",
        environment: "dev",
        builtins: &[("TERRACE_ENVIRONMENT", "dev".into())],
        outputs,
        upstream: &upstream,
        scopes: &scopes,
        secrets,
        env: &env_lookup,
    })
}

#[test]
fn precedence_and_notes() {
    let project = vars(&[("A", "p"), ("B", "p")]);
    let env = vars(&[("B", "e")]);
    let job = vars(&[("C", "j")]);
    let r = run(&project, &env, &job, &[out("net", "A", "o"), out("net", "D", "d")], &[], &[]).unwrap();
    assert_eq!(r.vars["A"].value, "p");
    assert_eq!(r.vars["B"].value, "e");
    assert_eq!(r.vars["D"].value, "d");
    assert_eq!(r.vars["TERRACE_OUTPUT_JOB_NET_A"].value, "o");
    assert_eq!(r.notes.len(), 1);
    assert!(r.notes[0].contains("TERRACE_OUTPUT_JOB_NET_A"), "{:?}", r.notes);
}

#[test]
fn ambiguous_alias_is_not_set() {
    let none = IndexMap::new();
    let r = run(&none, &none, &none, &[out("a", "X", "1"), out("b", "X", "2")], &[], &[]).unwrap();
    assert!(!r.vars.contains_key("X"));
    assert_eq!(r.vars["TERRACE_OUTPUT_JOB_A_X"].value, "1");
    assert!(r.notes[0].contains("TERRACE_OUTPUT_JOB_B_X"));
}

#[test]
fn reserved_aliases_are_not_set_and_the_log_says_so() {
    let none = IndexMap::new();
    let outputs = [out("evil", "PATH", "/tmp/x"), out("evil", "LD_PRELOAD", "/x.so"), out("evil", "TERRACE_JOB", "y")];
    let r = run(&none, &none, &none, &outputs, &[], &[]).unwrap();
    for name in ["PATH", "LD_PRELOAD"] {
        assert!(!r.vars.contains_key(name), "{name} set");
        assert_eq!(
            r.vars[&format!("TERRACE_OUTPUT_JOB_EVIL_{name}")].value,
            outputs.iter().find(|o| o.name == name).unwrap().value
        );
        assert!(
            r.notes.iter().any(|n| n.contains(&format!("alias `{name}`")) && n.contains("reserved")),
            "{:?}",
            r.notes
        );
    }
    assert!(!r.vars.contains_key("TERRACE_JOB"));
}

#[test]
fn values_reference_outputs_variables_secrets_and_the_environment() {
    let project =
        vars(&[("DSN", "postgres://app:${secret:PW}@${DB_HOST}:5432"), ("DB_HOST", "db.${TERRACE_ENVIRONMENT}")]);
    let env = vars(&[("HOME_DIR", "${env:HOME}/x"), ("LIT", "$${not} $5")]);
    let job = vars(&[("TF_VAR_vpc_id", "${outputs.net.vpc_id}"), ("TOKEN", "t-${outputs.net.token}")]);
    let mut token = out("net", "token", "s3cr3t");
    token.sensitive = true;
    let secrets = [("PW".to_string(), "hunter2".to_string())];
    let r = run(&project, &env, &job, &[out("net", "vpc_id", "vpc-1"), token], &["net"], &secrets).unwrap();
    assert_eq!(r.vars["DSN"], ResolvedVar { value: "postgres://app:hunter2@db.dev:5432".into(), secret: true });
    assert_eq!(r.vars["DB_HOST"], ResolvedVar { value: "db.dev".into(), secret: false });
    assert_eq!(r.vars["HOME_DIR"].value, "/root/x");
    assert_eq!(r.vars["LIT"].value, "${not} $5");
    assert_eq!(r.vars["TF_VAR_vpc_id"], ResolvedVar { value: "vpc-1".into(), secret: false });
    assert_eq!(r.vars["TOKEN"], ResolvedVar { value: "t-s3cr3t".into(), secret: true });
}

#[test]
fn late_binding_a_project_value_uses_the_environments_variable() {
    let project = vars(&[("URL", "https://${HOST}/"), ("HOST", "example.org")]);
    let env = vars(&[("HOST", "dev.example.org")]);
    let r = run(&project, &env, &IndexMap::new(), &[], &[], &[]).unwrap();
    assert_eq!(r.vars["URL"].value, "https://dev.example.org/");
}

#[test]
fn a_secret_variable_makes_its_users_secret() {
    let mut project = vars(&[("A", "x-${B}")]);
    project.insert("B".into(), VariableDef { value: "pw".into(), secret: true });
    let r = run(&project, &IndexMap::new(), &IndexMap::new(), &[], &[], &[]).unwrap();
    assert!(r.vars["A"].secret);
    assert_eq!(r.secrets().collect::<Vec<_>>(), ["x-pw", "pw"]);
}

#[test]
fn an_output_of_a_job_not_upstream() {
    let none = IndexMap::new();
    // A project variable: not set for this job, with a note; its alias stays hidden too.
    let project = vars(&[("VPC", "${outputs.net.vpc_id}"), ("vpc_id", "${VPC}")]);
    let r = run(&project, &none, &none, &[out("net", "vpc_id", "v")], &[], &[]).unwrap();
    assert!(!r.vars.contains_key("VPC") && !r.vars.contains_key("vpc_id"), "{:?}", r.vars);
    assert!(
        r.notes.iter().any(|n| n.starts_with("variable `VPC` of the project is not set for job `app`")
            && n.contains("job `net` is not upstream of `app`")),
        "{:?}",
        r.notes
    );
    // A job's own variable: an error naming the variable and the job.
    let job = vars(&[("X", "${outputs.net.vpc_id}")]);
    let e = run(&none, &none, &job, &[out("net", "vpc_id", "v")], &[], &[]).unwrap_err();
    assert_eq!(e.variable, "variable `X` of job `app`");
    assert!(e.message.contains("job `net` is not upstream of `app`"), "{e}");
}

#[test]
fn missing_sources_are_errors_that_name_the_variable_never_a_value() {
    let none = IndexMap::new();
    let job = vars(&[("X", "${outputs.net.nope}")]);
    let e = run(&none, &none, &job, &[out("net", "vpc_id", "v")], &["net"], &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "variable `X` of job `app`: `${outputs.net.nope}`: job `net` has no output `nope` in environment `dev` (its outputs: vpc_id)"
    );
    let e = run(&none, &none, &job, &[], &["net"], &[]).unwrap_err();
    assert!(e.message.contains("has no outputs in environment `dev` yet"), "{e}");
    let project = vars(&[("K", "${secret:API_KEY}")]);
    let e = run(&project, &none, &none, &[], &[], &[("OTHER".into(), "v4lue".into())]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "variable `K` of the project: `${secret:API_KEY}`: secret `API_KEY` is not set for environment `dev`: set it with `terrace secret set API_KEY --env dev` (or `terrace secret set API_KEY` for every environment)"
    );
    let env = vars(&[("M", "${env:TERRACE_MASTER_KEY}")]);
    let e = run(&none, &env, &none, &[], &[], &[]).unwrap_err();
    assert!(e.to_string().starts_with("variable `M` of environment `dev`: `${env:TERRACE_MASTER_KEY}`: "), "{e}");
    let commit = vars(&[("C", "${TERRACE_COMMIT}")]);
    assert!(run(&commit, &none, &none, &[], &[], &[]).unwrap_err().message.contains("git checkout"));
}

#[test]
fn cycles_and_unknown_names_are_errors_at_run_time_too() {
    let none = IndexMap::new();
    let project = vars(&[("A", "${B}"), ("B", "${A}")]);
    let e = run(&project, &none, &none, &[], &[], &[]).unwrap_err();
    assert!(
        e.message.contains("cycle: `B` (the project) → `A` (the project) → `B`") || e.message.contains("cycle: `A`"),
        "{e}"
    );
    let project = vars(&[("A", "${NOPE}")]);
    assert!(run(&project, &none, &none, &[], &[], &[]).unwrap_err().message.contains("names no variable `NOPE`"));
}

#[test]
fn a_long_chain_does_not_overflow_the_stack() {
    let n = 20_000;
    let mut project: IndexMap<String, VariableDef> = IndexMap::new();
    for i in 0..n {
        project.insert(format!("V{i}"), def(&format!("${{V{}}}", i + 1)));
    }
    project.insert(format!("V{n}"), def("end"));
    let r = run(&project, &IndexMap::new(), &IndexMap::new(), &[], &[], &[]).unwrap();
    assert_eq!(r.vars["V0"].value, "end");
}

#[test]
fn values_that_double_each_other_stop_at_the_limits() {
    let mut project: IndexMap<String, VariableDef> = IndexMap::new();
    project.insert("A0".into(), def(&"x".repeat(1000)));
    for i in 1..64 {
        project.insert(format!("A{i}"), def(&format!("${{A{}}}${{A{}}}", i - 1, i - 1)));
    }
    let e = run(&project, &IndexMap::new(), &IndexMap::new(), &[], &[], &[]).unwrap_err();
    assert!(e.message.contains("longer than 128 KiB"), "{e}");
    // Many values under the per-value limit still stop at the total.
    let mut project: IndexMap<String, VariableDef> = IndexMap::new();
    project.insert("B".into(), def(&"y".repeat(100_000)));
    for i in 0..400 {
        project.insert(format!("C{i}"), def("${B}"));
    }
    let e = run(&project, &IndexMap::new(), &IndexMap::new(), &[], &[], &[]).unwrap_err();
    assert!(e.message.contains("more than 16 MiB"), "{e}");
}
