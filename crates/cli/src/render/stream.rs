//! Listings written as they are read, one page at a time, in bounded memory: a table
//! whose column widths come from the first page (and grow when a later row is wider),
//! and a JSON array written one element at a time. For a listing of one page both look
//! exactly as `table::print` and `serde_json::to_string_pretty` of the whole list.

use std::io::{self, BufWriter, Stdout, Write};

use serde::Serialize;

/// Rows read per page by the streaming listings (`terrace status`).
pub const PAGE: u32 = 500;

/// A table without borders, as `table::print` draws it: cells left-aligned, two spaces
/// between columns, no trailing blanks.
pub struct TableStream<W: Write = BufWriter<Stdout>> {
    header: Vec<String>,
    widths: Option<Vec<usize>>,
    out: W,
}

impl TableStream {
    pub fn stdout(header: &[&str]) -> TableStream {
        TableStream::new(header, BufWriter::with_capacity(64 * 1024, io::stdout()))
    }
}

/// A cell on one line: line breaks would break the columns.
fn cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\n', '\r']) { s.replace("\r\n", " ").replace(['\n', '\r'], " ").into() } else { s.into() }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl<W: Write> TableStream<W> {
    pub fn new(header: &[&str], out: W) -> TableStream<W> {
        TableStream { header: header.iter().map(|h| h.to_string()).collect(), widths: None, out }
    }

    /// Whether any row was written yet.
    pub fn is_empty(&self) -> bool {
        self.widths.is_none()
    }

    /// Writes one page of rows (the header first, before the first page).
    pub fn page(&mut self, rows: &[Vec<String>]) -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let first = self.widths.is_none();
        let widths = self.widths.get_or_insert_with(|| self.header.iter().map(|h| width(h)).collect());
        for row in rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(&cell(c)));
            }
        }
        let widths = widths.clone();
        if first {
            let header = self.header.clone();
            self.line(&widths, header.iter().map(String::as_str))?;
        }
        for row in rows {
            self.line(&widths, row.iter().map(String::as_str))?;
        }
        Ok(())
    }

    fn line<'a>(&mut self, widths: &[usize], cells: impl Iterator<Item = &'a str>) -> io::Result<()> {
        let mut line = String::new();
        for (i, (c, w)) in cells.zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let c = cell(c);
            line.push_str(&c);
            line.extend(std::iter::repeat_n(' ', w.saturating_sub(width(&c))));
        }
        let trimmed = line.trim();
        self.out.write_all(trimmed.as_bytes())?;
        self.out.write_all(b"\n")
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A JSON array written element by element, laid out as `to_string_pretty` lays out
/// the whole array.
pub struct JsonArrayStream<W: Write = BufWriter<Stdout>> {
    count: usize,
    out: W,
}

impl JsonArrayStream {
    pub fn stdout() -> JsonArrayStream {
        JsonArrayStream::new(BufWriter::with_capacity(64 * 1024, io::stdout()))
    }
}

impl<W: Write> JsonArrayStream<W> {
    pub fn new(out: W) -> JsonArrayStream<W> {
        JsonArrayStream { count: 0, out }
    }

    pub fn push<T: Serialize>(&mut self, item: &T) -> io::Result<()> {
        let text = serde_json::to_string_pretty(item).map_err(io::Error::other)?;
        self.out.write_all(if self.count == 0 { b"[\n" } else { b",\n" })?;
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
            }
            self.out.write_all(b"  ")?;
            self.out.write_all(line.as_bytes())?;
        }
        self.count += 1;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A listing in one of the two forms, `--json` or a table.
pub enum Listing {
    Json(JsonArrayStream),
    Table(TableStream),
}

impl Listing {
    pub fn stdout(json: bool, header: &[&str]) -> Listing {
        if json { Listing::Json(JsonArrayStream::stdout()) } else { Listing::Table(TableStream::stdout(header)) }
    }

    /// Writes one page: each item as JSON, or its row.
    pub fn page<T: Serialize>(&mut self, items: &[T], row: impl Fn(&T) -> Vec<String>) -> io::Result<()> {
        match self {
            Listing::Json(out) => items.iter().try_for_each(|i| out.push(i)),
            Listing::Table(out) => out.page(&items.iter().map(row).collect::<Vec<_>>()),
        }
    }

    /// Ends the listing; an empty table is replaced by `empty` (JSON prints `[]`).
    pub fn finish(self, empty: impl FnOnce() -> String) -> io::Result<()> {
        match self {
            Listing::Json(out) => out.finish().map(drop),
            Listing::Table(out) => {
                let none = out.is_empty();
                let mut w = out.finish()?;
                if none {
                    writeln!(w, "{}", empty())?;
                    w.flush()?;
                }
                Ok(())
            }
        }
    }
}

/// The end of a listing that failed to write: a closed pipe (`| head`) is not an error.
pub fn write_failed(e: io::Error) -> Result<std::process::ExitCode, crate::exit::CliError> {
    if e.kind() == io::ErrorKind::BrokenPipe { Ok(std::process::ExitCode::SUCCESS) } else { Err(e.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<Vec<String>> {
        (0..n)
            .map(|i| vec![format!("env-{i}"), if i % 2 == 0 { "running" } else { "failed" }.into(), "-".into()])
            .collect()
    }

    #[test]
    fn one_page_looks_like_the_whole_table() {
        let header = ["ENVIRONMENT", "STATE", "REASON"];
        let mut t = table(&header);
        t.page(&rows(12)).unwrap();
        let streamed = String::from_utf8(t.finish().unwrap()).unwrap();
        let mut whole = comfy_table::Table::new();
        whole.load_preset(comfy_table::presets::NOTHING).set_header(header);
        for r in rows(12) {
            whole.add_row(r);
        }
        let whole: String = whole.to_string().lines().map(|l| format!("{}\n", l.trim())).collect();
        assert_eq!(streamed, whole);
    }

    type Table = TableStream<Vec<u8>>;

    fn table(header: &[&str]) -> Table {
        TableStream::new(header, Vec::new())
    }

    #[test]
    fn later_pages_keep_the_columns_and_widen_them_when_needed() {
        let mut t = table(&["A", "B"]);
        assert!(t.is_empty());
        t.page(&[]).unwrap();
        assert!(t.is_empty(), "an empty page writes nothing, not even the header");
        t.page(&[vec!["x".into(), "1".into()]]).unwrap();
        t.page(&[vec!["long\nname".into(), "2".into()]]).unwrap();
        let out = String::from_utf8(t.finish().unwrap()).unwrap();
        assert_eq!(out, "A  B\nx  1\nlong name  2\n");
    }

    #[test]
    fn the_json_array_is_the_pretty_array() {
        for n in [0, 1, 3] {
            let items: Vec<serde_json::Value> =
                (0..n).map(|i| serde_json::json!({"name": format!("e{i}"), "jobs": [1, {"a": null}]})).collect();
            let mut s = JsonArrayStream::new(Vec::new());
            for i in &items {
                s.push(i).unwrap();
            }
            let out = String::from_utf8(s.finish().unwrap()).unwrap();
            assert_eq!(out, format!("{}\n", serde_json::to_string_pretty(&items).unwrap()), "{n} items");
        }
    }
}
