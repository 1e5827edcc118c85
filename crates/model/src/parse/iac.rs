//! The settings of the IaC templates (`binary`, `backend_config` for terraform and
//! opentofu; `template_file`, `capabilities`, `sensitive_outputs` for cloudformation),
//! each refused on a template it does not apply to.

use indexmap::IndexMap;

use super::job::{relative_path, unique_strings};
use super::walk::{Diags, Pos, Slot, shorten};
use crate::project::{Job, TemplateKind};

const CAPABILITIES: &[&str] = &["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"];

pub(super) fn settings<'a>(d: &mut Diags, job: &mut Job, field: &dyn Fn(&str) -> Option<Slot<'a>>, at: Pos) {
    let kind = job.template;
    let tf = matches!(kind, TemplateKind::Terraform | TemplateKind::Opentofu);
    let cfn = kind == TemplateKind::Cloudformation;
    let mut only = |key: &str, applies: bool, templates: &str| -> Option<Slot<'a>> {
        let slot = field(key)?;
        if applies {
            Some(slot)
        } else {
            d.error(
                slot.pos(),
                format!("{} applies to {templates} jobs only (this job's template is `{}`)", slot.label, kind.as_str()),
            );
            None
        }
    };
    let binary = only("binary", tf, "terraform and opentofu");
    let backend = only("backend_config", tf, "terraform and opentofu");
    let template_file = only("template_file", cfn, "cloudformation");
    let capabilities = only("capabilities", cfn, "cloudformation");
    let sensitive = only("sensitive_outputs", cfn, "cloudformation");

    job.iac.binary = binary.and_then(|s| s.string(d, "a program name or path"));
    if let Some(slot) = backend {
        job.iac.backend_config = string_map(d, &slot);
    }
    job.iac.template_file = template_file.and_then(|s| relative_path(d, &s));
    if cfn && job.iac.template_file.is_none() && field("template_file").is_none() {
        d.error(at, format!("job `{}` uses the cloudformation template and needs `template_file` (the template, relative to its source folder)", shorten(&job.name)));
    }
    if let Some(slot) = capabilities {
        for (cap, cap_at) in unique_strings(d, &slot).unwrap_or_default() {
            if CAPABILITIES.contains(&cap.as_str()) {
                job.iac.capabilities.push(cap);
            } else {
                d.error(
                    cap_at,
                    format!(
                        "unknown capability `{}` in {}: expected one of {}",
                        shorten(&cap),
                        slot.label,
                        CAPABILITIES.join(", ")
                    ),
                );
            }
        }
    }
    if let Some(slot) = sensitive {
        job.iac.sensitive_outputs = unique_strings(d, &slot).unwrap_or_default().into_iter().map(|(s, _)| s).collect();
    }
}

/// A mapping of names to plain values.
fn string_map(d: &mut Diags, slot: &Slot<'_>) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    for (key, node) in slot.entries(d, "a mapping of names to values").unwrap_or_default() {
        let at = Pos::of(key.span());
        let value = Slot::new(node, at, format!("`{}` in {}", shorten(key.as_str()), slot.label));
        if let Some(v) = value.string(d, "a plain value") {
            out.insert(key.as_str().to_string(), v);
        }
    }
    out
}
