//! Variable blocks of the project, an environment or a job: `NAME: value` or
//! `NAME: { value: ..., secret: true }`, with the naming rules and the syntax of the
//! references in values. Where each value is written is kept for the checks across
//! scopes (`refs.rs`).

use std::collections::HashMap;

use indexmap::IndexMap;
use marked_yaml::Node;

use super::VARIABLE_KEYS;
use super::source::Source;
use super::walk::{Diags, Pos, Slot, check_keys, get, is_null, shorten};
use crate::names::is_valid_variable_name;
use crate::project::VariableDef;
use crate::refs::pieces;
use crate::vars::ScopeKind;

/// Where each variable's value is written: (scope, owner, name) → (position, length).
#[derive(Default)]
pub(super) struct VarSites(HashMap<(ScopeKind, String, String), (Pos, usize)>);

impl VarSites {
    pub fn get(&self, kind: ScopeKind, owner: &str, name: &str) -> Option<(Pos, usize)> {
        self.0.get(&(kind, owner.to_string(), name.to_string())).copied()
    }
}

/// The block being read: its kind and owner (for the sites), its label (for messages).
pub(super) struct Block<'a> {
    pub kind: ScopeKind,
    pub owner: &'a str,
    pub label: &'a str,
}

/// Built-ins and job outputs live under this prefix; a user variable there could
/// shadow or fake them.
const RESERVED_PREFIX: &str = "TERRACE_";

/// Reads a `variables:` block.
pub(super) fn variables(
    d: &mut Diags,
    slot: &Slot<'_>,
    block: &Block<'_>,
    sites: &mut VarSites,
    source: &Source<'_>,
) -> IndexMap<String, VariableDef> {
    let owner = block.label;
    let mut out = IndexMap::new();
    let expected = "a mapping of variable names to values";
    for (key, value) in slot.entries(d, expected).unwrap_or_default() {
        let name = key.as_str();
        let at = Pos::of(key.span());
        if !is_valid_variable_name(name) {
            d.error(
                at,
                format!(
                    "invalid variable name `{}` in {owner}: expected letters, digits and `_`, not starting with a digit",
                    shorten(name)
                ),
            );
        } else if name.starts_with(RESERVED_PREFIX) {
            d.error(
                at,
                format!(
                    "variable name `{name}` in {owner} uses the reserved prefix `{RESERVED_PREFIX}` (kept for built-ins and job outputs)"
                ),
            );
        }
        let label = format!("variable `{}` of {owner}", shorten(name));
        let slot = Slot::new(value, at, label.clone());
        if let Some(def) = variable(d, &slot, name, source) {
            let len = def.value.len();
            sites.0.insert((block.kind, block.owner.to_string(), name.to_string()), (value_pos(&slot), len));
            out.insert(name.to_string(), def);
        }
    }
    out
}

fn variable(d: &mut Diags, slot: &Slot<'_>, name: &str, source: &Source<'_>) -> Option<VariableDef> {
    let expected = "a string or a mapping with `value` and `secret`";
    let (value, secret) = match slot.node {
        _ if is_null(slot.node) => {
            d.error(slot.at, format!("{} has no value; write `{name}: \"\"` for an empty string", slot.label));
            return None;
        }
        Node::Scalar(_) => (slot.string(d, expected)?, false),
        Node::Mapping(_) => {
            let entries = slot.entries(d, expected)?;
            check_keys(d, &entries, VARIABLE_KEYS, &slot.label);
            let secret = match get(&entries, "secret") {
                Some((at, node)) => Slot::new(node, at, format!("`secret` of {}", slot.label)).boolean(d),
                None => Some(false),
            };
            let Some((at, node)) = get(&entries, "value") else {
                d.error(slot.at, format!("{} is missing the required key `value`", slot.label));
                return None;
            };
            let value = Slot::new(node, at, format!("`value` of {}", slot.label)).string(d, "a string")?;
            // A bad `secret` must not hide a bad value: check the value before giving up.
            match secret {
                Some(secret) => (value, secret),
                None => {
                    check(d, slot, &value, source);
                    return None;
                }
            }
        }
        Node::Sequence(_) => {
            d.error(slot.at, format!("{} must be {expected}, found a list", slot.label));
            return None;
        }
    };
    check(d, slot, &value, source).then_some(VariableDef { value, secret })
}

/// Reports bad `${...}` syntax in a value, where the reference is written; true when
/// the value is fine.
fn check(d: &mut Diags, slot: &Slot<'_>, value: &str, source: &Source<'_>) -> bool {
    match pieces(value) {
        Ok(_) => true,
        Err(e) => {
            let nth = value[..e.offset].matches(e.written.as_str()).count();
            let at = source.locate(value_pos(slot), value.len(), &e.written, nth);
            d.error(at, format!("{}: {}", slot.label, e.message));
            false
        }
    }
}

/// Where the value text of a variable starts, for interpolation errors.
fn value_pos(slot: &Slot<'_>) -> Pos {
    match slot.node {
        Node::Mapping(m) => m
            .iter()
            .find(|(k, _)| k.as_str() == "value")
            .map_or(slot.at, |(k, v)| Slot::new(v, Pos::of(k.span()), "").pos()),
        _ => slot.pos(),
    }
}
