//! The one parameters file of a cloudformation job, in either of the two formats users
//! have: CloudFormation's `[{"ParameterKey": .., "ParameterValue": ..}]` list or a flat
//! `{"Key": "Value"}` map. Terrace converts both (the aws CLI v1 takes neither as a file).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Parameter {
    #[serde(rename = "ParameterKey")]
    pub key: String,
    #[serde(rename = "ParameterValue")]
    pub value: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn parse(bytes: &[u8]) -> Result<Vec<Parameter>, String> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not valid JSON at line {} column {}", e.line(), e.column()))?;
    match doc {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let key = item.get("ParameterKey").and_then(Value::as_str);
                let value = item.get("ParameterValue");
                match (key, value) {
                    (Some(k), Some(v)) => Ok(Parameter { key: k.to_string(), value: text(v) }),
                    _ => Err(format!("item {i} needs \"ParameterKey\" (a string) and \"ParameterValue\"")),
                }
            })
            .collect(),
        Value::Object(map) => Ok(map.iter().map(|(k, v)| Parameter { key: k.clone(), value: text(v) }).collect()),
        _ => Err("expected a list of {\"ParameterKey\", \"ParameterValue\"} or a {\"Key\": \"Value\"} object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats() {
        let list = parse(br#"[{"ParameterKey": "Size", "ParameterValue": "small"}]"#).unwrap();
        let map = parse(br#"{"Size": "small", "Count": 2}"#).unwrap();
        assert_eq!(list[0], Parameter { key: "Size".into(), value: "small".into() });
        assert_eq!(map[0], list[0]);
        assert_eq!(map[1].value, "2");
        assert!(parse(br#"[{"Key": "x"}]"#).unwrap_err().contains("item 0"));
        assert!(parse(b"3").is_err());
        assert!(parse(b"{").unwrap_err().contains("line 1"));
    }
}
