//! Naming rules of the contracts: variable and output names, and how a job name
//! becomes the `<JOB>` part of `TERRACE_OUTPUT_JOB_<JOB>_<NAME>`.

/// Whether `name` matches `[A-Za-z_][A-Za-z0-9_]*` (variable and output names).
pub fn is_valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a valid job or environment name: `[a-z0-9][a-z0-9_-]*`, at most 63
/// characters, so it can be used in file names, stack names and URLs unchanged.
pub fn is_valid_resource_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {}
        _ => return false,
    }
    name.len() <= 63 && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The job name upper-cased with every character outside `[A-Z0-9]` turned into `_`.
pub fn job_env_segment(job: &str) -> String {
    job.chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() { c } else { '_' }
        })
        .collect()
}

/// `TERRACE_OUTPUT_JOB_<JOB>_<NAME>`.
pub fn output_variable(job: &str, name: &str) -> String {
    format!("TERRACE_OUTPUT_JOB_{}_{}", job_env_segment(job), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names() {
        assert!(is_valid_variable_name("_A1"));
        assert!(is_valid_variable_name("db_host"));
        assert!(!is_valid_variable_name("1A"));
        assert!(!is_valid_variable_name("A-B"));
        assert!(!is_valid_variable_name(""));
    }

    #[test]
    fn job_segment_uppercases_and_replaces() {
        assert_eq!(job_env_segment("db-setup.v2"), "DB_SETUP_V2");
        assert_eq!(output_variable("net", "vpc_id"), "TERRACE_OUTPUT_JOB_NET_vpc_id");
    }

    #[test]
    fn resource_names() {
        assert!(is_valid_resource_name("dev"));
        assert!(is_valid_resource_name("pr-12_a"));
        assert!(!is_valid_resource_name("Dev"));
        assert!(!is_valid_resource_name("-x"));
        assert!(!is_valid_resource_name(&"a".repeat(64)));
    }
}
