//! `skip_unchanged`: a job re-runs exactly when something it consumes changed (an upstream
//! output, its source, its parameters file, its variables, its command), and its run says
//! which.

mod common;

use common::TestProject;
use serde_json::Value;

const PROJECT: &str = r#"project: p
environments: {dev: {}}
jobs:
  network:
    source: net
    events: [start]
    commands: {start: 'printf "{\"vpc_id\": {\"value\": \"%s\", \"sensitive\": false}}" "$(cat vpc)" > "$TERRACE_OUTPUT_FILE"'}
  app:
    source: app
    input: params/app.json
    depends_on: [network]
    skip_unchanged: true
    events: [start]
    variables: {VPC: '${outputs.network.vpc_id}', SIZE: small}
    commands: {start: 'echo "deploying into $VPC"'}
"#;

/// `up dev`: app's run (from `--json`) and the progress printed.
fn up(p: &TestProject) -> (Value, String) {
    let out = p.run(&["up", "dev", "--json"]).ok();
    let app = TestProject::job_in(&out.json(), "app").clone();
    let number = app["number"].as_u64().unwrap();
    let record = p.json(&["run", "show", &format!("dev#{number}")]);
    (record, out.stderr)
}

fn changed(record: &Value) -> Vec<String> {
    record["inputs_changed"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_job_reruns_exactly_when_what_it_consumes_changed_and_says_what() {
    let p = TestProject::new(PROJECT);
    p.write("net/vpc", "vpc-1");
    p.write("app/deploy.txt", "v1");
    p.write("params/app.json", r#"{"replicas": 1}"#);

    let (first, progress) = up(&p);
    assert_eq!((first["state"].as_str(), changed(&first)), (Some("succeeded"), vec!["first start".to_string()]));
    assert!(progress.contains("app | » runs: first start"), "{progress}");

    // network runs again and writes the same output: app consumes nothing new.
    let (second, progress) = up(&p);
    assert_eq!(second["state"], "skipped", "{second:#}");
    assert!(progress.contains("app: skipped: unchanged since its last successful start, dev#2"), "{progress}");
    assert!(!progress.contains("app: started"), "a skipped job is not shown started:\n{progress}");
    assert_eq!(changed(&second), Vec::<String>::new());

    let cases: [(&str, &str, &str); 5] = [
        ("net/vpc", "vpc-2", "output network.vpc_id"),
        ("app/deploy.txt", "v2", "source"),
        ("params/app.json", r#"{"replicas": 2}"#, "parameters file"),
        ("terrace.yaml", &PROJECT.replace("SIZE: small", "SIZE: large"), "variable SIZE"),
        (
            "terrace.yaml",
            &PROJECT.replace("SIZE: small", "SIZE: large").replace("deploying into", "deploying to"),
            "definition",
        ),
    ];
    for (file, content, what) in cases {
        p.write(file, content);
        let (ran, progress) = up(&p);
        assert_eq!(ran["state"], "succeeded", "{what}: {ran:#}");
        // VPC is made from the output: it changes with it, and is named too.
        let expected: &[&str] = if what.starts_with("output") { &[what, "variable VPC"] } else { &[what] };
        assert_eq!(changed(&ran), expected, "{ran:#}");
        assert!(progress.contains(&format!("app | » runs: {what} changed")), "{progress}");
        let (again, _) = up(&p);
        assert_eq!(again["state"], "skipped", "nothing changed after {what}: {again:#}");
    }
    // The log of a run says why it ran.
    let runs = p.json(&["runs", "--job", "app", "--limit", "2"]);
    let last_ran = &runs[1];
    assert_eq!(changed(last_ran), ["definition"]);
    let log = p.log(&format!("dev#{}", last_ran["number"]));
    assert!(log.contains("runs: definition changed"), "{log}");
}
