//! A job's `events` and `commands`: which lifecycle events it runs on and what it runs
//! for each, including the rule that every listed event has a command.

use std::collections::BTreeMap;

use marked_yaml::Node;

use super::walk::{Diags, Pos, Slot, get, is_null, plain_non_string, unknown};
use crate::event::Event;
use crate::project::{Command, TemplateKind};

/// The events a job may subscribe to, in the order users read them.
pub(super) fn lifecycle_names() -> Vec<&'static str> {
    Event::LIFECYCLE.iter().map(|e| e.as_str()).collect()
}

/// Parses an event name in `events` or as a `commands` key; `what` says where it is.
fn lifecycle_event(d: &mut Diags, word: &str, at: Pos, what: &str) -> Option<Event> {
    match word.parse::<Event>() {
        Ok(e) if e.is_lifecycle() => Some(e),
        Ok(e) => {
            d.error(
                at,
                format!(
                    "`{e}` in {what} is not a lifecycle event: a job runs on start, stop and delete (plan and raw are reserved for the commands of IaC templates; `commands.redeploy` is what a promotion runs instead of start)"
                ),
            );
            None
        }
        Err(_) => {
            d.error(
                at,
                unknown(&format!("event `{}` in {what}", super::walk::shorten(word)), word, &lifecycle_names()),
            );
            None
        }
    }
}

/// Reads `events` (non-empty, no duplicates); each event keeps its position for the
/// missing-command check. A template with its own commands runs on every lifecycle
/// event when `events` is left out (seed 000's default actions); a shell job must say.
pub(super) fn events(
    d: &mut Diags,
    entries: &[(&marked_yaml::types::MarkedScalarNode, &Node)],
    job: &str,
    at: Pos,
    template: TemplateKind,
) -> Vec<(Event, Pos)> {
    let names = lifecycle_names().join(", ");
    let Some((key_at, node)) = get(entries, "events") else {
        if template.has_default_commands() {
            return Event::LIFECYCLE.iter().map(|e| (*e, at)).collect();
        }
        d.error(
            at,
            format!(
                "job `{job}` is missing the required key `events` (a list of {names}); only the terraform, opentofu and cloudformation templates have default events"
            ),
        );
        return Vec::new();
    };
    let what = format!("`events` of job `{job}`");
    let slot = Slot::new(node, key_at, what.clone());
    let Some(items) = slot.strings(d) else { return Vec::new() };
    if items.is_empty() {
        d.error(slot.pos(), format!("{what} is empty: list at least one of {names}"));
    }
    let mut out: Vec<(Event, Pos)> = Vec::new();
    for (word, item_at) in items {
        let Some(event) = lifecycle_event(d, &word, item_at, &what) else { continue };
        if out.iter().any(|(e, _)| *e == event) {
            d.error(item_at, format!("event `{event}` is listed twice in {what}"));
        } else {
            out.push((event, item_at));
        }
    }
    out
}

/// Reads `commands`. Returns the valid commands and every event key that was written,
/// valid or not, so a broken command is not also reported as missing.
pub(super) fn commands(
    d: &mut Diags,
    slot: Option<Slot<'_>>,
    job: &str,
) -> (BTreeMap<Event, Command>, Option<Vec<Event>>) {
    let mut out = BTreeMap::new();
    let Some(slot) = slot else { return (out, Some(Vec::new())) };
    let Some(entries) = slot.entries(d, "a mapping of events to commands") else { return (out, None) };
    let mut written = Vec::new();
    for (key, value) in entries {
        let at = Pos::of(key.span());
        let event = match key.as_str() {
            // Not an event a job subscribes to: what a promotion of an artifact it
            // consumes runs instead of `start`.
            "redeploy" => Event::Redeploy,
            word => {
                let Some(event) = lifecycle_event(d, word, at, &format!("`commands` of job `{job}`")) else { continue };
                event
            }
        };
        written.push(event);
        if let Some(command) = command(d, &Slot::new(value, at, format!("`commands.{event}` of job `{job}`"))) {
            out.insert(event, command);
        }
    }
    (out, Some(written))
}

/// A string runs through `/bin/sh -c`; a list is the exact argv.
fn command(d: &mut Diags, slot: &Slot<'_>) -> Option<Command> {
    let expected = "a command string or a list of strings (the program and its arguments)";
    match slot.node {
        Node::Sequence(_) => {
            let argv: Vec<String> = slot.strings(d)?.into_iter().map(|(s, _)| s).collect();
            match argv.first() {
                None => {
                    d.error(slot.pos(), format!("{} is an empty list: give the program and its arguments", slot.label))
                }
                Some(program) if program.trim().is_empty() => {
                    d.error(slot.pos(), format!("{} starts with an empty program name", slot.label))
                }
                Some(_) => return Some(Command::Argv(argv)),
            }
            None
        }
        Node::Scalar(s) if !is_null(slot.node) => {
            if let Some(kind) = plain_non_string(s) {
                d.error(
                    slot.pos(),
                    format!(
                        "{} must be {expected}, found the {kind} `{}` (quote it, `\"{}\"`, if it is the program's name)",
                        slot.label,
                        s.as_str(),
                        s.as_str()
                    ),
                );
                return None;
            }
            let text = slot.string(d, expected)?;
            if text.trim().is_empty() {
                d.error(slot.pos(), format!("{} is empty", slot.label));
                return None;
            }
            Some(Command::Shell(text))
        }
        _ => {
            slot.string(d, expected);
            None
        }
    }
}

/// Every event a job runs on needs a command, or the run would have nothing to do.
pub(super) fn check_missing(d: &mut Diags, job: &str, events: &[(Event, Pos)], written: &[Event]) {
    for (event, at) in events {
        if !written.contains(event) {
            d.error(*at, format!("job `{job}` runs on `{event}` but has no `commands.{event}`"));
        }
    }
}
