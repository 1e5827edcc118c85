//! Writing to the terminal without ever panicking: a closed stdout (`terrace runs | head -1`)
//! ends the command quietly (`CliError::Closed`, exit 0), and a closed stderr is ignored,
//! where `println!` and `eprintln!` would panic with "Broken pipe".

use std::fmt::Arguments;
use std::io::Write;

use crate::exit::CliError;

/// Writes one line to stdout.
pub fn line(args: Arguments<'_>) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()).map_err(CliError::from)
}

/// Writes text to stdout as it is.
pub fn text(args: Arguments<'_>) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush()).map_err(CliError::from)
}

/// Writes one line to stderr; a closed stderr loses the line, nothing else.
pub fn note(args: Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `println!` that returns `CliError::Closed` from the enclosing function on a closed stdout.
macro_rules! outln {
    ($($t:tt)*) => { $crate::out::line(format_args!($($t)*))? };
}

/// `print!` likewise.
macro_rules! out {
    ($($t:tt)*) => { $crate::out::text(format_args!($($t)*))? };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($t:tt)*) => { $crate::out::note(format_args!($($t)*)) };
}

pub(crate) use {errln, out, outln};
