//! The output-file contract (DESIGN.md "Output file"): a JSON object
//! `{"NAME": {"value": V, "sensitive": bool}, ...}`. Extra keys such as Terraform's
//! `"type"` are ignored, so `terraform output -json` is valid as is. A malformed file
//! is refused whole, with line, column and the rule broken; nothing of it is applied.
//!
//! The rules are checked while serde_json reads the file, so every error carries the
//! position serde_json knows.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::names::is_valid_variable_name;

/// One entry of an output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputEntry {
    pub name: String,
    /// Strings as they are; any other JSON value as its compact JSON text.
    pub value: String,
    pub sensitive: bool,
}

/// A refused output file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct OutputFileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses an output file's bytes. An empty (or whitespace-only) file means no outputs.
pub fn parse_output_file(bytes: &[u8]) -> Result<Vec<OutputEntry>, OutputFileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let file: OutputFile = serde_json::from_slice(bytes).map_err(|e| OutputFileError {
        line: e.line(),
        column: e.column(),
        message: explain(&e),
    })?;
    Ok(file.0.into_values().collect())
}

fn explain(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde_json appends " at line L column C"; we print the position ourselves.
    let rule = text.rsplit_once(" at line ").map_or(text.as_str(), |(msg, _)| msg);
    if e.is_syntax() {
        format!("not valid JSON ({rule}; note JSON's booleans are `true`/`false`, lower-case)")
    } else {
        in_our_words(&redact_quoted(rule))
    }
}

/// serde's "invalid type: K, expected E" and "missing field `F`" as a person would say them.
fn in_our_words(rule: &str) -> String {
    if let Some((before, rest)) = rule.split_once("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("{before}expected {expected}, found {}", with_article(found));
    }
    if let Some((before, field)) = rule.split_once("missing field ") {
        return format!("{before}the key {field} is missing");
    }
    rule.to_string()
}

fn with_article(kind: &str) -> String {
    match kind {
        "map" => "an object".into(),
        "sequence" => "an array".into(),
        "integer" | "floating point" => "a number".into(),
        k if k.starts_with("boolean") => "a boolean".into(),
        "null" | "unit value" => "null".into(),
        k => format!("a {k}"),
    }
}

/// serde quotes the offending value (`invalid type: string "hunter2", expected a
/// boolean`); that value may be a secret, so the message keeps only its kind.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(start) = rest.find(" \"") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("\", ").or_else(|| after.rfind('"')) {
            Some(end) => rest = &after[end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

struct OutputFile(IndexMap<String, OutputEntry>);

impl<'de> de::Deserialize<'de> for OutputFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FileVisitor;
        impl<'de> Visitor<'de> for FileVisitor {
            type Value = OutputFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping each output name to {\"value\": .., \"sensitive\": true|false}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OutputFile, A::Error> {
                let mut entries = IndexMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    if !is_valid_variable_name(&name) {
                        return Err(de::Error::custom(format!(
                            "output name `{name}` must match [A-Za-z_][A-Za-z0-9_]*"
                        )));
                    }
                    if entries.contains_key(&name) {
                        return Err(de::Error::custom(format!("output `{name}` is defined twice")));
                    }
                    // Read as JSON first (a syntax error keeps its own message), then as an
                    // entry, naming the entry when it is not one.
                    let raw: serde_json::Value = map.next_value()?;
                    let body: EntryBody = serde_json::from_value(raw)
                        .map_err(|e| de::Error::custom(format_args!("output `{name}`: {e}")))?;
                    let value = match body.value {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    entries.insert(name.clone(), OutputEntry { name, value, sensitive: body.sensitive });
                }
                Ok(OutputFile(entries))
            }
        }
        d.deserialize_map(FileVisitor)
    }
}

/// `sensitive` defaults to true when absent: a value is secret unless the job says
/// otherwise (the same default as Qovery's engine; a leaked secret cannot be undone).
#[derive(serde::Deserialize)]
#[serde(expecting = "an object with the keys value and sensitive (true or false)")]
struct EntryBody {
    value: serde_json::Value,
    #[serde(default = "sensitive_by_default")]
    sensitive: bool,
}

fn sensitive_by_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_terraform_output_json() {
        let tf = br#"{
  "ids": {"sensitive": false, "type": ["list", "string"], "value": ["a", "b"]},
  "password": {"sensitive": true, "type": "string", "value": "hunter2"},
  "port": {"sensitive": false, "type": "number", "value": 5432},
  "tags": {"sensitive": false, "type": ["map","string"], "value": {"k": "v"}}
}"#;
        let out = parse_output_file(tf).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].value, r#"["a","b"]"#);
        assert!(out[1].sensitive);
        assert_eq!(out[1].value, "hunter2");
        assert_eq!(out[2].value, "5432");
        assert_eq!(out[3].value, r#"{"k":"v"}"#);
    }

    #[test]
    fn python_false_is_refused_with_its_line() {
        let seed = b"{\n\"POSTGRES_DB_HOST\": {\n\"sensitive\": False,\n\"value\": \"x\"\n}\n}";
        let err = parse_output_file(seed).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("true`/`false"), "{err}");
    }

    #[test]
    fn bad_name_is_refused() {
        let err = parse_output_file(br#"{"ok": {"value": 1}, "bad-name": {"value": 2}}"#).unwrap_err();
        assert!(err.message.contains("bad-name"), "{err}");
        assert_eq!(err.line, 1);
    }

    #[test]
    fn missing_value_and_wrong_types_are_refused() {
        assert!(parse_output_file(br#"{"a": {"sensitive": true}}"#).unwrap_err().message.contains("value"));
        let err = parse_output_file(br#"{"a": {"value": "x", "sensitive": "hunter2"}}"#).unwrap_err();
        assert!(!err.message.contains("hunter2"), "{err}");
        assert!(err.message.contains("expected a boolean"), "{err}");
        assert!(parse_output_file(br#"["a"]"#).is_err());
        assert!(parse_output_file(br#"{"a": {"value": "x"}, "a": {"value": "y"}}"#).is_err());
    }

    #[test]
    fn an_entry_that_is_not_an_object_names_the_entry_and_what_was_expected() {
        let err = parse_output_file(br#"{"TOKEN": "hunter2"}"#).unwrap_err();
        assert_eq!(
            err.message,
            "output `TOKEN`: expected an object with the keys value and sensitive (true or false), found a string"
        );
        let err = parse_output_file(br#"{"A": {"sensitive": false}}"#).unwrap_err();
        assert_eq!(err.message, "output `A`: the key `value` is missing");
        let err = parse_output_file(br#"{"A": {"value": 1, "sensitive": "no"}}"#).unwrap_err();
        assert_eq!(err.message, "output `A`: expected a boolean, found a string");
    }

    #[test]
    fn empty_file_means_no_outputs_and_sensitive_defaults_to_true() {
        assert!(parse_output_file(b"  \n").unwrap().is_empty());
        assert!(parse_output_file(br#"{"a": {"value": "x"}}"#).unwrap()[0].sensitive);
    }
}
