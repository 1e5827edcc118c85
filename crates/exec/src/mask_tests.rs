use std::sync::Arc;

use super::*;

#[test]
fn masks_every_occurrence() {
    let s = SecretSet::new();
    s.add("hunter2");
    assert_eq!(s.mask("pw=hunter2 again hunter2"), "pw=*** again ***");
    assert!(matches!(s.mask("nothing here"), Cow::Borrowed(_)));
}

#[test]
fn empty_set_and_blank_secrets_mask_nothing() {
    let s = SecretSet::new();
    assert_eq!(s.mask("a b c"), "a b c");
    s.add("");
    s.add("  \t ");
    s.extend_blocking(vec![String::new(), "\n".to_string()]);
    assert!(s.is_empty());
    assert_eq!(s.max_len(), 0);
    assert_eq!(s.mask("a   b"), "a   b");
}

#[test]
fn overlapping_secrets_mask_the_longer() {
    let s = SecretSet::new();
    s.extend_blocking(["abcd".to_string(), "abcdefgh".to_string(), "efgh".to_string()]);
    assert_eq!(s.mask("xabcdefghx"), "x***x");
    assert_eq!(s.mask("xabcdx efghx"), "x***x ***x");
    // Overlap where neither contains the other: no part of either shows.
    let t = SecretSet::new();
    t.extend_blocking(["abcd".to_string(), "cdef".to_string()]);
    assert_eq!(t.mask("abcdef"), "***");
    assert_eq!(t.mask("abcd-cdef abcdefcdef"), "***-*** ***");
    assert_eq!(t.max_len(), 4);
}

#[test]
fn a_secret_that_overlaps_itself_is_masked_whole() {
    let s = SecretSet::new();
    s.add("abab");
    assert_eq!(s.mask("ababab"), "***");
}

#[test]
fn multi_line_secret_is_masked_line_by_line() {
    let s = SecretSet::new();
    s.add("-----BEGIN KEY-----\r\nMIIEow\n\n-----END KEY-----");
    assert_eq!(s.mask("-----BEGIN KEY-----"), "***");
    assert_eq!(s.mask("  MIIEow"), "  ***");
    assert_eq!(s.mask("x-----END KEY-----"), "x***");
    assert_eq!(s.len(), 4);
}

#[test]
fn many_secrets() {
    let s = SecretSet::new();
    s.extend_blocking((0..100).map(|i| format!("secret-{i:03}-value")));
    let line: String = (0..100).map(|i| format!("[secret-{i:03}-value]")).collect();
    assert_eq!(s.mask(&line), "[***]".repeat(100));
    assert_eq!(s.len(), 100);
    // One at a time, as the watcher adds them: the same result.
    let one_by_one = SecretSet::new();
    (0..100).for_each(|i| one_by_one.add(&format!("secret-{i:03}-value")));
    assert_eq!(one_by_one.mask(&line), "[***]".repeat(100));
    assert_eq!(one_by_one.max_len(), "secret-000-value".len());
}

#[test]
fn clones_share_the_set_and_duplicates_do_not_rebuild() {
    let s = SecretSet::new();
    let c = s.clone();
    c.add("token");
    assert_eq!(s.mask("a token"), "a ***");
    let before = s.snapshot();
    s.add("token");
    assert!(Arc::ptr_eq(&before, &s.snapshot()));
    assert_eq!(format!("{s:?}"), "SecretSet(1 secrets)");
}

#[test]
fn unicode_secret() {
    let s = SecretSet::new();
    s.add("mötörhead");
    assert_eq!(s.mask("é mötörhead é"), "é *** é");
}

#[test]
fn short_and_over_long_values_are_not_masked() {
    assert_eq!(check("abc"), Err(Unmaskable::TooShort));
    assert_eq!(check("é€x"), Err(Unmaskable::TooShort), "characters count, not bytes");
    assert_eq!(check("abcd"), Ok(()));
    assert_eq!(check("   "), Ok(()), "blank needs no mask");
    assert_eq!(check(&"x".repeat(MAX_SECRET_BYTES)), Ok(()));
    assert_eq!(check(&"x".repeat(MAX_SECRET_BYTES + 1)), Err(Unmaskable::TooLong));
    let s = SecretSet::new();
    s.extend_blocking(["a".to_string(), "42".to_string(), "x".repeat(MAX_SECRET_BYTES + 1)]);
    assert!(s.is_empty());
    assert_eq!(s.mask("a 42 banana"), "a 42 banana");
    // The short lines of a multi-line secret are left out, the long ones kept.
    s.add("{\n  \"key\": \"k3y-value\"\n}");
    assert_eq!(s.mask("}"), "}");
    assert_eq!(s.mask("  \"key\": \"k3y-value\""), "***");
}

/// The build runs on a blocking thread: a task on a one-thread runtime is not held up
/// by it (an inline build would finish before the other task is ever polled).
#[test]
fn building_happens_off_the_async_thread() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let s = SecretSet::new();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let set = s.clone();
        let build = async move {
            set.extend(["ab".repeat(MAX_SECRET_BYTES / 2)]).await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let other = async { done.load(std::sync::atomic::Ordering::SeqCst) };
        let ((), built_before_other_ran) = tokio::join!(build, other);
        assert!(!built_before_other_ran, "the build blocked the runtime's only thread");
        assert_eq!(s.len(), 1);
        assert_eq!(s.mask(&format!("<{}>", "ab".repeat(MAX_SECRET_BYTES / 2))), "<***>");
    });
}
