//! Log capture: turns the bytes of one pipe into masked, timestamped log lines, one
//! batch per read. A secret split across two reads, or across the cut of an over-long
//! line, is still masked, because incomplete lines are held back until they can be.

use std::borrow::Cow;

#[cfg(test)]
use terrace_model::log::LogLine;
use terrace_model::log::{LogBatch, Stream};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc::Sender;

use crate::ExecEvent;
use crate::mask::SecretSet;
use crate::matcher::Matcher;
use crate::output_file::OutputWatch;

/// Longer lines are emitted in pieces of about this size, so a job printing without
/// newlines cannot make Terrace buffer without bound.
pub const MAX_LINE: usize = 64 * 1024;

/// How much is read at once: a whole (widened) pipe buffer, so a fast writer gives big batches.
const READ_CHUNK: usize = 1024 * 1024;

/// The pending bytes of one stream that do not yet form a complete line.
pub(crate) struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
    /// Where a batch is masked, reused from read to read.
    scratch: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn new(stream: Stream) -> Self {
        LineSplitter { stream, pending: Vec::with_capacity(READ_CHUNK), scratch: Vec::new() }
    }

    /// Takes the bytes just appended to `pending` (from `old_len` on) and returns the
    /// lines they complete, as one batch.
    fn take_lines(&mut self, old_len: usize, matcher: &Matcher) -> LogBatch {
        let mut out = LogBatch::new(time::OffsetDateTime::now_utc(), self.stream);
        if let Some(nl) = memchr::memrchr(b'\n', &self.pending[old_len..]) {
            let end = old_len + nl + 1;
            // Masking all the complete lines at once hides at least what masking them one
            // by one would: every line of a multi-line secret is a secret of its own.
            // Invalid bytes never swallow a '\n', so decoding the batch whole is the same
            // as decoding line by line.
            let masked = matcher.mask_with(&self.pending[..end - 1], &mut self.scratch);
            out.push_block(&decode(masked), MAX_LINE);
            self.pending.drain(..end);
        }
        let hold = matcher.max_len.saturating_sub(1);
        while self.pending.len() >= MAX_LINE + hold {
            let mut cut = char_floor(&self.pending, MAX_LINE);
            if let Some(end) = matcher.straddling_end(&self.pending, cut) {
                cut = end;
            }
            let piece = matcher.mask_bytes(&self.pending[..cut]);
            // A piece holds no '\n', and masking never makes one.
            out.push(&decode(&piece));
            self.pending.drain(..cut);
        }
        out
    }

    /// Appends bytes (as from one read) and returns the lines they complete.
    #[cfg(test)]
    pub(crate) fn push(&mut self, data: &[u8], matcher: &Matcher) -> Vec<LogLine> {
        let old = self.pending.len();
        self.pending.extend_from_slice(data);
        self.take_lines(old, matcher).to_lines()
    }

    /// At EOF: the partial last line, if any.
    pub(crate) fn finish(&mut self, matcher: &Matcher) -> Option<LogBatch> {
        if self.pending.is_empty() {
            return None;
        }
        let mut out = LogBatch::new(time::OffsetDateTime::now_utc(), self.stream);
        out.push_block(&decode(&matcher.mask_bytes(&self.pending)), MAX_LINE);
        self.pending.clear();
        Some(out)
    }

    /// Reads `pipe` to EOF, sending one `Lines` event per read that completed a line.
    /// When nobody listens any more it keeps reading, so the child never blocks on a
    /// full pipe. With a `watch`, the job's output file is consulted after every read,
    /// before anything read is masked and sent.
    pub(crate) async fn pump<R: AsyncRead + Unpin>(
        mut self,
        mut pipe: R,
        secrets: SecretSet,
        watch: Option<std::sync::Arc<OutputWatch>>,
        events: Sender<ExecEvent>,
    ) -> std::io::Result<()> {
        let mut listening = true;
        loop {
            let old = self.pending.len();
            self.pending.reserve(READ_CHUNK);
            let n = match pipe.read_buf(&mut self.pending).await {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.flush(&secrets, watch.as_ref(), &events, listening).await;
                    return Err(e);
                }
            };
            if n == 0 {
                break;
            }
            if let (Some(w), true) = (&watch, listening) {
                w.check(&secrets).await;
            }
            let batch = self.take_lines(old, &secrets.snapshot());
            if listening && !batch.is_empty() {
                listening = events.send(ExecEvent::Lines(batch)).await.is_ok();
            }
        }
        self.flush(&secrets, watch.as_ref(), &events, listening).await;
        Ok(())
    }

    async fn flush(
        &mut self,
        secrets: &SecretSet,
        watch: Option<&std::sync::Arc<OutputWatch>>,
        events: &Sender<ExecEvent>,
        listening: bool,
    ) {
        if let (Some(w), true, false) = (watch, listening, self.pending.is_empty()) {
            w.check(secrets).await;
        }
        if let Some(batch) = self.finish(&secrets.snapshot())
            && listening
        {
            let _ = events.send(ExecEvent::Lines(batch)).await;
        }
    }
}

