//! The master-key check: a store records the id of the key it is first opened with
//! ([`Cipher::key_id`], a digest, never the key) and refuses any other key at open, before
//! anything is sealed under a key its older values are not under. This module owns what
//! the refusal says; the queries are in `sql::key_check`.

use std::fmt;

use crate::crypto::{Cipher, KEY_FILE_NAME, KeySource, MASTER_KEY_ENV};

/// Hex characters of a key id shown in messages: enough to tell two keys apart.
const SHOWN: usize = 16;

/// A store opened with another master key than the one it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongKey {
    /// The store, as the user names it (a file, or PostgreSQL's host, port and database).
    pub store: String,
    /// The id the store records, and the given key's.
    pub recorded: String,
    pub given: String,
    /// Where the given key came from.
    pub source: KeySource,
}

impl WrongKey {
    pub(crate) fn new(store: String, recorded: String, cipher: &Cipher) -> WrongKey {
        WrongKey { store, recorded, given: cipher.key_id(), source: cipher.source().clone() }
    }
}

fn short(id: &str) -> &str {
    id.get(..SHOWN).unwrap_or(id)
}

impl fmt::Display for WrongKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match &self.source {
            KeySource::Given => "given".to_string(),
            source => format!("from {source}"),
        };
        write!(
            f,
            "{} was sealed with another master key (key id {}) than the one {from} (key id {}): secrets sealed \
             with this key could not be read with the store's, so it is refused. ",
            self.store,
            short(&self.recorded),
            short(&self.given)
        )?;
        match &self.source {
            KeySource::Env { file } => write!(
                f,
                "Set {MASTER_KEY_ENV} to the key the store was created with, or unset it if that key is the one in {}",
                file.display()
            )?,
            KeySource::File { path, created: false } => write!(
                f,
                "Put the key the store was created with in {} or set {MASTER_KEY_ENV} to it (it wins over the file)",
                path.display()
            )?,
            KeySource::File { path, created: true } => write!(
                f,
                "{} was missing: is this the data folder (--data, TERRACE_DATA) the store was used with? Replace it \
                 with the store's own {KEY_FILE_NAME}, or set {MASTER_KEY_ENV} to the key the store was created with",
                path.display()
            )?,
            KeySource::Given => f.write_str("Open it with the key it was created with")?,
        }
        f.write_str(". A lost key cannot be recovered: see \"The master key\" in docs/server.md")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_message_names_the_store_both_ids_the_source_and_the_fix_never_the_key() {
        let key = [5u8; 32];
        let given = Cipher::new(key);
        let wrong = WrongKey::new("/srv/terrace.db".into(), "ab".repeat(32), &given);
        let text = wrong.to_string();
        assert!(
            text.starts_with("/srv/terrace.db was sealed with another master key (key id abababababababab)"),
            "{text}"
        );
        assert!(text.contains(&format!("than the one given (key id {})", &given.key_id()[..16])), "{text}");
        assert!(text.contains("Open it with the key it was created with"), "{text}");
        assert!(!text.contains(&hex::encode(key)), "{text}");

        let env = WrongKey { source: KeySource::Env { file: PathBuf::from("/d/master.key") }, ..wrong.clone() };
        let text = env.to_string();
        assert!(
            text.contains("from TERRACE_MASTER_KEY")
                && text.contains("unset it if that key is the one in /d/master.key")
        );

        let created = WrongKey { source: KeySource::File { path: "/d/master.key".into(), created: true }, ..wrong };
        let text = created.to_string();
        assert!(text.contains("/d/master.key was missing") && text.contains("--data, TERRACE_DATA"), "{text}");
    }
}
