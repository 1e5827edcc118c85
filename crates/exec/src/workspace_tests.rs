use super::*;

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn sample() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    fs::create_dir_all(r.join("mod/sub")).unwrap();
    fs::write(r.join("main.tf"), "resource {}").unwrap();
    fs::write(r.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    set_mode(&r.join("run.sh"), 0o755);
    fs::write(r.join("mod/sub/x.txt"), "x").unwrap();
    symlink("mod/sub/x.txt", r.join("link")).unwrap();
    symlink("../main.tf", r.join("mod/up")).unwrap();
    symlink("not-yet/there", r.join("dangling")).unwrap();
    fs::create_dir_all(r.join(".terrace/state")).unwrap();
    fs::write(r.join(".terrace/state/db"), "state").unwrap();
    fs::create_dir_all(r.join(".git")).unwrap();
    fs::write(r.join(".git/HEAD"), "ref").unwrap();
    fs::create_dir_all(r.join("mod/.terrace")).unwrap();
    d
}

fn none() -> Excluded {
    Excluded::default()
}

#[test]
fn copy_preserves_exec_bit_and_symlinks_and_skips_state() {
    let src = sample();
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("run-1");
    copy_tree(src.path(), &dst, &none()).unwrap();
    assert_eq!(mode(&dst), 0o700, "the copy is private from its creation");
    assert_eq!(fs::read_to_string(dst.join("main.tf")).unwrap(), "resource {}");
    assert_eq!(mode(&dst.join("run.sh")), 0o755);
    assert_eq!(fs::metadata(dst.join("main.tf")).unwrap().permissions().mode() & 0o111, 0);
    assert!(fs::symlink_metadata(dst.join("link")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("mod/sub/x.txt"));
    assert_eq!(fs::read_to_string(dst.join("link")).unwrap(), "x");
    assert_eq!(fs::read_to_string(dst.join("mod/up")).unwrap(), "resource {}");
    assert_eq!(fs::read_link(dst.join("dangling")).unwrap(), Path::new("not-yet/there"));
    assert!(!dst.join(".terrace").exists());
    assert!(!dst.join(".git").exists());
    assert!(!dst.join("mod/.terrace").exists());
    assert_eq!(tree_hash(src.path(), &none()).unwrap(), tree_hash(&dst, &none()).unwrap());
}

#[test]
fn an_absolute_link_inside_the_source_points_into_the_copy() {
    let src = sample();
    let inside = src.path().join("mod/sub/x.txt");
    symlink(&inside, src.path().join("abs")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("copy");
    copy_tree(src.path(), &dst, &none()).unwrap();
    assert_eq!(fs::read_link(dst.join("abs")).unwrap(), Path::new("mod/sub/x.txt"));
    fs::write(&inside, "changed").unwrap();
    assert_eq!(fs::read_to_string(dst.join("abs")).unwrap(), "x", "the copy must not reach the original");
}

#[test]
fn links_that_leave_the_source_are_refused_and_named() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "s").unwrap();
    let cases: Vec<(&str, PathBuf)> = vec![
        ("to-file", outside.path().join("secret")),
        ("to-dir", outside.path().to_path_buf()),
        ("way-up", PathBuf::from("../../..")),
        ("dangling-up", PathBuf::from("../nowhere")),
        ("dangling-abs", PathBuf::from("/nonexistent/target")),
    ];
    for (name, target) in cases {
        let src = sample();
        symlink(&target, src.path().join("mod").join(name)).unwrap();
        let out = tempfile::tempdir().unwrap();
        let err = copy_tree(src.path(), &out.path().join("c"), &none()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CopyError::Escapes { .. }), "{name}: {text}");
        assert!(text.starts_with(&format!("`mod/{name}` is a symbolic link to ")), "{text}");
        assert!(text.contains("outside the job's source folder"), "{text}");
    }
}

#[test]
fn a_source_that_is_a_link_to_a_folder_is_copied_and_excluded_folders_are_not() {
    let src = sample();
    let data = src.path().join("mod/data");
    fs::create_dir_all(data.join("work")).unwrap();
    fs::write(data.join("master.key"), "k").unwrap();
    let holder = tempfile::tempdir().unwrap();
    let link = holder.path().join("src-link");
    symlink(src.path(), &link).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("copy");
    // The data folder named through another path (the link) is still recognised.
    let excluded = Excluded::folders([link.join("mod/data").as_path()]);
    copy_tree(&link, &dst, &excluded).unwrap();
    assert_eq!(fs::read_to_string(dst.join("main.tf")).unwrap(), "resource {}");
    assert!(dst.join("mod/sub").is_dir());
    assert!(!dst.join("mod/data").exists(), "the data folder must never be copied");
    assert_eq!(tree_hash(&link, &excluded).unwrap(), tree_hash(&dst, &none()).unwrap());
}

#[test]
fn private_folders_and_files() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("a/b");
    private_dir(&dir).unwrap();
    assert_eq!((mode(&d.path().join("a")), mode(&dir)), (0o700, 0o700));
    set_mode(&dir, 0o755);
    private_dir(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700, "an existing folder is made private");
    let f = dir.join("f");
    fs::write(&f, "old").unwrap();
    set_mode(&f, 0o644);
    private_file(&f).unwrap();
    assert_eq!(mode(&f), 0o600);
    assert_eq!(fs::read(&f).unwrap(), b"");
}

#[test]
fn relative_paths_between_folders() {
    assert_eq!(relative_path(Path::new("a/b"), Path::new("c/d")), Path::new("../../c/d"));
    assert_eq!(relative_path(Path::new(""), Path::new("x")), Path::new("x"));
    assert_eq!(relative_path(Path::new("a"), Path::new("")), Path::new(".."));
    assert_eq!(relative_path(Path::new(""), Path::new("")), Path::new("."));
    assert_eq!(relative_path(Path::new("a/b"), Path::new("a/c")), Path::new("../c"));
}

#[test]
fn hash_follows_content_and_exec_bit_not_mtime_or_state() {
    let src = sample();
    let r = src.path();
    let h0 = tree_hash(r, &none()).unwrap();
    assert_eq!(h0.len(), 64);
    assert_eq!(h0, tree_hash(r, &none()).unwrap());

    fs::write(r.join(".terrace/state/db"), "other state").unwrap();
    fs::write(r.join(".git/HEAD"), "other").unwrap();
    let f = fs::File::options().write(true).open(r.join("main.tf")).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    assert_eq!(h0, tree_hash(r, &none()).unwrap(), "mtime and skipped folders must not count");

    set_mode(&r.join("main.tf"), 0o755);
    let h1 = tree_hash(r, &none()).unwrap();
    assert_ne!(h0, h1, "exec bit must count");
    set_mode(&r.join("main.tf"), 0o644);
    assert_eq!(h0, tree_hash(r, &none()).unwrap());

    fs::write(r.join("mod/sub/x.txt"), "y").unwrap();
    assert_ne!(h0, tree_hash(r, &none()).unwrap(), "content must count");
    fs::write(r.join("mod/sub/x.txt"), "x").unwrap();

    fs::remove_file(r.join("link")).unwrap();
    symlink("main.tf", r.join("link")).unwrap();
    assert_ne!(h0, tree_hash(r, &none()).unwrap(), "symlink target must count");
}

#[test]
fn file_hash_is_sha256() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, "abc").unwrap();
    assert_eq!(file_hash(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert!(file_hash(&d.path().join("missing")).is_err());
}
