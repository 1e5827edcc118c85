//! Notifications out: one JSON POST to a Slack incoming webhook or a generic webhook,
//! a generic one signed with HMAC-SHA256 of the exact body. Errors never name the URL
//! (a Slack URL holds its token) nor echo the answer's body.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header a signed webhook carries: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Terrace-Signature";
/// The header naming the kind of notification.
pub const KIND_HEADER: &str = "X-Terrace-Event";

/// `sha256=<hex>` of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts notifications; one client (connection pool) for all of them.
#[derive(Clone, Debug)]
pub struct Notifier {
    http: reqwest::Client,
}

impl Notifier {
    pub fn new() -> Notifier {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Notifier { http }
    }

    /// POSTs `body` (JSON) to `url`, signed with `secret` when given; a 2xx answer is a
    /// delivery, anything else an error that says what happened without the URL.
    pub async fn post(&self, url: &str, kind: &str, body: Vec<u8>, secret: Option<&[u8]>) -> Result<(), String> {
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "terrace")
            .header(KIND_HEADER, kind);
        if let Some(secret) = secret {
            req = req.header(SIGNATURE_HEADER, sign(secret, &body));
        }
        match req.body(body).send().await {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => Err(format!("the endpoint answered {}", answer.status())),
            Err(e) => Err(format!("could not reach the endpoint: {}", e.without_url())),
        }
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_github_does() {
        // The example of GitHub's documentation for X-Hub-Signature-256.
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
