//! `notifications:` at the top level: each endpoint's `slack` or `webhook` URL (plain
//! https/http, or `${secret:NAME}`), the webhook's signing `secret`, the kinds it
//! receives (`on`) and the environments it is for.

use indexmap::IndexMap;

use super::check_name;
use super::job::unique_strings;
use super::walk::{Diags, Pos, Slot, check_keys, closest, get, shorten};
use crate::notify::{NotificationDef, NotifyKind, NotifyTarget};

pub const NOTIFICATION_KEYS: &[&str] = &["slack", "webhook", "secret", "on", "environments"];

/// An endpoint, with where each of its `environments` is written.
pub(super) type Parsed = IndexMap<String, (NotificationDef, Vec<(String, Pos)>)>;

pub(super) fn notifications(d: &mut Diags, slot: &Slot<'_>) -> Parsed {
    let mut out = IndexMap::new();
    for (key, node) in slot.entries(d, "a mapping of notification names to endpoints").unwrap_or_default() {
        let (name, at) = (key.as_str(), Pos::of(key.span()));
        check_name(d, "notification", name, at);
        let label = format!("notification `{}`", shorten(name));
        let entries =
            Slot::new(node, at, label.clone()).entries(d, "a mapping with `slack` or `webhook`").unwrap_or_default();
        check_keys(d, &entries, NOTIFICATION_KEYS, &label);
        let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}` of {label}")));
        let url =
            |slot: Slot<'_>, d: &mut Diags| slot.string(d, "a URL or `${secret:NAME}`").map(|u| check_url(d, &slot, u));
        let secret = field("secret").and_then(|s| s.string(d, "`${secret:NAME}`").map(|v| check_secret(d, &s, v)));
        let target = match (field("slack"), field("webhook")) {
            (Some(s), None) => {
                if secret.is_some() {
                    d.error(at, format!("{label}: `secret` signs a `webhook`; a Slack incoming webhook takes none"));
                }
                url(s, d).map(|url| NotifyTarget::Slack { url })
            }
            (None, Some(w)) => url(w, d).map(|url| NotifyTarget::Webhook { url, secret: secret.clone() }),
            (Some(_), Some(_)) => {
                d.error(at, format!("{label} has both `slack` and `webhook`: give each endpoint its own entry"));
                None
            }
            (None, None) => {
                d.error(
                    at,
                    format!("{label} has no endpoint: write `slack: ${{secret:SLACK_WEBHOOK_URL}}` or `webhook: https://...`"),
                );
                None
            }
        };
        let on = match field("on") {
            None => NotifyKind::ALL.to_vec(),
            Some(s) => kinds(d, &s),
        };
        let listed = field("environments").and_then(|s| unique_strings(d, &s));
        let environments = listed.as_ref().map(|l| l.iter().map(|(e, _)| e.clone()).collect());
        if let Some(target) = target {
            let def = NotificationDef { name: name.to_string(), target, on, environments };
            out.insert(name.to_string(), (def, listed.unwrap_or_default()));
        }
    }
    out
}

fn kinds(d: &mut Diags, slot: &Slot<'_>) -> Vec<NotifyKind> {
    let mut out = Vec::new();
    for (word, at) in unique_strings(d, slot).unwrap_or_default() {
        match NotifyKind::parse(&word) {
            Some(k) => out.push(k),
            None => {
                let hint =
                    closest(&word, NotifyKind::NAMES).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
                d.error(
                    at,
                    format!(
                        "{} `{}` is not a kind of notification{hint}: expected one of {}",
                        slot.label,
                        shorten(&word),
                        NotifyKind::NAMES.join(", ")
                    ),
                );
            }
        }
    }
    out
}

/// A whole `${secret:NAME}` (a URL with a token in it is a secret), or a plain http(s) URL.
fn check_url(d: &mut Diags, slot: &Slot<'_>, url: String) -> String {
    if url.starts_with("${") {
        return check_secret(d, slot, url);
    }
    if url.contains("${") {
        d.error(slot.pos(), format!("{} must be a whole `${{secret:NAME}}` or a URL without references", slot.label));
    } else if !(url.starts_with("https://") || url.starts_with("http://")) {
        d.error(slot.pos(), format!("{} `{}` must start with https:// or http://", slot.label, shorten(&url)));
    }
    url
}

fn check_secret(d: &mut Diags, slot: &Slot<'_>, value: String) -> String {
    let name = value.strip_prefix("${secret:").and_then(|r| r.strip_suffix('}'));
    if !name.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
        d.error(
            slot.pos(),
            format!("{} must be `${{secret:NAME}}` (a secret of the store, never written in the file)", slot.label),
        );
    }
    value
}

/// A notification's `environments` name declared ones.
pub(super) fn check(d: &mut Diags, parsed: &Parsed, envs: &[&str]) {
    for (def, listed) in parsed.values() {
        for (env, at) in listed {
            if !envs.contains(&env.as_str()) {
                d.error(
                    *at,
                    format!("notification `{}` names environment `{}`, which is not defined", def.name, shorten(env)),
                );
            }
        }
    }
}
