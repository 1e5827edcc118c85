//! A captured log line: what executors produce and the store keeps.

/// Which pipe a line came from, or `Terrace` for what Terrace itself writes into a
/// run's log (notes on variables, phases, retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    Terrace,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Terrace => "terrace",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            "terrace" => Some(Stream::Terrace),
            _ => None,
        }
    }
}

/// One line, already masked, without its trailing newline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    #[serde(with = "time::serde::rfc3339")]
    pub ts: time::OffsetDateTime,
    pub stream: Stream,
    pub text: String,
}

impl LogLine {
    pub fn now(stream: Stream, text: impl Into<String>) -> Self {
        LogLine { ts: time::OffsetDateTime::now_utc(), stream, text: text.into() }
    }
}