/// The most a captured stdout keeps in memory; a job printing more is a runaway.
pub const MAX_CAPTURE: usize = 64 * 1024 * 1024;

/// Reads `pipe` to EOF into memory, unmasked and out of the log (machine output such
/// as `terraform output -json`). Past `MAX_CAPTURE` the rest is read and dropped, and
/// the log says so.
pub(crate) async fn collect<R: AsyncRead + Unpin>(mut pipe: R, events: Sender<ExecEvent>) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    (&mut pipe).take(MAX_CAPTURE as u64).read_to_end(&mut kept).await?;
    // The rest is still read, so the job never blocks on a full pipe.
    if tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await? > 0 {
        let note = format!("the captured output was cut at {} MiB", MAX_CAPTURE / (1024 * 1024));
        let _ = events.send(ExecEvent::Lines(LogBatch::now(Stream::Terrace, &note))).await;
    }
    Ok(kept)
}

/// Lossy UTF-8, checking first with the much faster strict decoder: logs are almost
/// always valid.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The greatest position <= `pos` that does not split a UTF-8 character; `pos` itself
/// in bytes that are not UTF-8 anyway.
fn char_floor(buf: &[u8], pos: usize) -> usize {
    let is_continuation = |b: u8| b & 0xC0 == 0x80;
    (pos.saturating_sub(3)..=pos)
        .rev()
        .find(|&i| i > 0 && buf.get(i).is_none_or(|&b| !is_continuation(b)))
        .unwrap_or(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    fn matcher(secrets: &[&str]) -> std::sync::Arc<Matcher> {
        std::sync::Arc::new(Matcher::build(secrets.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn splits_lines_strips_cr_and_keeps_partial() {
        let m = matcher(&[]);
        let mut sp = LineSplitter::new(Stream::Stdout);
        assert_eq!(texts(&sp.push(b"a\r\nb\n\nc", &m)), ["a", "b", ""]);
        assert_eq!(texts(&sp.push(b"d\n", &m)), ["cd"]);
        assert!(sp.push(b"tail", &m).is_empty());
        assert_eq!(sp.finish(&m).map(|b| b.text().to_string()), Some("tail\n".to_string()));
        assert!(sp.finish(&m).is_none());
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let m = matcher(&["pw"]);
        let mut sp = LineSplitter::new(Stream::Stderr);
        let lines = sp.push(b"\xff\xe2\x82\nx pw\xc3\n", &m);
        assert_eq!(texts(&lines), ["\u{fffd}\u{fffd}", "x ***\u{fffd}"]);
        assert_eq!(lines[0].stream, Stream::Stderr);
    }

    #[test]
    fn secret_split_across_pushes_is_masked() {
        let m = matcher(&["abcdef"]);
        let mut sp = LineSplitter::new(Stream::Stdout);
        assert!(sp.push(b"x abc", &m).is_empty());
        assert_eq!(texts(&sp.push(b"def y\n", &m)), ["x *** y"]);
    }

    #[test]
    fn long_line_is_cut_without_splitting_a_secret_or_a_char() {
        let secret = "SECRET-0123456789";
        let m = matcher(&[secret]);
        for offset in [MAX_LINE - 20, MAX_LINE - 5, MAX_LINE - 1, MAX_LINE, MAX_LINE + 3] {
            let mut sp = LineSplitter::new(Stream::Stdout);
            let mut data = vec![b'a'; offset];
            data.extend_from_slice(secret.as_bytes());
            data.extend_from_slice(&vec![b'b'; MAX_LINE * 2]);
            let mut lines = Vec::new();
            // Fed in small reads, so the cut happens while the secret is still arriving.
            for chunk in data.chunks(7) {
                lines.extend(sp.push(chunk, &m));
            }
            lines.extend(sp.finish(&m).map(|b| b.to_lines()).unwrap_or_default());
            assert!(lines.len() >= 3, "{offset}");
            let joined: String = lines.iter().map(|l| l.text.as_str()).collect();
            assert!(!joined.contains("SECRET"), "{offset}");
            assert_eq!(joined.matches("***").count(), 1, "{offset}");
            assert!(lines.iter().all(|l| l.text.len() <= MAX_LINE + secret.len()));
        }
    }

    #[test]
    fn long_line_cut_on_char_boundary() {
        let m = matcher(&[]);
        let mut sp = LineSplitter::new(Stream::Stdout);
        let data = "é".repeat(MAX_LINE);
        let lines = sp.push(data.as_bytes(), &m);
        assert!(!lines.is_empty());
        assert!(lines.iter().all(|l| !l.text.contains('\u{fffd}')));
        let rest = sp.finish(&m).map(|b| b.text().trim_end_matches('\n').to_string()).unwrap_or_default();
        let joined: String = lines.iter().map(|l| l.text.as_str()).chain([rest.as_str()]).collect();
        assert_eq!(joined, data);
    }

    #[test]
    fn long_complete_line_in_one_push_is_cut() {
        let m = matcher(&["pw"]);
        let mut sp = LineSplitter::new(Stream::Stdout);
        let mut data = "pw ".repeat(MAX_LINE);
        data.push('\n');
        let lines = sp.push(data.as_bytes(), &m);
        assert!(lines.len() >= 3);
        assert!(lines.iter().all(|l| l.text.len() <= MAX_LINE && !l.text.contains("pw")));
    }

    #[test]
    fn char_floor_cases() {
        let b = "aé€".as_bytes(); // a, c3 a9, e2 82 ac
        assert_eq!(char_floor(b, 2), 1);
        assert_eq!(char_floor(b, 3), 3);
        assert_eq!(char_floor(b, 5), 3);
        assert_eq!(char_floor(b, 6), 6);
        assert_eq!(char_floor(&[0x80; 8], 5), 5);
    }

    /// Capture + masking throughput; run with
    /// `cargo test -p terrace-exec --release -- --ignored --nocapture throughput`.
    #[test]
    #[ignore]
    fn throughput() {
        // Ten secrets sharing a prefix, as generated ones often do.
        let names: Vec<String> = (0..10).map(|i| format!("s3cr3t-{i:03}-0190a4e2c3b47d5e8f9a0b1c2d3e4f50")).collect();
        let m = matcher(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let line = "2024-01-01T00:00:00Z aws_instance.web: Still creating... [10s elapsed] id=i-0abc s3cr3t-003-0190a4e2c3b47d5e8f9a0b1c2d3e4f50\n";
        let chunk = line.repeat(256 * 1024 / line.len());
        let rounds = 4000;
        let start = std::time::Instant::now();
        let mut sp = LineSplitter::new(Stream::Stdout);
        let mut n = 0;
        for _ in 0..rounds {
            let old = sp.pending.len();
            sp.pending.extend_from_slice(chunk.as_bytes());
            n += sp.take_lines(old, &m).len();
        }
        let secs = start.elapsed().as_secs_f64();
        let gb = (chunk.len() * rounds) as f64 / 1e9;
        println!("{n} lines, {gb:.2} GB in {secs:.2} s: {:.2} GB/s", gb / secs);
    }
}
