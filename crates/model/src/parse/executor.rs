//! `executor:` (top level, environment or job): where jobs run, one of the executors
//! Terrace has (`EXECUTORS`); an unknown name is an error with its position. And `pool:`
//! (environment or job): the agent pool that runs the jobs.

use super::walk::{Diags, Slot, shorten, unknown};
use crate::project::EXECUTORS;

/// The executor named by `slot`, when it is one Terrace has.
pub(super) fn name(d: &mut Diags, slot: &Slot<'_>) -> Option<String> {
    let word = slot.string(d, "an executor name")?;
    if EXECUTORS.contains(&word.as_str()) {
        return Some(word);
    }
    d.error(slot.pos(), unknown(&format!("executor `{}` in {}", shorten(&word), slot.label), &word, EXECUTORS));
    None
}

/// An agent pool's name: 1-64 characters of `A-Z a-z 0-9 - _ .`.
pub(super) fn pool(d: &mut Diags, slot: &Slot<'_>) -> Option<String> {
    let word = slot.string(d, "an agent pool name")?;
    let ok = !word.is_empty()
        && word.len() <= 64
        && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        return Some(word);
    }
    d.error(
        slot.pos(),
        format!(
            "pool `{}` in {}: a pool name is 1-64 characters of A-Z a-z 0-9 - _ . (the name agents give with `terrace agent --pool NAME`)",
            shorten(&word),
            slot.label
        ),
    );
    None
}
