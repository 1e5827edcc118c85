//! The byte form of a log chunk written before migration 0005 (read only): one line
//! per log line, `<unix nanos>\t<o|e|t>\t<text>\n`,
//! where `o`, `e`, `t` are stdout, stderr, terrace and the text escapes `\` as `\\` and
//! a newline as `\n`, so a chunk splits on raw newlines and decodes exactly.

use terrace_model::log::{LogLine, Stream};

use crate::db::value::ts_from_db;
use crate::error::StoreError;

/// The encoding of rows written before migration 0005, kept to test their decoding.
#[cfg(test)]
pub(crate) fn encode(lines: &[LogLine]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.text.len() + 24).sum());
    for line in lines {
        // Formatted in place: a `to_string` per line was an allocation per log line.
        use std::io::Write;
        write!(out, "{}", crate::db::value::ts_to_db(line.ts)?)
            .map_err(|e| StoreError::Invalid(format!("encoding a log line: {e}")))?;
        out.push(b'\t');
        out.push(match line.stream {
            Stream::Stdout => b'o',
            Stream::Stderr => b'e',
            Stream::Terrace => b't',
        });
        out.push(b'\t');
        if line.text.contains(['\\', '\n']) {
            for c in line.text.chars() {
                match c {
                    '\\' => out.extend_from_slice(b"\\\\"),
                    '\n' => out.extend_from_slice(b"\\n"),
                    c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        } else {
            out.extend_from_slice(line.text.as_bytes());
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// Decodes lines `skip..skip + take` of a chunk; the skipped ones are not parsed.
/// `what` names the chunk in errors.
pub(crate) fn decode(data: &[u8], skip: usize, take: usize, what: &str) -> Result<Vec<LogLine>, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("log_chunks.data of {what}: {why}"));
    let body = data.strip_suffix(b"\n").ok_or_else(|| corrupt("missing final newline"))?;
    body.split(|&b| b == b'\n')
        .skip(skip)
        .take(take)
        .map(|raw| {
            let text = std::str::from_utf8(raw).map_err(|_| corrupt("not UTF-8"))?;
            let mut fields = text.splitn(3, '\t');
            let (Some(nanos), Some(stream), Some(escaped)) = (fields.next(), fields.next(), fields.next()) else {
                return Err(corrupt("a line lacks a field"));
            };
            let nanos: i64 = nanos.parse().map_err(|_| corrupt("bad timestamp"))?;
            let stream = match stream {
                "o" => Stream::Stdout,
                "e" => Stream::Stderr,
                "t" => Stream::Terrace,
                _ => return Err(corrupt("unknown stream")),
            };
            Ok(LogLine {
                ts: ts_from_db(nanos, "log_chunks.data")?,
                stream,
                text: unescape(escaped).ok_or_else(|| corrupt("bad escape"))?,
            })
        })
        .collect()
}

fn unescape(s: &str) -> Option<String> {
    if !s.contains('\\') {
        return Some(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn line(stream: Stream, text: &str) -> LogLine {
        LogLine { ts: datetime!(2025-03-01 12:00:00.123456789 UTC), stream, text: text.into() }
    }

    #[test]
    fn round_trips_awkward_text() {
        let lines = vec![
            line(Stream::Stdout, "plain"),
            line(Stream::Stderr, "tab\there\\n not a newline \\ backslash"),
            line(Stream::Terrace, "real\nnewline and trailing \\"),
            line(Stream::Stdout, ""),
            line(Stream::Stdout, "ünïcødé ✓"),
        ];
        let data = encode(&lines).unwrap();
        assert_eq!(data.iter().filter(|&&b| b == b'\n').count(), lines.len());
        assert_eq!(decode(&data, 0, usize::MAX, "t").unwrap(), lines);
        assert_eq!(decode(&data, 2, 2, "t").unwrap(), lines[2..4]);
        assert!(decode(&data, 9, 2, "t").unwrap().is_empty());
    }

    #[test]
    fn corrupt_chunks_are_reported() {
        assert!(matches!(decode(b"12\tx\thi\n", 0, 1, "run r"), Err(StoreError::Corrupt(m)) if m.contains("run r")));
        assert!(decode(b"12\to\thi", 0, 1, "r").is_err());
        assert!(decode(b"12\to\tbad \\q\n", 0, 1, "r").is_err());
        assert!(decode(b"nope\to\thi\n", 0, 1, "r").is_err());
    }
}
