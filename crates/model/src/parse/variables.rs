//! Variable blocks of the project, an environment or a job: `NAME: value` or
//! `NAME: { value: ..., secret: true }`, with the naming and interpolation rules.

use indexmap::IndexMap;
use marked_yaml::Node;

use super::VARIABLE_KEYS;
use super::walk::{Diags, Pos, Slot, check_keys, get, is_null, shorten};
use crate::names::is_valid_variable_name;
use crate::project::VariableDef;
use crate::vars::check_interpolation;

/// Built-ins and job outputs live under this prefix; a user variable there could
/// shadow or fake them.
const RESERVED_PREFIX: &str = "TERRACE_";

/// Reads a `variables:` block; `owner` names its scope ("job `db`").
pub(super) fn variables(d: &mut Diags, slot: &Slot<'_>, owner: &str) -> IndexMap<String, VariableDef> {
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
        if let Some(def) = variable(d, &Slot::new(value, at, label.clone()), name) {
            out.insert(name.to_string(), def);
        }
    }
    out
}

fn variable(d: &mut Diags, slot: &Slot<'_>, name: &str) -> Option<VariableDef> {
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
                    check(d, slot, &value);
                    return None;
                }
            }
        }
        Node::Sequence(_) => {
            d.error(slot.at, format!("{} must be {expected}, found a list", slot.label));
            return None;
        }
    };
    check(d, slot, &value).then_some(VariableDef { value, secret })
}

/// Reports bad `${...}` syntax in a value; true when the value is fine.
fn check(d: &mut Diags, slot: &Slot<'_>, value: &str) -> bool {
    let result = check_interpolation(value);
    if let Err(e) = &result {
        d.error(value_pos(slot), format!("{}: {e}", slot.label));
    }
    result.is_ok()
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
