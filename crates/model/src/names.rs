//! Naming rules of the contracts: variable and output names, how a job name becomes
//! the `<JOB>` part of `TERRACE_OUTPUT_JOB_<JOB>_<NAME>`, and the names an output alias
//! may never take.

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

/// Names an output alias never sets, whatever job writes them: they steer how every
/// later process starts or finds its programs (the loader, the shell, interpreters, the
/// IaC tools' own argument hooks), or they are Terrace's own. The output is still set
/// under its full `TERRACE_OUTPUT_JOB_<JOB>_<NAME>` name. Documented in README.md.
pub const RESERVED_ALIASES: &[&str] = &[
    "PATH",
    "HOME",
    "SHELL",
    "IFS",
    "ENV",
    "BASH_ENV",
    "CDPATH",
    "GLOBIGNORE",
    "PS4",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "BASHOPTS",
    "USER",
    "LOGNAME",
    "PWD",
    "OLDPWD",
    "TMPDIR",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "TF_DATA_DIR",
];

/// Prefixes of reserved alias names (see [`RESERVED_ALIASES`]).
pub const RESERVED_ALIAS_PREFIXES: &[&str] = &["TERRACE_", "LD_", "DYLD_", "LC_", "BASH_FUNC_", "GIT_", "TF_CLI_"];

/// Whether an output may not be aliased as `name`.
pub fn is_reserved_alias(name: &str) -> bool {
    RESERVED_ALIASES.contains(&name) || RESERVED_ALIAS_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Cuts long or multi-line text for a message: its first line, at most 40 characters.
pub fn clip(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
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
    fn reserved_aliases() {
        for name in ["PATH", "HOME", "LD_PRELOAD", "TERRACE_JOB", "BASH_ENV", "IFS", "PYTHONPATH", "GIT_SSH_COMMAND"] {
            assert!(is_reserved_alias(name), "{name}");
        }
        for name in ["DB_HOST", "path", "vpc_id", "LDAP_URL"] {
            assert!(!is_reserved_alias(name), "{name}");
        }
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
