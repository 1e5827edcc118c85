//! The summary of a saved plan, read from `terraform show -json PLAN`.

use crate::steps::{PlanSummary, PlannedChange};

#[derive(serde::Deserialize)]
struct ShownPlan {
    #[serde(default)]
    resource_changes: Vec<ResourceChange>,
    #[serde(default)]
    output_changes: serde_json::Map<String, serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct ResourceChange {
    #[serde(default)]
    address: String,
    change: Change,
}

#[derive(serde::Deserialize)]
struct Change {
    actions: Vec<String>,
}

/// Counts what the plan adds, changes and destroys (a replacement counts as both).
pub fn summarize(json: &[u8]) -> Result<PlanSummary, serde_json::Error> {
    let plan: ShownPlan = serde_json::from_slice(json)?;
    let mut s = PlanSummary::default();
    for rc in &plan.resource_changes {
        let a = |name: &str| rc.change.actions.iter().any(|x| x == name);
        if a("create") {
            s.add += 1;
        }
        if a("delete") {
            s.destroy += 1;
        }
        if a("update") {
            s.change += 1;
        }
        if a("create") || a("delete") || a("update") {
            s.resources.push(PlannedChange { address: rc.address.clone(), actions: rc.change.actions.clone() });
        }
    }
    s.outputs_changed =
        plan.output_changes.values().any(|c| c["actions"].as_array().is_some_and(|a| a.iter().any(|x| x != "no-op")));
    s.empty = s.add == 0 && s.change == 0 && s.destroy == 0 && !s.outputs_changed;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_actions() {
        let json = br#"{"resource_changes": [
            {"address": "local_file.a", "change": {"actions": ["create"]}},
            {"change": {"actions": ["delete", "create"]}},
            {"change": {"actions": ["update"]}},
            {"change": {"actions": ["no-op"]}}],
          "output_changes": {"a": {"actions": ["no-op"]}}}"#;
        let s = summarize(json).unwrap();
        assert_eq!((s.add, s.change, s.destroy, s.empty, s.outputs_changed), (2, 1, 1, false, false));
        assert_eq!(s.resources.len(), 3, "no-op is no change");
        assert_eq!(s.resources[0], PlannedChange { address: "local_file.a".into(), actions: vec!["create".into()] });
        let none = summarize(br#"{"output_changes": {"a": {"actions": ["no-op"]}}}"#).unwrap();
        assert!(none.empty);
        let out = summarize(br#"{"output_changes": {"a": {"actions": ["create"]}}}"#).unwrap();
        assert!(out.outputs_changed && !out.empty);
    }
}
