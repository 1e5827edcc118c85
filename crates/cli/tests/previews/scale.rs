//! Twenty pull requests at once, with pushes, relabels and redeliveries, then all closed:
//! each preview existed exactly once (one environment made per pull request), re-ran only
//! what changed (the infrastructure job once, the app once per head), and every resource
//! was destroyed before its record went.

use std::collections::BTreeMap;

use crate::payloads::{Pr, sha};
use crate::support::eventually;
use crate::{Previews, WITHIN, env_of, ledger};

pub fn yaml(resources: &std::path::Path, extra: &str) -> String {
    format!(
        "project: shop\nenvironments:\n  preview:\n    variables: {{RES: \"{res}\"}}\njobs:\n  infra:\n    source: infra\n    \
         events: [start, delete]\n    variables: {{CODE_VERSION: none}}\n    commands: {{start: ./up.sh, delete: ./down.sh}}\n  \
         app:\n    source: app\n    depends_on: [infra]\n    events: [start, delete]\n    \
         commands: {{start: ./up.sh, delete: ./down.sh}}\npreviews:\n  hello:\n    repository: github.com/acme/hello\n    \
         from: preview\n    variables: {{CODE_VERSION: \"${{pr.head_sha}}\"}}\n    labels: {{include: [preview], exclude: [wip]}}\n{extra}",
        res = resources.display()
    )
}

/// Jobs that make a resource (a folder) per environment and note each make and destroy.
pub fn write_jobs(p: &Previews) {
    for job in ["infra", "app"] {
        p.f.write(
            &format!("proj/{job}/up.sh"),
            &format!(
                "#!/bin/sh\nset -e\nmkdir -p \"$RES/$TERRACE_ENVIRONMENT/{job}\"\necho \"$CODE_VERSION\" > \"$RES/$TERRACE_ENVIRONMENT/{job}/version\"\n\
                 echo \"created {job} $TERRACE_ENVIRONMENT $CODE_VERSION\" >> \"$RES/ledger\"\n"
            ),
        );
        p.f.write(
            &format!("proj/{job}/down.sh"),
            &format!(
                "#!/bin/sh\nset -e\n[ ! -e \"$RES/fail-destroy\" ] || {{ echo 'destroy refused' >&2; exit 3; }}\n\
                 rm -rf \"$RES/$TERRACE_ENVIRONMENT/{job}\"\nrmdir \"$RES/$TERRACE_ENVIRONMENT\" 2>/dev/null || true\n\
                 echo \"destroyed {job} $TERRACE_ENVIRONMENT\" >> \"$RES/ledger\"\n"
            ),
        );
    }
}

#[test]
fn twenty_pull_requests_each_get_exactly_one_preview() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let mut p = Previews::new(&yaml(&res, ""));
    write_jobs(&p);
    p.start();
    let heads: BTreeMap<u64, String> = (1..=20).map(|n| (n, sha(&format!("{n:04x}aaaa")))).collect();
    let pr = |n: u64, head: &'static str| Pr {
        repo: "acme/hello",
        number: n,
        head,
        branch: "feature",
        labels: &["preview"],
        draft: false,
    };
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };

    // Opened at once (each delivered twice, the second a redelivery), from many threads.
    std::thread::scope(|s| {
        for n in 1..=20u64 {
            let (p, head) = (&p, leak(heads[&n].clone()));
            s.spawn(move || {
                let body = pr(n, head).github("opened", false);
                assert_eq!(p.github(&format!("open-{n}"), &body), "queued");
                assert_eq!(p.github(&format!("open-{n}"), &body), "duplicate");
            });
        }
    });
    for n in 1..=20 {
        p.wait(&env_of("acme/hello", n), "running");
    }

    // Pushes to 1..=5, a relabel of 6 and 7 to wip (destroyed), a label event on 8 that
    // changes nothing, a redelivered push.
    let pushed: BTreeMap<u64, &str> = (1..=5).map(|n| (n, leak(sha(&format!("{n:04x}bbbb"))))).collect();
    for (n, head) in &pushed {
        let body = pr(*n, head).github("synchronize", false);
        p.github(&format!("push-{n}"), &body);
        assert_eq!(p.github(&format!("push-{n}"), &body), "duplicate");
    }
    for n in [6, 7] {
        let head = leak(heads[&n].clone());
        p.github(&format!("wip-{n}"), &Pr { labels: &["preview", "wip"], ..pr(n, head) }.github("labeled", false));
    }
    p.github("label-8", &pr(8, leak(heads[&8].clone())).github("labeled", false));
    for (n, head) in &pushed {
        let env = env_of("acme/hello", *n);
        eventually(WITHIN, "pushed heads deployed", || {
            p.preview(&env).filter(|v| v["state"] == "running" && v["deployed_sha"] == *head)
        });
    }
    for n in [6, 7] {
        p.wait(&env_of("acme/hello", n), "deleted");
    }

    // Every pull request closed.
    for n in 1..=20u64 {
        let head = leak(pushed.get(&n).map(|h| h.to_string()).unwrap_or_else(|| heads[&n].clone()));
        p.github(&format!("close-{n}"), &pr(n, head).github("closed", false));
    }
    for n in 1..=20 {
        p.wait(&env_of("acme/hello", n), "deleted");
    }

    let lines = ledger(&res);
    for n in 1..=20u64 {
        let env = env_of("acme/hello", n);
        let mine: Vec<&String> = lines.iter().filter(|l| l.split(' ').nth(2) == Some(env.as_str())).collect();
        let count = |prefix: &str| mine.iter().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(count("created infra"), 1, "{env}: the infrastructure made once: {mine:?}");
        let app_starts = if pushed.contains_key(&n) { 2 } else { 1 };
        assert_eq!(count("created app"), app_starts, "{env}: the app ran once per head: {mine:?}");
        assert_eq!((count("destroyed app"), count("destroyed infra")), (1, 1), "{env}: destroyed once: {mine:?}");
        let last_created = mine.iter().rposition(|l| l.starts_with("created")).unwrap();
        assert!(mine[last_created + 1..].iter().all(|l| l.starts_with("destroyed")), "{env}: {mine:?}");
        assert!(!p.env_exists(&env), "{env}: its record went after its resources");
        assert!(!res.join(&env).exists(), "{env}: a resource is left");
    }
    let list = p.list();
    assert_eq!(list.len(), 20, "one preview per pull request");
}
