//! The output-file contract (DESIGN.md "Output file"): a JSON object
//! `{"NAME": {"value": V, "sensitive": bool}, ...}`. Extra keys such as Terraform's
//! `"type"` are ignored, so `terraform output -json` is valid as is. A malformed file
//! is refused whole, with line, column and the rule broken; nothing of it is applied.
//! A name that is not a variable name (`db-host`, legal in Terraform) is renamed, never
//! refused: a run must not fail after its infrastructure changed because of a name.
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

/// The largest output file read (1 MiB); a bigger one is refused unread.
pub const MAX_OUTPUT_FILE_BYTES: usize = 1024 * 1024;
/// The largest value of one output (64 KiB, as text): every later job gets it twice in
/// its environment, and Linux refuses a variable over 128 KiB ("Argument list too long").
pub const MAX_OUTPUT_VALUE_BYTES: usize = 64 * 1024;

/// A refused output file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutputFileError {
    #[error("{message} at line {line} column {column}")]
    Malformed { line: usize, column: usize, message: String },
    #[error("the file holds {size} bytes, over the limit of 1 MiB ({MAX_OUTPUT_FILE_BYTES} bytes) for an output file")]
    TooLarge { size: u64 },
}

/// A parsed output file: its entries, and the names it had to change or leave out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputFile {
    pub entries: Vec<OutputEntry>,
    /// (name in the file, name given) for names that are not variable names.
    pub renamed: Vec<(String, String)>,
    /// (name in the file, name it would take) for renamed entries whose new name
    /// another entry of the file already has: they are not applied.
    pub dropped: Vec<(String, String)>,
}

impl OutputFile {
    /// What the run log says about renamed and dropped names.
    pub fn notes(&self) -> Vec<String> {
        let renamed = self.renamed.iter().map(|(from, to)| {
            format!("output `{from}` is available as `{to}`: output names must match [A-Za-z_][A-Za-z0-9_]*")
        });
        let dropped = self.dropped.iter().map(|(from, to)| {
            format!("output `{from}` was not applied: its name would be `{to}`, which another output of the file has")
        });
        renamed.chain(dropped).collect()
    }
}

/// Parses an output file's bytes. An empty (or whitespace-only) file means no outputs.
pub fn parse_output_file(bytes: &[u8]) -> Result<OutputFile, OutputFileError> {
    if bytes.len() > MAX_OUTPUT_FILE_BYTES {
        return Err(OutputFileError::TooLarge { size: bytes.len() as u64 });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(OutputFile::default());
    }
    let file: Parsed = serde_json::from_slice(bytes).map_err(|e| OutputFileError::Malformed {
        line: e.line(),
        column: e.column(),
        message: explain(&e),
    })?;
    Ok(OutputFile { entries: file.entries.into_values().map(|(e, _)| e).collect(), ..file.names })
}

/// The variable name an output name becomes: every character outside
/// `[A-Za-z0-9_]` turned into `_`, and `_` before a leading digit.
pub fn normalize_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
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

/// The entries by the name they are given, each with the name it had in the file.
struct Parsed {
    entries: IndexMap<String, (OutputEntry, String)>,
    names: OutputFile,
}

impl<'de> de::Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FileVisitor;
        impl<'de> Visitor<'de> for FileVisitor {
            type Value = Parsed;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping each output name to an object with the keys value and sensitive (true or false)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
                let mut file = Parsed { entries: IndexMap::new(), names: OutputFile::default() };
                let mut in_file = std::collections::HashSet::new();
                while let Some(original) = map.next_key::<String>()? {
                    if !in_file.insert(original.clone()) {
                        return Err(de::Error::custom(format!("output `{original}` is defined twice")));
                    }
                    // Read as JSON first (a syntax error keeps its own message), then as an
                    // entry, naming the entry when it is not one.
                    let raw: serde_json::Value = map.next_value()?;
                    let body: EntryBody = serde_json::from_value(raw)
                        .map_err(|e| de::Error::custom(format_args!("output `{original}`: {e}")))?;
                    let value = match body.value {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    if value.len() > MAX_OUTPUT_VALUE_BYTES {
                        return Err(de::Error::custom(format!(
                            "output `{original}` holds {} bytes, over the limit of 64 KiB ({MAX_OUTPUT_VALUE_BYTES} bytes) for one output value",
                            value.len()
                        )));
                    }
                    let name =
                        if is_valid_variable_name(&original) { original.clone() } else { normalize_name(&original) };
                    let entry = OutputEntry { name: name.clone(), value, sensitive: body.sensitive };
                    file.insert(entry, original);
                }
                Ok(file)
            }
        }
        d.deserialize_map(FileVisitor)
    }
}

