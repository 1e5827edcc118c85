//! The client against the reference registry without auth: versions that exist and do not,
//! manifests kept byte for byte, re-tags, tag pages, copies across repositories (mounted)
//! and registries (streamed), an index with its children, and a registry that is gone.

mod support;

use support::image::{Pusher, docker_image, image, index};
use support::registry::{Auth, Registry};
use support::{bounded, client};
use terrace_registry::{Error, bench, media_type};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_version_resolves_and_a_missing_one_is_an_error_naming_it() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let v3 = image("0.0.3", "amd64");
        push.image("library/software", "0.0.3", &v3).await;
        let c = client().build().unwrap();

        let release = registry.reference("library/software:0.0.3");
        let found = c.resolve(&release).await.unwrap();
        assert_eq!(found.digest.to_string(), v3.digest);
        assert_eq!((found.media_type.as_str(), found.size), (media_type::OCI_MANIFEST, v3.manifest.len() as u64));
        assert!(c.exists(&release).await.unwrap());
        let by_digest = registry.reference(&format!("library/software@{}", v3.digest));
        assert_eq!(c.resolve(&by_digest).await.unwrap().digest.to_string(), v3.digest);

        let missing = registry.reference("library/software:0.0.9");
        assert!(!c.exists(&missing).await.unwrap());
        let e = c.resolve(&missing).await.unwrap_err();
        let text = e.to_string();
        assert!(e.is_not_found() && !e.retryable(), "{e:?}");
        assert!(text.contains(&format!("{}/library/software:0.0.9 does not exist", registry.host)), "{text}");
        assert!(text.contains("MANIFEST_UNKNOWN"), "{text}");

        // distribution answers MANIFEST_UNKNOWN for a manifest of an unknown repository, and
        // NAME_UNKNOWN for the repository's tags.
        let e = c.resolve(&registry.reference("library/nothing:1.0")).await.unwrap_err();
        assert!(e.is_not_found() && e.to_string().contains("library/nothing:1.0 does not exist"), "{e}");
        let e = c.tags(&registry.repo("library/nothing")).await.unwrap_err();
        let text = e.to_string();
        assert!(e.is_not_found() && text.contains("tags of") && text.contains("NAME_UNKNOWN"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_come_back_byte_for_byte_with_their_media_type() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let (oci, docker) = (image("1.0.0", "amd64"), docker_image("1.0.1"));
        push.image("team/app", "1.0.0", &oci).await;
        push.image("team/app", "1.0.1", &docker).await;
        let c = client().build().unwrap();
        for (tag, pushed) in [("1.0.0", &oci), ("1.0.1", &docker)] {
            let m = c.manifest(&registry.reference(&format!("team/app:{tag}"))).await.unwrap();
            assert_eq!(m.bytes().as_ref(), pushed.manifest.as_slice());
            assert_eq!((m.media_type(), m.digest().to_string()), (pushed.media_type, pushed.digest.clone()));
        }
        assert!(c.blob_exists(&registry.repo("team/app"), &oci.layer.digest.parse().unwrap()).await.unwrap());
        assert!(!c.blob_exists(&registry.repo("team/app"), &terrace_registry::Digest::sha256(b"none")).await.unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retag_moves_an_environment_tag_between_versions() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let (v3, v4) = (image("0.0.3", "amd64"), image("0.0.4", "amd64"));
        push.image("library/software", "0.0.3", &v3).await;
        push.image("library/software", "0.0.4", &v4).await;
        let c = client().build().unwrap();

        let report = c.retag(&registry.reference("library/software:0.0.3"), "dev").await.unwrap();
        assert_eq!(report.digest.to_string(), v3.digest);
        assert_eq!((report.blobs_mounted, report.blobs_streamed, report.manifests_copied), (0, 0, 0));
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(v3.digest.as_str()));
        c.retag(&registry.reference("library/software:0.0.4"), "dev").await.unwrap();
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(v4.digest.as_str()));
        // Rolling back is the same move, by digest this time.
        c.retag(&registry.reference(&format!("library/software@{}", v3.digest)), "dev").await.unwrap();
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(v3.digest.as_str()));

        let e = c.retag(&registry.reference("library/software:0.0.9"), "dev").await.unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(v3.digest.as_str()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_listed_across_link_pages() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let v = image("0.1.0", "amd64");
        let tags = ["0.1.0", "0.1.1", "0.2.0", "dev", "prod"];
        for tag in tags {
            push.image("library/software", tag, &v).await;
        }
        let c = client().tag_page_size(2).build().unwrap();
        let mut listed = c.tags(&registry.repo("library/software")).await.unwrap();
        // distribution 2.8 ignores `n` (tag pages came with distribution 3) and lists in
        // storage order: each tag once is what holds.
        listed.sort();
        assert_eq!(listed, tags);

        // So the Link pages are served by a listener answering as the distribution spec
        // documents: `n` tags after `last`, and `Link: <...>; rel="next"` while more remain.
        let paged = support::pages::TagPages::start(&tags).await;
        let listed =
            c.tags(&terrace_registry::Repository::parse(&format!("{}/library/software", paged.host)).unwrap()).await;
        assert_eq!(listed.unwrap(), tags);
        assert_eq!(paged.requests(), 3, "five tags in pages of two");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_across_repositories_mounts_the_blobs_then_tags() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let v3 = image("0.0.3", "amd64");
        push.image("library/software", "0.0.3", &v3).await;
        let c = client().build().unwrap();

        let source = registry.reference("library/software:0.0.3");
        let report = c.copy(&source, &registry.reference("promoted/software:stage")).await.unwrap();
        assert_eq!((report.blobs_mounted, report.blobs_streamed, report.blobs_present), (2, 0, 0), "{report:?}");
        assert_eq!(push.digest_of("promoted/software", "stage").await.as_deref(), Some(v3.digest.as_str()));
        assert!(push.has_blob("promoted/software", &v3.layer.digest).await);
        assert!(push.has_blob("promoted/software", &v3.config.digest).await);

        // The target now has the manifest: a second copy only moves a tag.
        let again = c.copy(&source, &registry.reference("promoted/software:prod")).await.unwrap();
        assert_eq!((again.blobs_mounted, again.blobs_streamed), (0, 0), "{again:?}");
        assert_eq!(push.digest_of("promoted/software", "prod").await.as_deref(), Some(v3.digest.as_str()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_is_retagged_and_copied_with_its_children() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        let multi = index("0.0.5", &["amd64", "arm64"]);
        push.index("library/software", "0.0.5", &multi).await;
        let c = client().build().unwrap();
        let source = registry.reference("library/software:0.0.5");

        let report = c.retag(&source, "dev").await.unwrap();
        assert_eq!(
            (report.digest.to_string(), report.media_type.as_str()),
            (multi.digest.clone(), media_type::OCI_INDEX)
        );
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(multi.digest.as_str()));

        let report = c.copy(&source, &registry.reference("promoted/software:stage")).await.unwrap();
        assert_eq!((report.manifests_copied, report.blobs_mounted, report.blobs_streamed), (2, 4, 0), "{report:?}");
        assert_eq!(push.digest_of("promoted/software", "stage").await.as_deref(), Some(multi.digest.as_str()));
        for child in &multi.images {
            assert_eq!(
                push.digest_of("promoted/software", &child.digest).await.as_deref(),
                Some(child.digest.as_str())
            );
        }
        let fetched = c.manifest(&registry.reference("promoted/software:stage")).await.unwrap();
        assert_eq!(fetched.bytes().as_ref(), multi.manifest.as_slice());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_across_registries_streams_the_blobs() {
    bounded(async {
        let (a, b) = (Registry::start(Auth::None), Registry::start(Auth::None));
        let v3 = image("0.0.3", "amd64");
        Pusher::anonymous(&a.host).image("library/software", "0.0.3", &v3).await;
        let c = client().build().unwrap();
        let report =
            c.copy(&a.reference("library/software:0.0.3"), &b.reference("mirror/software:0.0.3")).await.unwrap();
        assert_eq!((report.blobs_mounted, report.blobs_streamed), (0, 2), "{report:?}");
        let on_b = Pusher::anonymous(&b.host);
        assert_eq!(on_b.digest_of("mirror/software", "0.0.3").await.as_deref(), Some(v3.digest.as_str()));
        assert!(on_b.has_blob("mirror/software", &v3.layer.digest).await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_retag_is_two_round_trips() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        Pusher::anonymous(&registry.host).image("library/software", "0.0.3", &image("0.0.3", "amd64")).await;
        let cost =
            bench::retag_round_trips(client(), &registry.reference("library/software:0.0.3"), "dev").await.unwrap();
        assert_eq!((cost.cold, cost.warm), (2, 2), "GET and PUT of the manifest, nothing else");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_is_gone_is_a_retryable_error_naming_it() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let release = registry.reference("library/software:0.0.3");
        registry.kill();
        let c = client().attempts(3).build().unwrap();
        let e = c.resolve(&release).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Unreachable { attempts: 3, .. }) && e.retryable(), "{e:?}");
        assert!(text.contains(&registry.host) && text.contains("HEAD manifest") && text.contains("refused"), "{text}");
        assert_eq!(c.round_trips(), 3);
    })
    .await;
}
