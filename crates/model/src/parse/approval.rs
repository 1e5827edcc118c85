//! `approval:` of an environment: `required` (or `none`), or a mapping
//! `{required: BOOL, distinct_approver: BOOL}`. An event that changes such an environment
//! waits for someone to approve it.

use marked_yaml::Node;

use super::walk::{Diags, Slot, check_keys, get, shorten};
use crate::project::ApprovalPolicy;

const KEYS: &[&str] = &["required", "distinct_approver"];

/// The policy written in `slot`; `None` when it has an error (reported).
pub(super) fn approval(d: &mut Diags, slot: &Slot<'_>) -> Option<ApprovalPolicy> {
    if let Node::Mapping(_) = slot.node {
        let entries = slot.entries(d, "a mapping")?;
        check_keys(d, &entries, KEYS, &slot.label);
        let flag = |d: &mut Diags, key: &str| {
            get(&entries, key)
                .and_then(|(p, n)| Slot::new(n, p, format!("`{key}` of {}", slot.label)).boolean(d))
                .unwrap_or(false)
        };
        let required = flag(d, "required");
        let distinct_approver = flag(d, "distinct_approver");
        return Some(ApprovalPolicy { required, distinct_approver });
    }
    let word =
        slot.string(d, "`required`, `none`, or a mapping {required: true|false, distinct_approver: true|false}")?;
    match word.as_str() {
        "required" => Some(ApprovalPolicy { required: true, distinct_approver: false }),
        "none" => Some(ApprovalPolicy::default()),
        other => {
            d.error(
                slot.pos(),
                format!(
                    "{} must be `required`, `none`, or a mapping {{required: true, distinct_approver: true}}; found `{}`",
                    slot.label,
                    shorten(other)
                ),
            );
            None
        }
    }
}
