use super::parse_project;
use super::tests::only;
use crate::notify::{NotifyKind, NotifyTarget};

const BASE: &str = "project: p\nenvironments:\n  dev: {}\n";

#[test]
fn notifications_parse_with_their_kinds_and_environments() {
    let text = format!(
        "{BASE}notifications:\n  chat:\n    slack: ${{secret:SLACK_URL}}\n    on: [run_failed, drift]\n  \
         hook:\n    webhook: https://hooks.example.com/terrace\n    secret: ${{secret:HOOK_KEY}}\n    environments: [dev]\n"
    );
    let p = parse_project("t.yaml", &text).unwrap();
    let chat = &p.notifications["chat"];
    assert_eq!(chat.target, NotifyTarget::Slack { url: "${secret:SLACK_URL}".into() });
    assert_eq!(chat.on, [NotifyKind::RunFailed, NotifyKind::Drift]);
    assert!(chat.wants(NotifyKind::Drift, "prod") && !chat.wants(NotifyKind::Applied, "dev"));
    let hook = &p.notifications["hook"];
    assert_eq!(hook.on, NotifyKind::ALL, "every kind by default");
    assert!(hook.wants(NotifyKind::TtlWarning, "dev") && !hook.wants(NotifyKind::TtlWarning, "prod"));
    assert_eq!(format!("{:?}", hook.target), "Webhook(signed: true)", "a URL is never printed");
}

#[test]
fn bad_notifications_say_where_and_why() {
    let cases = [
        ("  a:\n    on: [drift]\n", "notification `a` has no endpoint"),
        ("  a:\n    slack: https://x\n    webhook: https://y\n", "has both `slack` and `webhook`"),
        ("  a:\n    webhook: ftp://x\n", "must start with https:// or http://"),
        ("  a:\n    webhook: https://x\n    secret: plain-text\n", "must be `${secret:NAME}`"),
        ("  a:\n    webhook: https://x/${env:TOKEN}\n", "must be a whole `${secret:NAME}`"),
        ("  a:\n    slack: https://x\n    on: [run_fail]\n", "did you mean `run_failed`"),
        ("  a:\n    slack: https://x\n    environments: [prod]\n", "names environment `prod`, which is not defined"),
        ("  a:\n    slack: https://x\n    secret: ${secret:K}\n", "a Slack incoming webhook takes none"),
        ("  a:\n    slack: https://x\n    url: https://y\n", "unknown key `url`"),
    ];
    for (body, expected) in cases {
        let message = only(&format!("{BASE}notifications:\n{body}"));
        assert!(message.contains(expected), "{body}: {message}");
        assert!(message.chars().next().is_some_and(|c| c.is_ascii_digit()), "with its line: {message}");
    }
}
