//! `terrace --server URL plan --all`: one plan request per environment the server's
//! project declares, followed to its end, and the table local mode prints (real Terraform).

use std::process::Command;

use crate::support::*;

#[test]
fn plan_all_in_client_mode_prints_the_table_of_every_environment() {
    let f = Fixture::new(
        "project: shop\nenvironments: {dev: {}, prod: {}}\njobs:\n  net:\n    template: terraform\n    source: net\n    \
         events: [start, delete]\n",
    );
    f.write("proj/net/main.tf", "resource \"terraform_data\" \"one\" { input = \"x\" }\n");
    let token = f.token("operator", "ci");
    let mut server = f.start(&[]);
    let out = Command::new(bin())
        .args(["plan", "--all", "--quiet"])
        .current_dir(f.project())
        .env("TERRACE_SERVER", &server.url)
        .env("TERRACE_TOKEN", &token)
        .output()
        .expect("run terrace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for env in ["dev", "prod"] {
        let row: Vec<&str> = stdout
            .lines()
            .find(|l| l.starts_with(env))
            .unwrap_or_else(|| panic!("{stdout}"))
            .split_whitespace()
            .collect();
        assert_eq!(row[..6], [env, "net", "1", "0", "0", "changes"], "{stdout}");
    }
    assert!(
        stdout.contains("2 environment(s) planned: 2 job(s) with changes, 0 environment(s) with an error"),
        "{stdout}"
    );
    assert!(server.stop());
}
