//! Failures the reference registry does not produce on demand, made real through a proxy in
//! front of it: the registry killed in the middle of a copy (the target tag is never moved,
//! and running the copy again finishes it), and a registry that refuses cross-repository
//! mounts (the blobs are streamed instead).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support::image::{Pusher, image, index};
use support::proxy::Proxy;
use support::registry::{Auth, Registry};
use support::{bounded, client};
use terrace_registry::{Error, Reference};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_killed_mid_copy_leaves_the_tag_unmoved_and_a_second_run_finishes() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let (old, multi) = (image("0.0.4", "amd64"), index("0.0.5", &["amd64", "arm64"]));
        push.image("promoted/software", "stage", &old).await;
        push.index("library/software", "0.0.5", &multi).await;

        // Kill the registry when the copy, children done, is about to move the tag.
        let (killer, fired) = (registry.killer(), Arc::new(AtomicBool::new(false)));
        let fired_in_rule = fired.clone();
        let rule = Arc::new(move |method: &str, path: &str| {
            if method == "PUT"
                && path == "/v2/promoted/software/manifests/stage"
                && !fired_in_rule.swap(true, Ordering::SeqCst)
            {
                killer.kill();
            }
            path.to_owned()
        });
        let proxy = Proxy::start(&registry.host, rule).await;
        let via = |rest: &str| Reference::parse(&format!("{}/{rest}", proxy.host)).unwrap();
        let c = client().attempts(3).build().unwrap();

        let e = c.copy(&via("library/software:0.0.5"), &via("promoted/software:stage")).await.unwrap_err();
        assert!(fired.load(Ordering::SeqCst), "the rule fired");
        assert!(matches!(e, Error::Status { status: 502, attempts: 3, .. }) && e.retryable(), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&format!("PUT manifest {}/promoted/software:stage", proxy.host)), "{text}");

        // Back up on the same storage: the tag still names what it named before.
        registry.restart();
        assert_eq!(push.digest_of("promoted/software", "stage").await.as_deref(), Some(old.digest.as_str()));
        let report = c.copy(&via("library/software:0.0.5"), &via("promoted/software:stage")).await.unwrap();
        assert_eq!(
            (report.manifests_present, report.manifests_copied),
            (2, 0),
            "children kept from the first run: {report:?}"
        );
        assert_eq!(push.digest_of("promoted/software", "stage").await.as_deref(), Some(multi.digest.as_str()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mount_falls_back_to_streaming_the_blob() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let v3 = image("0.0.3", "amd64");
        push.image("library/software", "0.0.3", &v3).await;

        // As a registry without mount support: the POST opens an ordinary upload (202).
        let rule = Arc::new(|_: &str, path: &str| match path.split_once("/blobs/uploads/?mount=") {
            Some((repo, _)) => format!("{repo}/blobs/uploads/"),
            None => path.to_owned(),
        });
        let proxy = Proxy::start(&registry.host, rule).await;
        let via = |rest: &str| Reference::parse(&format!("{}/{rest}", proxy.host)).unwrap();
        let c = client().build().unwrap();

        let report = c.copy(&via("library/software:0.0.3"), &via("promoted/software:stage")).await.unwrap();
        assert_eq!((report.blobs_mounted, report.blobs_streamed), (0, 2), "{report:?}");
        assert_eq!(push.digest_of("promoted/software", "stage").await.as_deref(), Some(v3.digest.as_str()));
        assert!(push.has_blob("promoted/software", &v3.layer.digest).await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_never_answers_is_cut_off_by_the_timeout() {
    bounded(async {
        // Accepts connections and holds them without a word.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let _silent = support::AbortOnDrop(tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        }));
        let c = client().timeout(std::time::Duration::from_millis(300)).attempts(2).build().unwrap();
        let e = c.resolve(&Reference::parse(&format!("{host}/library/software:0.0.3")).unwrap()).await.unwrap_err();
        assert!(matches!(e, Error::Unreachable { attempts: 2, .. }) && e.retryable(), "{e:?}");
        assert!(e.to_string().contains("no answer within 300ms"), "{e}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_whose_announced_digest_is_wrong_is_refused_and_nothing_moves() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let (v3, v4) = (image("0.0.3", "amd64"), image("0.0.4", "amd64"));
        push.image("library/software", "0.0.3", &v3).await;
        push.image("library/software", "dev", &v4).await;

        // Announce another digest for the bytes of 0.0.3, as a corrupting cache would.
        let lie = v4.digest.clone();
        let tamper: support::proxy::Tamper =
            Arc::new(move |method: &str, path: &str, headers: &mut axum::http::HeaderMap| {
                if method == "GET" && path.ends_with("/manifests/0.0.3") {
                    headers.insert("docker-content-digest", lie.parse().unwrap());
                }
            });
        let proxy =
            Proxy::start_tampering(&registry.host, Arc::new(|_: &str, p: &str| p.to_owned()), Some(tamper)).await;
        let via = |rest: &str| Reference::parse(&format!("{}/{rest}", proxy.host)).unwrap();
        let c = client().build().unwrap();

        let e = c.retag(&via("library/software:0.0.3"), "dev").await.unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }) && !e.retryable(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains(&v3.digest) && text.contains(&v4.digest) && text.contains("Docker-Content-Digest"),
            "{text}"
        );
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(v4.digest.as_str()));
    })
    .await;
}
