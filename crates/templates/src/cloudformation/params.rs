//! The one parameters file of a cloudformation job, in either of the two formats users
//! have: CloudFormation's `[{"ParameterKey": .., "ParameterValue": ..}]` list or a flat
//! `{"Key": "Value"}` map. Terrace converts both (the aws CLI v1 takes neither as a file).
//! Variables named `CFN_PARAM_<Name>` set parameter `<Name>` over the file, as `TF_VAR_*`
//! do for Terraform, so a value can come from an upstream job's output.

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

/// The prefix of variables that set a stack parameter.
pub const OVERRIDE_PREFIX: &str = "CFN_PARAM_";

/// How a parameter came to be in the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File,
    /// From `CFN_PARAM_<Name>`; `replaced` when the file had it too.
    Variable {
        replaced: bool,
    },
}

/// The file's parameters with every `CFN_PARAM_<Name>` variable applied over them, in the
/// file's order, then the added ones in the variables' order.
pub fn with_overrides(file: Vec<Parameter>, variables: &[(String, String)]) -> Vec<(Parameter, Origin)> {
    let mut out: Vec<(Parameter, Origin)> = file.into_iter().map(|p| (p, Origin::File)).collect();
    for (name, value) in variables {
        let Some(key) = name.strip_prefix(OVERRIDE_PREFIX).filter(|k| !k.is_empty()) else { continue };
        match out.iter_mut().find(|(p, _)| p.key == key) {
            Some((p, origin)) => {
                p.value = value.clone();
                *origin = Origin::Variable { replaced: true };
            }
            None => out
                .push((Parameter { key: key.to_string(), value: value.clone() }, Origin::Variable { replaced: false })),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_set_parameters_over_the_file() {
        let file = parse(br#"{"Size": "small", "Name": "a"}"#).unwrap();
        let vars = [
            ("CFN_PARAM_Name".to_string(), "b".to_string()),
            ("CFN_PARAM_Endpoint".to_string(), "arn:q".to_string()),
            ("CFN_PARAM_".to_string(), "ignored".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let merged = with_overrides(file, &vars);
        let pairs: Vec<(&str, &str, &Origin)> =
            merged.iter().map(|(p, o)| (p.key.as_str(), p.value.as_str(), o)).collect();
        assert_eq!(
            pairs,
            [
                ("Size", "small", &Origin::File),
                ("Name", "b", &Origin::Variable { replaced: true }),
                ("Endpoint", "arn:q", &Origin::Variable { replaced: false }),
            ]
        );
    }

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
