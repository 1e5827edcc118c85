//! The raw file before and beside the YAML tree: its size limit, its UTF-8 check with
//! the position of the first bad byte, and finding where a piece of a value (a `${...}`
//! reference) is written, so problems inside values point at the reference itself.

use super::walk::Pos;

/// The largest project file read. A real `terrace.yaml` is a few KiB; the YAML tree of
/// a 200 MB file took 1.8 GB of memory, so anything past this is refused unread.
pub const MAX_PROJECT_FILE_BYTES: usize = 4 * 1024 * 1024;

/// "at most 4 MiB (4194304 bytes)".
pub fn size_limit_text() -> String {
    format!("at most {} MiB ({MAX_PROJECT_FILE_BYTES} bytes)", MAX_PROJECT_FILE_BYTES / (1024 * 1024))
}

/// The message for a file of `len` bytes over the limit.
pub fn too_large(len: u64) -> String {
    format!(
        "the project file is {len} bytes; a project file may be {}: split it, or move data out of it (into parameters files)",
        size_limit_text()
    )
}

/// The text of `bytes`, or the position and message of its first byte that is not UTF-8.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, (Pos, String)> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // The prefix is valid UTF-8 up to the bad byte, so it counts in characters.
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        let line = 1 + good.iter().filter(|b| **b == b'\n').count();
        let byte = bytes[e.valid_up_to()];
        (
            Pos { line, column },
            format!(
                "the file is not valid UTF-8: byte 0x{byte:02x} (at byte offset {}) cannot start or continue a character; save terrace.yaml as UTF-8",
                e.valid_up_to()
            ),
        )
    })
}

/// The text with its line starts, to turn positions into offsets and back.
pub(super) struct Source<'t> {
    text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Source<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source { text, line_starts }
    }

    fn offset(&self, at: Pos) -> Option<usize> {
        let start = *self.line_starts.get(at.line.checked_sub(1)?)?;
        let line = &self.text[start..];
        let within = line.char_indices().nth(at.column.saturating_sub(1)).map_or(line.len(), |(i, _)| i);
        Some(start + within)
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = self.line_starts.partition_point(|s| *s <= offset);
        let start = self.line_starts[line - 1];
        Pos { line, column: self.text[start..offset].chars().count() + 1 }
    }

    /// Where `needle` (the `nth` time it occurs, from 0) is written in the value that
    /// starts at `value_at`; the value's own position when it cannot be found (escapes
    /// in a quoted string may spell it differently). The search stays near the value.
    pub fn locate(&self, value_at: Pos, value_len: usize, needle: &str, nth: usize) -> Pos {
        let Some(start) = self.offset(value_at) else { return value_at };
        // Escapes such as `\u0024` write one character in up to six.
        let mut end = (start + value_len.saturating_mul(6) + 64).min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        match self.text[start..end].match_indices(needle).nth(nth) {
            Some((i, _)) => self.pos(start + i),
            None => value_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_byte_is_placed() {
        let (at, message) = utf8(b"project: p\njobs:\n  d\xc3\xa9\xff: {}\n").unwrap_err();
        assert_eq!(at, Pos { line: 3, column: 5 });
        assert!(message.contains("byte 0xff") && message.contains("offset 22"), "{message}");
        assert_eq!(utf8(b"\xfe").unwrap_err().0, Pos::START);
        assert_eq!(utf8("é".as_bytes()), Ok("é"));
    }

    #[test]
    fn references_are_found_where_written() {
        let text = "a: x\nb: \"é ${X} and ${X}\"\nc: |\n  ${Y}\n";
        let s = Source::new(text);
        assert_eq!(s.locate(Pos { line: 2, column: 4 }, 15, "${X}", 0), Pos { line: 2, column: 7 });
        assert_eq!(s.locate(Pos { line: 2, column: 4 }, 15, "${X}", 1), Pos { line: 2, column: 16 });
        assert_eq!(s.locate(Pos { line: 3, column: 4 }, 5, "${Y}", 0), Pos { line: 4, column: 3 });
        assert_eq!(s.locate(Pos { line: 2, column: 4 }, 15, "${Z}", 0), Pos { line: 2, column: 4 });
        assert_eq!(s.locate(Pos { line: 9, column: 1 }, 1, "x", 0), Pos { line: 9, column: 1 });
    }
}
