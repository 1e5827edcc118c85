//! The data folder: `.terrace/` is kept out of git (a `.gitignore` of `*`: it holds the
//! master key), and the master key may be given as 64 hex digits or as base64 of 32 bytes,
//! refused otherwise with what it must be, never with its value. The store keeps to the
//! key it was sealed with: another one is refused at once (exit 2) with what to do.

mod common;

use common::TestProject;

const PROJECT: &str = "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    \
                       commands: {start: 'printf \"{\\\"PW\\\": {\\\"value\\\": \\\"out-s3cret\\\"}}\" > $TERRACE_OUTPUT_FILE'}\n";

#[test]
fn the_default_data_folder_is_ignored_by_git() {
    let p = TestProject::new(PROJECT);
    // Without --data / TERRACE_DATA: `.terrace/` beside terrace.yaml.
    p.run_with(&["up", "dev"], |c| {
        c.env_remove("TERRACE_DATA");
    })
    .ok();
    let ignore = std::fs::read_to_string(p.root().join(".terrace/.gitignore")).expect(".gitignore");
    assert!(ignore.lines().any(|l| l.trim() == "*"), "{ignore}");
    assert!(p.root().join(".terrace/master.key").exists());
    // git agrees: nothing under .terrace/ is offered for a commit.
    let git = |args: &[&str]| std::process::Command::new("git").args(args).current_dir(p.root()).output().expect("git");
    assert!(git(&["init", "-q"]).status.success());
    let status = git(&["status", "--porcelain", "--untracked-files=all"]);
    let listed = String::from_utf8_lossy(&status.stdout);
    assert!(listed.contains("terrace.yaml") && !listed.contains(".terrace/"), "{listed}");
}

#[test]
fn the_master_key_is_hex_or_base64_and_a_bad_one_is_refused_without_its_value() {
    let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64_of(&key);
    let p = TestProject::new(PROJECT);
    let with_key = |k: &str, args: &[&str]| {
        p.run_with(args, |c| {
            c.env("TERRACE_MASTER_KEY", k);
        })
    };
    with_key(&b64, &["up", "dev"]).ok();
    assert!(!p.data.join("master.key").exists(), "a given key makes no key file");
    // The same key as hex opens what base64 sealed.
    let shown = with_key(&hex, &["outputs", "dev", "--reveal", "--json"]).ok().stdout;
    assert!(shown.contains("out-s3cret"), "{shown}");
    for bad in ["correct-horse-battery-staple", &hex[..32], &base64_of(&key[..20])] {
        let refused = with_key(bad, &["outputs", "dev"]).code(1);
        assert!(refused.stderr.contains("TERRACE_MASTER_KEY"), "{}", refused.stderr);
        assert!(refused.stderr.contains("64 hexadecimal") && refused.stderr.contains("base64"), "{}", refused.stderr);
        assert!(!refused.stderr.contains(bad), "the error repeats the key: {}", refused.stderr);
    }
}

#[test]
fn a_store_opened_with_another_master_key_is_refused_with_exit_2_and_what_to_do() {
    let p = TestProject::new(PROJECT);
    p.run(&["up", "dev"]).ok();
    let key_file = p.data.join("master.key");
    let own = std::fs::read_to_string(&key_file).expect("the data folder's key");
    let store = p.data.join("terrace.db");
    let other = "ab".repeat(32);

    // TERRACE_MASTER_KEY set to another key than the one the store was sealed with.
    let refused = p
        .run_with(&["outputs", "dev", "--reveal"], |c| {
            c.env("TERRACE_MASTER_KEY", &other);
        })
        .code(2);
    let expected = format!("error: the store {} was sealed with another master key (key id ", store.display());
    assert!(refused.stderr.starts_with(&expected), "{}", refused.stderr);
    assert!(refused.stderr.contains("than the one from TERRACE_MASTER_KEY (key id "), "{}", refused.stderr);
    let fix = format!("unset it if that key is the one in {}", key_file.display());
    assert!(refused.stderr.contains(&fix), "{}", refused.stderr);
    assert!(!refused.stderr.contains(&other) && !refused.stderr.contains(own.trim()), "a key: {}", refused.stderr);
    assert!(!refused.stdout.contains("out-s3cret"));

    // A key file that is not the store's: the file is named.
    std::fs::write(&key_file, format!("{other}\n")).unwrap();
    let refused = p.run(&["up", "dev"]).code(2);
    assert!(refused.stderr.contains(&format!("than the one from the key file {} (key id", key_file.display())));
    assert!(refused.stderr.contains("Put the key the store was created with in"), "{}", refused.stderr);

    // The key file gone (a data folder moved without it): a new one is made, and refused.
    std::fs::remove_file(&key_file).unwrap();
    let refused = p.run(&["status"]).code(2);
    assert!(
        refused.stderr.contains("was missing: is this the data folder (--data, TERRACE_DATA)"),
        "{}",
        refused.stderr
    );

    // The store's own key back in place: everything as it was, nothing sealed with the others.
    std::fs::write(&key_file, &own).unwrap();
    let shown = p.run(&["outputs", "dev", "--reveal", "--json"]).ok().stdout;
    assert!(shown.contains("out-s3cret"), "{shown}");
    p.run(&["up", "dev"]).ok();
}

/// Standard base64 with padding, as `openssl rand -base64 32` prints it.
fn base64_of(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
