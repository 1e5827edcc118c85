//! Reading `describe-stacks` and `describe-stack-events` answers: the stack's status, its
//! Outputs as an output file (the seed's jq step), the reasons of failed resources.

use serde_json::{Value, json};

fn first_stack(json: &[u8]) -> Result<Value, String> {
    let doc: Value = serde_json::from_slice(json).map_err(|e| format!("unexpected describe-stacks answer: {e}"))?;
    doc["Stacks"].get(0).cloned().ok_or_else(|| "describe-stacks returned no stack".to_string())
}

pub(crate) fn stack_status(json: &[u8]) -> Result<String, String> {
    first_stack(json)?["StackStatus"].as_str().map(str::to_string).ok_or_else(|| "the stack has no StackStatus".into())
}

/// `{OutputKey: {"value": OutputValue, "sensitive": ..}}`; CloudFormation has no
/// sensitivity, so the job's `sensitive_outputs` names the secret ones.
pub(crate) fn outputs_file(json: &[u8], sensitive: &[String]) -> Result<Vec<u8>, String> {
    let stack = first_stack(json)?;
    let mut out = serde_json::Map::new();
    for o in stack["Outputs"].as_array().into_iter().flatten() {
        let (Some(k), Some(v)) = (o["OutputKey"].as_str(), o.get("OutputValue")) else { continue };
        out.insert(k.to_string(), json!({"value": v, "sensitive": sensitive.iter().any(|s| s == k)}));
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| e.to_string())
}

/// "Resource (Type) STATUS: reason" for every failed event, oldest first.
pub(crate) fn failure_reasons(json: &[u8]) -> String {
    let Ok(doc) = serde_json::from_slice::<Value>(json) else { return String::new() };
    let mut reasons: Vec<String> = doc["StackEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["ResourceStatus"].as_str().is_some_and(|s| s.ends_with("_FAILED")))
        .map(|e| {
            format!(
                "{} ({}) {}: {}",
                e["LogicalResourceId"].as_str().unwrap_or("?"),
                e["ResourceType"].as_str().unwrap_or("?"),
                e["ResourceStatus"].as_str().unwrap_or("?"),
                e["ResourceStatusReason"].as_str().unwrap_or("no reason given")
            )
        })
        .collect();
    reasons.reverse();
    reasons.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_become_an_output_file() {
        let d = br#"{"Stacks": [{"StackStatus": "CREATE_COMPLETE", "Outputs": [
            {"OutputKey": "Url", "OutputValue": "https://x"}, {"OutputKey": "Pass", "OutputValue": "p"}]}]}"#;
        assert_eq!(stack_status(d).unwrap(), "CREATE_COMPLETE");
        let file = outputs_file(d, &["Pass".into()]).unwrap();
        let parsed = terrace_model::output::parse_output_file(&file).unwrap().entries;
        assert_eq!(parsed[0].value, "https://x");
        assert!(!parsed[0].sensitive && parsed[1].sensitive);
    }

    #[test]
    fn failed_events_are_explained() {
        let e = br#"{"StackEvents": [
            {"LogicalResourceId": "Stack", "ResourceType": "AWS::CloudFormation::Stack", "ResourceStatus": "ROLLBACK_COMPLETE"},
            {"LogicalResourceId": "Bucket", "ResourceType": "AWS::S3::Bucket", "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "bad name"}]}"#;
        assert_eq!(failure_reasons(e), "Bucket (AWS::S3::Bucket) CREATE_FAILED: bad name");
    }
}
