//! The wrapper's upload: the output file read the way every executor reads it (a regular
//! file, not a link, 1 MiB at most: `terrace_exec::read_output_file`), sent once with the
//! step's token, tried again a few times when Terrace cannot be reached.

use std::path::PathBuf;
use std::time::Duration;

use terrace_exec::kubernetes::upload::{OUTPUT_TOKEN_VAR, OUTPUT_URL_VAR};

/// Where the output file goes, from the pod's environment.
pub(super) struct Destination {
    url: String,
    token: String,
}

impl Destination {
    /// `None` when the pod was given no upload (nothing to send).
    pub(super) fn from_env() -> Option<Destination> {
        let url = std::env::var(OUTPUT_URL_VAR).ok().filter(|v| !v.is_empty())?;
        let token = std::env::var(OUTPUT_TOKEN_VAR).ok().filter(|v| !v.is_empty())?;
        Some(Destination { url, token })
    }
}

/// Why the outputs did not arrive.
pub(super) enum Failure {
    /// Terrace received the file and refused it (the run fails with that reason).
    Refused(String),
    /// They never reached Terrace.
    NotSent(String),
}

/// The places a job writes its output file, in the order they are read: the path
/// `TERRACE_OUTPUT_FILE` names, then the seed platform's.
pub(super) fn output_files() -> Vec<PathBuf> {
    let own = std::env::var_os("TERRACE_OUTPUT_FILE").map(PathBuf::from);
    own.into_iter()
        .chain([PathBuf::from("/terrace-output/output.json"), PathBuf::from("/qovery-output/qovery-output.json")])
        .collect()
}

/// Tries at most this many times when Terrace cannot be reached or is unavailable.
const TRIES: u32 = 4;

/// Sends the first output file found that has something in it; nothing found, nothing sent.
pub(super) async fn send(to: &Destination, places: &[PathBuf]) -> Result<(), Failure> {
    let mut file = None;
    for path in places {
        match terrace_exec::read_output_file(path) {
            Ok(Some(bytes)) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                file = Some(bytes);
                break;
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Failure::NotSent(format!(
                    "output file {}: {e}; none of its entries were applied",
                    path.display()
                )));
            }
        }
    }
    let Some(bytes) = file else { return Ok(()) };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Failure::NotSent(format!("cannot make an HTTP client: {e}")))?;
    let mut wait = Duration::from_millis(500);
    for tried in 1..=TRIES {
        let answer = client
            .put(&to.url)
            .bearer_auth(&to.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone())
            .send()
            .await;
        let retry = match answer {
            Ok(a) if a.status().is_success() => return Ok(()),
            Ok(a) => {
                let status = a.status();
                let message = error_message(a).await;
                match status.as_u16() {
                    422 => return Err(Failure::Refused(message)),
                    502..=504 | 429 => format!("{status}: {message}"),
                    _ => return Err(Failure::NotSent(format!("Terrace answered {status}: {message}"))),
                }
            }
            Err(e) => format!("cannot reach Terrace at {}: {e}", to.url),
        };
        if tried == TRIES {
            return Err(Failure::NotSent(retry));
        }
        // A backoff before trying again (a server restarting), not a synchronisation.
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    Ok(())
}

/// The `error.message` of Terrace's JSON error body, else the body itself.
async fn error_message(answer: reqwest::Response) -> String {
    let text = answer.text().await.unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or(text)
}
