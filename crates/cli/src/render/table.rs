//! Plain aligned tables for listings (no borders: easy to read and to grep).

use crate::out::outln;
use comfy_table::{Table, presets::NOTHING};

pub fn print(header: &[&str], rows: Vec<Vec<String>>) -> Result<(), crate::exit::CliError> {
    let mut t = Table::new();
    t.load_preset(NOTHING).set_header(header.iter().copied());
    for r in rows {
        t.add_row(r);
    }
    for line in t.to_string().lines() {
        outln!("{}", line.trim());
    }
    Ok(())
}

/// A timestamp as `2026-11-22 14:03:07`, UTC.
pub fn when(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.format(&f).unwrap_or_default()
}

pub fn dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}