impl Parsed {
    /// Adds an entry; of an exact name and a renamed one that clash, the exact one wins.
    fn insert(&mut self, entry: OutputEntry, original: String) {
        let renamed = entry.name != original;
        match self.entries.get(&entry.name) {
            None => {}
            Some((_, held)) if renamed || held == &entry.name => {
                self.names.dropped.push((original, entry.name));
                return;
            }
            Some((_, held)) => {
                let held = held.clone();
                self.names.renamed.retain(|(from, _)| from != &held);
                self.names.dropped.push((held, entry.name.clone()));
            }
        }
        if renamed {
            self.names.renamed.push((original.clone(), entry.name.clone()));
        }
        self.entries.insert(entry.name.clone(), (entry, original));
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

    fn entries(bytes: &[u8]) -> Vec<OutputEntry> {
        parse_output_file(bytes).unwrap().entries
    }

    fn malformed(bytes: &[u8]) -> (usize, String) {
        match parse_output_file(bytes).unwrap_err() {
            OutputFileError::Malformed { line, message, .. } => (line, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn reads_terraform_output_json() {
        let tf = br#"{
  "ids": {"sensitive": false, "type": ["list", "string"], "value": ["a", "b"]},
  "password": {"sensitive": true, "type": "string", "value": "hunter2"},
  "port": {"sensitive": false, "type": "number", "value": 5432},
  "tags": {"sensitive": false, "type": ["map","string"], "value": {"k": "v"}}
}"#;
        let out = entries(tf);
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
        let (line, message) = malformed(seed);
        assert_eq!(line, 3);
        assert!(message.contains("true`/`false"), "{message}");
    }

    #[test]
    fn names_that_are_not_variable_names_are_renamed_not_refused() {
        let file =
            parse_output_file(br#"{"ok": {"value": 1}, "db-host": {"value": 2}, "9lives": {"value": 3}}"#).unwrap();
        let names: Vec<&str> = file.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["ok", "db_host", "_9lives"]);
        assert_eq!(file.renamed, [("db-host".to_string(), "db_host".to_string()), ("9lives".into(), "_9lives".into())]);
        assert!(file.notes()[0].contains("`db-host` is available as `db_host`"), "{:?}", file.notes());
        assert_eq!(normalize_name(""), "_");
        assert_eq!(normalize_name("dé.x"), "d__x");
    }

    #[test]
    fn a_renamed_name_that_clashes_is_left_out_and_the_exact_name_wins() {
        let file =
            parse_output_file(br#"{"db-host": {"value": "a"}, "db_host": {"value": "b"}, "db.host": {"value": "c"}}"#)
                .unwrap();
        assert_eq!(file.entries.len(), 1);
        assert_eq!((file.entries[0].name.as_str(), file.entries[0].value.as_str()), ("db_host", "b"));
        assert!(file.renamed.is_empty(), "{:?}", file.renamed);
        assert_eq!(file.dropped.len(), 2);
        assert!(file.notes().iter().all(|n| n.contains("was not applied")), "{:?}", file.notes());
    }

    #[test]
    fn missing_value_and_wrong_types_are_refused() {
        assert!(malformed(br#"{"a": {"sensitive": true}}"#).1.contains("value"));
        let (_, message) = malformed(br#"{"a": {"value": "x", "sensitive": "hunter2"}}"#);
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("expected a boolean"), "{message}");
        assert!(parse_output_file(br#"["a"]"#).is_err());
        assert!(parse_output_file(br#"{"a": {"value": "x"}, "a": {"value": "y"}}"#).is_err());
    }

    #[test]
    fn an_entry_that_is_not_an_object_names_the_entry_and_what_was_expected() {
        assert_eq!(
            malformed(br#"{"TOKEN": "hunter2"}"#).1,
            "output `TOKEN`: expected an object with the keys value and sensitive (true or false), found a string"
        );
        assert_eq!(malformed(br#"{"A": {"sensitive": false}}"#).1, "output `A`: the key `value` is missing");
        assert_eq!(
            malformed(br#"{"A": {"value": 1, "sensitive": "no"}}"#).1,
            "output `A`: expected a boolean, found a string"
        );
        assert_eq!(malformed(br#"{"db-host": 1}"#).1.split(':').next(), Some("output `db-host`"));
    }

    #[test]
    fn sizes_are_bounded() {
        let value = "v".repeat(MAX_OUTPUT_VALUE_BYTES);
        let at_limit = format!(r#"{{"a": {{"value": "{value}"}}}}"#);
        assert_eq!(entries(at_limit.as_bytes())[0].value.len(), MAX_OUTPUT_VALUE_BYTES);
        let over =
            format!(r#"{{"a": {{"value": "{value}"}},"#) + "\n" + &format!(r#""big": {{"value": "{value}x"}}}}"#);
        let (line, message) = malformed(over.as_bytes());
        assert_eq!(line, 2);
        assert!(message.contains("`big` holds 65537 bytes, over the limit of 64 KiB"), "{message}");
        let huge = vec![b' '; MAX_OUTPUT_FILE_BYTES + 1];
        let err = parse_output_file(&huge).unwrap_err();
        assert_eq!(err, OutputFileError::TooLarge { size: MAX_OUTPUT_FILE_BYTES as u64 + 1 });
        assert!(err.to_string().contains("over the limit of 1 MiB"), "{err}");
    }

    #[test]
    fn empty_file_means_no_outputs_and_sensitive_defaults_to_true() {
        assert!(entries(b"  \n").is_empty());
        assert!(entries(br#"{"a": {"value": "x"}}"#)[0].sensitive);
    }
}
