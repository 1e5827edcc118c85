//! What a Terraform state holds, as `terrace state show` prints it: each resource
//! instance by its address, and the outputs with sensitive values masked. Attribute
//! values are never shown (Terraform marks only some of them sensitive, and a provider
//! may put a password in any of them); `terrace state pull` gives the whole document.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::MASK;

/// One resource instance of a state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateResourceView {
    /// `module.net.aws_vpc.main[0]`, as `terraform state list` prints it.
    pub address: String,
    /// `managed` or `data`.
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub provider: String,
}

/// One output of a state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateOutputView {
    pub name: String,
    /// The value (any JSON), or `"***"` when sensitive.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    pub sensitive: bool,
}

/// The resources and outputs of one version of a state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateContents {
    pub terraform_version: Option<String>,
    pub resources: Vec<StateResourceView>,
    pub outputs: Vec<StateOutputView>,
}

#[derive(Deserialize)]
struct Document {
    terraform_version: Option<String>,
    #[serde(default)]
    resources: Vec<Resource>,
    #[serde(default)]
    outputs: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Resource {
    module: Option<String>,
    #[serde(default = "managed")]
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    instances: Vec<Instance>,
}

fn managed() -> String {
    "managed".into()
}

#[derive(Deserialize)]
struct Instance {
    index_key: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Output {
    value: serde_json::Value,
    #[serde(default)]
    sensitive: bool,
}

impl Resource {
    fn address(&self, index: Option<&serde_json::Value>) -> String {
        let mut a = String::new();
        if let Some(m) = self.module.as_deref().filter(|m| !m.is_empty()) {
            a.push_str(m);
            a.push('.');
        }
        if self.mode == "data" {
            a.push_str("data.");
        }
        a.push_str(&self.kind);
        a.push('.');
        a.push_str(&self.name);
        match index {
            Some(serde_json::Value::String(k)) => a.push_str(&format!("[{}]", serde_json::Value::from(k.as_str()))),
            Some(k) => a.push_str(&format!("[{k}]")),
            None => {}
        }
        a
    }
}

/// Reads a state document. The error names where it broke (path, line, column) and what
/// was expected, never a value.
pub fn summarize(body: &[u8]) -> Result<StateContents, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let doc: Document = serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        let at = match e.path().to_string().as_str() {
            "." => String::new(),
            p => format!(" at `{p}`"),
        };
        let rule = match inner.classify() {
            serde_json::error::Category::Data => "a Terraform state (version 4) was expected",
            _ => "the state must be JSON",
        };
        format!("line {}, column {}{at}: {rule}", inner.line(), inner.column())
    })?;
    let mut resources = Vec::new();
    for r in &doc.resources {
        if r.instances.is_empty() {
            resources.push(view(r, None));
        }
        for i in &r.instances {
            resources.push(view(r, i.index_key.as_ref()));
        }
    }
    let mut outputs = Vec::new();
    for (name, raw) in doc.outputs {
        let o: Output = serde_json::from_value(raw)
            .map_err(|_| format!("output `{name}`: an object with a `value` was expected"))?;
        let value = if o.sensitive { serde_json::Value::from(MASK) } else { o.value };
        outputs.push(StateOutputView { name, value, sensitive: o.sensitive });
    }
    Ok(StateContents { terraform_version: doc.terraform_version, resources, outputs })
}

fn view(r: &Resource, index: Option<&serde_json::Value>) -> StateResourceView {
    StateResourceView {
        address: r.address(index),
        mode: r.mode.clone(),
        kind: r.kind.clone(),
        provider: r.provider.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{"version": 4, "terraform_version": "1.9.8", "serial": 3, "lineage": "l-1",
      "outputs": {"password": {"value": "hunter2", "type": "string", "sensitive": true},
                  "port": {"value": 5432, "type": "number"}},
      "resources": [
        {"mode": "managed", "type": "terraform_data", "name": "db", "provider": "provider[\"terraform.io/builtin/terraform\"]",
         "instances": [{"attributes": {"id": "x", "input": "secret-ish"}}]},
        {"module": "module.net", "mode": "data", "type": "aws_vpc", "name": "main", "provider": "p",
         "instances": [{"index_key": 0, "attributes": {}}, {"index_key": "b", "attributes": {}}]}
      ]}"#;

    #[test]
    fn resources_by_address_and_sensitive_outputs_masked() {
        let s = summarize(STATE.as_bytes()).unwrap();
        let addresses: Vec<&str> = s.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addresses,
            ["terraform_data.db", "module.net.data.aws_vpc.main[0]", "module.net.data.aws_vpc.main[\"b\"]"]
        );
        assert_eq!(s.outputs[0], StateOutputView { name: "password".into(), value: MASK.into(), sensitive: true });
        assert_eq!(s.outputs[1].value, serde_json::json!(5432));
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("secret-ish"), "{text}");
    }

    #[test]
    fn a_broken_state_names_the_place_not_the_value() {
        let e = summarize(br#"{"resources": [{"type": 7, "name": "hunter2"}]}"#).unwrap_err();
        assert!(e.contains("resources[0].type") && e.contains("line 1"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = summarize(b"{not json").unwrap_err();
        assert!(e.contains("line 1, column 2") && e.contains("JSON"), "{e}");
    }
}
