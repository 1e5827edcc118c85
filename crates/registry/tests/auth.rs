//! Authentication against the reference registry: htpasswd Basic auth with good, bad and
//! no credentials, and token auth (the registry trusts a certificate made here; the token
//! service is served by the test on 127.0.0.1): tokens fetched per scope, cached, and the
//! call retried; credentials never in errors or Debug output.

mod support;

use support::image::{Pusher, image};
use support::registry::{Auth, Registry};
use support::token::{ISSUER, SERVICE, TokenServer};
use support::{bounded, client};
use terrace_registry::{AuthError, Credentials, Error, bench};

const USER: &str = "deployer";
const PASSWORD: &str = "s3cret-Pa55word";

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD) && !text.contains("wrong-pa55"), "a password leaked: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_good_bad_and_no_credentials() {
    bounded(async {
        let registry = Registry::start(Auth::Htpasswd { user: USER.into(), password: PASSWORD.into() });
        let v3 = image("0.0.3", "amd64");
        let push = Pusher::basic(&registry.host, USER, PASSWORD);
        push.image("library/software", "0.0.3", &v3).await;
        let release = registry.reference("library/software:0.0.3");

        let good = client().credentials(registry.host.clone(), Credentials::basic(USER, PASSWORD));
        assert_no_secret(&format!("{good:?}"));
        let c = good.build().unwrap();
        assert_eq!(c.resolve(&release).await.unwrap().digest.to_string(), v3.digest);
        assert_eq!(c.round_trips(), 2, "one 401 challenge, then the call with credentials");
        c.retag(&release, "dev").await.unwrap();
        assert_eq!(c.round_trips(), 4, "credentials sent up front once the registry asked for Basic");
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(v3.digest.as_str()));
        c.copy(&release, &registry.reference("promoted/software:stage")).await.unwrap();
        assert_eq!(push.digest_of("promoted/software", "stage").await.as_deref(), Some(v3.digest.as_str()));

        let bad = client().credentials(registry.host.clone(), Credentials::basic(USER, "wrong-pa55")).build().unwrap();
        let e = bad.resolve(&release).await.unwrap_err();
        assert!(matches!(e, Error::Auth(AuthError::Rejected { status: 401, .. })), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&registry.host) && text.contains("refused the credentials"), "{text}");
        assert_no_secret(&format!("{e} {e:?} {bad:?}"));
        assert!(bad.retag(&release, "dev").await.is_err());

        let none = client().build().unwrap();
        let e = none.exists(&release).await.unwrap_err();
        assert!(matches!(e, Error::Auth(AuthError::NoCredentials { .. })), "{e:?}");
        assert!(e.to_string().contains("no credentials were given"), "{e}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_fetched_per_scope_cached_and_the_call_retried() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenServer::start(dir.path(), USER, PASSWORD).await;
        let registry = Registry::start(Auth::Token {
            realm: tokens.realm.clone(),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            root_pem: tokens.root_pem.clone(),
        });
        let v3 = image("0.0.3", "amd64");
        let minted = std::sync::Arc::new(tokens);
        let for_push = minted.clone();
        let push = Pusher::new(&registry.host, move |repo| Some(format!("Bearer {}", for_push.push_token(repo))));
        push.image("library/software", "0.0.3", &v3).await;
        let tokens = minted;
        let release = registry.reference("library/software:0.0.3");

        let c = client().credentials(registry.host.clone(), Credentials::basic(USER, PASSWORD)).build().unwrap();
        assert_eq!(c.resolve(&release).await.unwrap().digest.to_string(), v3.digest);
        assert_eq!((c.round_trips(), tokens.requests()), (3, 1), "401, token, retried call");
        assert!(c.exists(&release).await.unwrap());
        assert_eq!((c.round_trips(), tokens.requests()), (4, 1), "the pull token is cached");
        c.retag(&release, "dev").await.unwrap();
        assert_eq!(tokens.requests(), 2, "one more token, for pull and push");
        assert_eq!(push.digest_of("library/software", "dev").await.as_deref(), Some(v3.digest.as_str()));
        let report = c.copy(&release, &registry.reference("promoted/software:stage")).await.unwrap();
        assert_eq!(report.blobs_mounted, 2, "mounted with a token for both repositories: {report:?}");
        assert_eq!(push.digest_of("promoted/software", "stage").await.as_deref(), Some(v3.digest.as_str()));

        let cost = bench::retag_round_trips(
            client().credentials(registry.host.clone(), Credentials::basic(USER, PASSWORD)),
            &release,
            "alpha",
        )
        .await
        .unwrap();
        assert_eq!((cost.cold, cost.warm), (5, 2), "cold: 401, pull token, GET, push token, PUT; warm: GET, PUT");

        let bad = client().credentials(registry.host.clone(), Credentials::basic(USER, "wrong-pa55")).build().unwrap();
        let e = bad.resolve(&release).await.unwrap_err();
        assert!(matches!(e, Error::Auth(AuthError::TokenRefused { status: 401, .. })), "{e:?}");
        assert!(e.to_string().contains(&tokens.realm) && e.to_string().contains("refused the credentials"), "{e}");
        assert_no_secret(&format!("{e} {e:?} {bad:?}"));

        // Anonymous: the token service grants nothing, the registry refuses the token.
        let none = client().build().unwrap();
        let e = none.resolve(&release).await.unwrap_err();
        assert!(matches!(e, Error::Auth(AuthError::NoCredentials { .. })), "{e:?}");
    })
    .await;
}
