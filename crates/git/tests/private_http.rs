//! A private repository over HTTP: `git http-backend` behind basic authentication on
//! 127.0.0.1. The token goes through `GIT_ASKPASS` and is never seen in an error, a log
//! line, the mirror's files or anything else Terrace writes.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::http_backend::GitHttpServer;
use support::{Upstream, listing, mirrors};
use terrace_git::{Credentials, Fetch, GitError, RepoUrl};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "tok-Sup3rS3cret-8c1f2e";
const WRONG: &str = "tok-Wr0ngS3cret-77aa01";

/// A log sink that the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_private_repository_is_fetched_with_a_token_that_never_shows() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let up = Upstream::new();
    let head = up.commit("main", &[("stack/main.tf", Some("private"))], "one");
    let server = GitHttpServer::start(up.bare.parent().unwrap().to_path_buf(), "x-access-token", TOKEN).await;
    let url = RepoUrl::parse(&server.url("upstream.git")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("mirrors");
    let mirrors = mirrors(&root).await;
    let cancel = CancellationToken::new();
    let mut errors = Vec::new();

    // No credentials: the server's 401 becomes an error that says what to give.
    let err = mirrors.mirror(&url, None).unwrap().resolve("main", &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::Git { action: "fetch", .. }), "{err:?}");
    assert!(err.to_string().contains("needs credentials"), "{err}");
    errors.push(format!("{err} {err:?}"));

    // A wrong token: refused, and not repeated back.
    let wrong = mirrors.mirror(&url, Some(Credentials::token(WRONG))).unwrap();
    let err = wrong.resolve("main", &cancel).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains(WRONG), "the wrong token leaked: {text}");
    errors.push(text);

    // The right token.
    let mirror = mirrors.mirror(&url, Some(Credentials::token(TOKEN))).unwrap();
    let resolved = mirror.resolve("main", &cancel).await.unwrap();
    assert_eq!((resolved.commit.clone(), resolved.fetch), (head, Fetch::Created));
    let dest = data.path().join("snap");
    mirror.snapshot(&resolved.commit, "stack", &dest, &cancel).await.unwrap();
    assert_eq!(listing(&dest), ["main.tf"]);
    // Incremental fetches authenticate too.
    up.commit("main", &[("stack/main.tf", Some("two"))], "two");
    assert_eq!(mirror.resolve("main", &cancel).await.unwrap().fetch, Fetch::Updated);
    errors.push(format!("{mirror:?}"));

    let seen = server.seen.lock().unwrap().clone();
    server.stop().await;
    assert!(seen.iter().any(|s| s.status == 401 && s.authorization.is_none()), "git asked without credentials first");
    assert!(seen.iter().any(|s| s.status == 200 && s.authorization.is_some()), "then with them: {seen:?}");

    // Nowhere: not in errors, logs, the mirror's config or any file of the mirrors folder.
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("mirror created"), "the logs were captured: {logs}");
    for text in errors.iter().chain([&logs]) {
        assert!(!text.contains(TOKEN) && !text.contains(WRONG), "a token leaked: {text}");
    }
    let config = std::fs::read_to_string(mirror.path().join("config")).unwrap();
    assert!(config.contains(url.to_string().as_str()), "{config}");
    for file in walk(&root) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for token in [TOKEN, WRONG] {
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "{} holds a token", file.display());
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
