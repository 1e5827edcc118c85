//! Stack names: `terrace-<project>-<environment>-<job>` made to fit CloudFormation's rules
//! (letters, digits and hyphens, starting with a letter, at most 128 characters).

pub fn stack_name(project: &str, environment: &str, job: &str) -> String {
    let raw = format!("terrace-{project}-{environment}-{job}");
    let mut name: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let mut name = name.trim_matches('-').to_string();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "t-");
    }
    name.truncate(128);
    name.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitised_to_cloudformation_rules() {
        assert_eq!(stack_name("shop", "dev", "db"), "terrace-shop-dev-db");
        assert_eq!(stack_name("shop", "pr_12", "rds.main"), "terrace-shop-pr-12-rds-main");
        let long = stack_name(&"p".repeat(100), &"e".repeat(50), "j");
        assert!(long.len() <= 128 && !long.ends_with('-'));
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
