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

/// Lines that arrived together, from one stream at one time: what executors hand to the
/// engine and the engine to the store. The text of all lines is one buffer, each line
/// followed by `\n` and none containing one, so capturing a log costs no allocation per
/// line and the buffer is stored as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogBatch {
    pub ts: time::OffsetDateTime,
    pub stream: Stream,
    text: String,
    count: usize,
}

impl LogBatch {
    pub fn new(ts: time::OffsetDateTime, stream: Stream) -> Self {
        LogBatch { ts, stream, text: String::new(), count: 0 }
    }

    /// A batch of `text` stamped now; a text with newlines becomes several lines.
    pub fn now(stream: Stream, text: &str) -> Self {
        let mut batch = LogBatch::new(time::OffsetDateTime::now_utc(), stream);
        batch.push(text);
        batch
    }

    /// Appends one line; a `\n` inside it starts a new line.
    pub fn push(&mut self, line: &str) {
        self.text.reserve(line.len() + 1);
        for piece in line.split('\n') {
            self.text.push_str(piece);
            self.text.push('\n');
            self.count += 1;
        }
    }

    /// Appends `block`: lines separated by `\n`, the last one without it. A `\r` ending a
    /// line is dropped, and a line longer than `max_line` bytes becomes pieces of at most
    /// that size (cut on char boundaries), so no reader ever gets an unbounded line.
    pub fn push_block(&mut self, block: &str, max_line: usize) {
        let bytes = block.as_bytes();
        if memchr::memchr(b'\r', bytes).is_none() && lines_fit(bytes, max_line) {
            // The common case, copied whole. Counting is one SIMD pass (memchr's `count`),
            // where visiting each newline cost a call per line.
            self.text.reserve(bytes.len() + 1);
            self.text.push_str(block);
            self.text.push('\n');
            self.count += memchr::memchr_iter(b'\n', bytes).count() + 1;
            return;
        }
        for line in block.split('\n') {
            let mut line = line.strip_suffix('\r').unwrap_or(line);
            while line.len() > max_line {
                let cut = (1..=max_line.max(1)).rev().find(|&i| line.is_char_boundary(i));
                // With `max_line` below a char's width the char goes whole.
                let cut = cut.or_else(|| (1..line.len()).find(|&i| line.is_char_boundary(i)));
                let Some(cut) = cut else { break };
                let (piece, rest) = line.split_at(cut);
                self.push_line(piece);
                line = rest;
            }
            self.push_line(line);
        }
    }

    /// One line known to hold no `\n`.
    fn push_line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        self.count += 1;
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every line followed by `\n`: the stored form.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn lines(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.text.split_terminator('\n')
    }

    /// The lines as separate values, for readers of a few lines.
    pub fn to_lines(&self) -> Vec<LogLine> {
        self.lines().map(|text| LogLine { ts: self.ts, stream: self.stream, text: text.to_string() }).collect()
    }
}

/// Whether no line of `bytes` is longer than `max_line`: each step looks back from
/// `max_line + 1` bytes ahead for the last newline, so a block of short lines costs one
/// search per `max_line` bytes.
fn lines_fit(bytes: &[u8], max_line: usize) -> bool {
    let mut start = 0;
    while bytes.len() - start > max_line {
        match memchr::memrchr(b'\n', &bytes[start..=start + max_line]) {
            Some(nl) => start += nl + 1,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lines_round_trip() {
        let mut b = LogBatch::now(Stream::Stdout, "a\nb");
        b.push("");
        b.push("c");
        assert_eq!(b.len(), 4);
        assert_eq!(b.text(), "a\nb\n\nc\n");
        assert_eq!(b.lines().collect::<Vec<_>>(), ["a", "b", "", "c"]);
        assert_eq!(b.lines().next_back(), Some("c"));
        let empty = LogBatch::new(b.ts, b.stream);
        assert!(empty.is_empty() && empty.lines().next().is_none());
    }

    #[test]
    fn push_block_strips_cr_and_cuts_long_lines() {
        let ts = time::OffsetDateTime::UNIX_EPOCH;
        let mut b = LogBatch::new(ts, Stream::Stderr);
        b.push_block("ab\r\n\ncd", 4);
        assert_eq!(b.lines().collect::<Vec<_>>(), ["ab", "", "cd"]);
        b.push_block("123456789", 4);
        assert_eq!(b.lines().skip(3).collect::<Vec<_>>(), ["1234", "5678", "9"]);
        let mut u = LogBatch::new(ts, Stream::Stdout);
        u.push_block("ééé\nx", 3);
        assert_eq!(u.lines().collect::<Vec<_>>(), ["é", "é", "é", "x"]);
        assert!(lines_fit(b"1234\n1234\n\n1234", 4) && lines_fit(b"", 0) && lines_fit(b"\n\n", 0));
        assert!(!lines_fit(b"1234\n12345\n1", 4) && !lines_fit(b"12345", 4) && !lines_fit(b"a", 0));
        let mut tiny = LogBatch::new(ts, Stream::Stdout);
        tiny.push_block("€€", 1);
        assert_eq!(tiny.lines().collect::<Vec<_>>(), ["€", "€"]);
        assert_eq!(tiny.len(), 2);
    }
}
