//! `executor:` (top level, environment or job): where jobs run, one of the executors
//! Terrace has (`EXECUTORS`); an unknown name is an error with its position.

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
