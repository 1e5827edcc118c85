//! Encryption at rest for secrets (DESIGN.md "Secrets"): XChaCha20-Poly1305 under one
//! 32-byte master key, taken from `TERRACE_MASTER_KEY` or from a 0600 key file in the
//! data folder, created on first use. A cipher knows where its key came from and the key's
//! id (a digest, never the key), so a store can refuse a key it was not sealed with.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// The environment variable that, when set, holds the master key.
pub const MASTER_KEY_ENV: &str = "TERRACE_MASTER_KEY";
/// The key file's name inside the data folder.
pub const KEY_FILE_NAME: &str = "master.key";

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_FORMAT: &str = "a 32-byte key: 64 hexadecimal characters, or 44 characters of base64 \
     (`openssl rand -hex 32` or `openssl rand -base64 32` makes one)";

/// Where a master key came from, for errors that tell the user which key to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `TERRACE_MASTER_KEY`; `file` is the key file it overrides (read when it is unset).
    Env { file: PathBuf },
    /// A key file, read, or `created` now because there was none.
    File { path: PathBuf, created: bool },
    /// Handed over by the caller ([`Cipher::new`]: tests and tools).
    Given,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env { .. } => write!(f, "{MASTER_KEY_ENV}"),
            KeySource::File { path, created: false } => write!(f, "the key file {}", path.display()),
            KeySource::File { path, created: true } => write!(f, "the key file {}, created now", path.display()),
            KeySource::Given => f.write_str("the caller"),
        }
    }
}

/// Seals and opens secrets. Cheap to clone; `Debug` never shows the key.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
    /// For tokens derived from the master key (`Cipher::token`), apart from the AEAD key.
    mac_key: [u8; 32],
    /// The key's id: a one-way digest of it, what a store records to refuse other keys.
    key_id: [u8; 32],
    source: KeySource,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    pub fn new(key: [u8; 32]) -> Self {
        Cipher::with_source(key, KeySource::Given)
    }

    fn with_source(key: [u8; 32], source: KeySource) -> Self {
        let mac_key: [u8; 32] = Sha256::new_with_prefix(b"terrace-token-key\0").chain_update(key).finalize().into();
        // Its own prefix: the id says nothing of the AEAD key nor of the token key.
        let key_id: [u8; 32] = Sha256::new_with_prefix(b"terrace-key-id\0").chain_update(key).finalize().into();
        Cipher { aead: XChaCha20Poly1305::new(Key::from_slice(&key)), mac_key, key_id, source }
    }

    /// The key's id, 64 hex characters: the same for the same key, and no way back to it
    /// (a SHA-256 of a 32-byte random key under a prefix of its own).
    pub fn key_id(&self) -> String {
        hex::encode(self.key_id)
    }

    /// Where the key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// A token for `purpose` and `subject` (a run's Terraform state token), the same on
    /// every replica sharing the master key, and unguessable without it: 64 hex characters.
    pub fn token(&self, purpose: &str, subject: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac_key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(subject.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `token` is the one [`Cipher::token`] gives, compared in constant time.
    pub fn verify_token(&self, purpose: &str, subject: &str, token: &str) -> bool {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac_key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(subject.as_bytes());
        hex::decode(token).is_ok_and(|t| mac.verify_slice(&t).is_ok())
    }

    /// The key from `TERRACE_MASTER_KEY` when set, else from `<data_dir>/master.key`,
    /// which is created (mode 0600) with a fresh random key when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Cipher, StoreError> {
        let from_env = std::env::var_os(MASTER_KEY_ENV)
            .map(|v| v.into_string().map_err(|_| not_hex(MASTER_KEY_ENV)))
            .transpose()?;
        Self::load_or_create_with(data_dir, from_env.as_deref())
    }

    /// The key of `<data_dir>/master.key` alone (not the environment's), when that file
    /// exists: what a data folder's own records were sealed with, to move them elsewhere.
    pub fn from_key_file(data_dir: &Path) -> Result<Option<Cipher>, StoreError> {
        let path = data_dir.join(KEY_FILE_NAME);
        match fs::read_to_string(&path) {
            Ok(text) => parse_key(&text, &path.display().to_string())
                .map(|k| Some(Cipher::with_source(k, KeySource::File { path, created: false }))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::KeyFile { path, source }),
        }
    }

    /// [`Cipher::load_or_create`] with the environment variable's value passed in, so
    /// tests need not touch the process environment.
    fn load_or_create_with(data_dir: &Path, from_env: Option<&str>) -> Result<Cipher, StoreError> {
        let path = data_dir.join(KEY_FILE_NAME);
        if let Some(text) = from_env {
            return parse_key(text, MASTER_KEY_ENV).map(|k| Cipher::with_source(k, KeySource::Env { file: path }));
        }
        let read = |path: PathBuf, text: &str| -> Result<Cipher, StoreError> {
            let key = parse_key(text, &path.display().to_string())?;
            Ok(Cipher::with_source(key, KeySource::File { path, created: false }))
        };
        match fs::read_to_string(&path) {
            Ok(text) => return read(path, &text),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::KeyFile { path, source }),
        }
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        match create_key_file(data_dir, &path, &key) {
            Ok(()) => Ok(Cipher::with_source(key, KeySource::File { path, created: true })),
            // Another process created it first: its key is the one everyone uses.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let text =
                    fs::read_to_string(&path).map_err(|source| StoreError::KeyFile { path: path.clone(), source })?;
                read(path, &text)
            }
            Err(source) => Err(StoreError::KeyFile { path, source }),
        }
    }

    /// Encrypts `plaintext`; the result is `nonce (24 bytes) || ciphertext || tag`.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.encrypt_bound(plaintext, b"")
    }

    pub fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.decrypt_bound(blob, b"")
    }

    /// Encrypts `plaintext` bound to `context` (authenticated, not stored): the blob
    /// only opens with the same context, so a blob copied to another record fails.
    pub fn encrypt_bound(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context })
            .map_err(|_| StoreError::Crypto("value too large to encrypt".into()))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    pub fn decrypt_bound(&self, blob: &[u8], context: &[u8]) -> Result<Vec<u8>, StoreError> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(StoreError::Crypto("encrypted value is truncated".into()));
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: context })
            .map_err(|_| StoreError::Crypto("cannot decrypt a stored value: wrong master key or tampered data".into()))
    }
}

fn not_hex(source: &str) -> StoreError {
    StoreError::Crypto(format!("the master key in {source} must be {KEY_FORMAT}"))
}

/// Parses a key given as 64 hex digits or as base64 (standard or URL-safe alphabet, padded
/// or not) of 32 bytes; the error names where the key came from and what it must be, never
/// its text.
fn parse_key(text: &str, source: &str) -> Result<[u8; 32], StoreError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    let mut key = [0u8; 32];
    if text.len() == 64 && hex::decode_to_slice(text, &mut key).is_ok() {
        return Ok(key);
    }
    let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(text).ok());
    match decoded {
        Some(bytes) if bytes.len() == 32 => {
            key.copy_from_slice(&bytes);
            Ok(key)
        }
        Some(bytes) => Err(StoreError::Crypto(format!(
            "the master key in {source} is base64 of {} bytes; it must be {KEY_FORMAT}",
            bytes.len()
        ))),
        None => Err(not_hex(source)),
    }
}

/// Writes the key to a private temporary file, then hard-links it into place: the
/// link fails with `AlreadyExists` if another process won the race, and a reader never
/// sees a half-written key file.
fn create_key_file(dir: &Path, path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut suffix = [0u8; 8];
    OsRng.fill_bytes(&mut suffix);
    let tmp: PathBuf = dir.join(format!(".{KEY_FILE_NAME}.{}.{}", std::process::id(), hex::encode(suffix)));
    write_new_private(&tmp, key)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(e),
        // A file system without hard links: create_new still refuses a second creator.
        Err(_) => write_new_private(path, key)?,
    }
    // Losing the key loses every secret: make the new directory entry durable too.
    File::open(dir)?.sync_all()
}

fn write_new_private(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn round_trip_and_nonce_is_random() {
        let c = Cipher::new([7; 32]);
        let a = c.encrypt(b"hunter2").unwrap();
        let b = c.encrypt(b"hunter2").unwrap();
        assert_ne!(a, b, "two encryptions of one value must differ");
        assert_eq!(a.len(), NONCE_LEN + 7 + TAG_LEN);
        assert_eq!(c.decrypt(&a).unwrap(), b"hunter2");
        assert_eq!(c.decrypt(&c.encrypt(b"").unwrap()).unwrap(), b"");
    }

    #[test]
    fn tampered_truncated_and_rebound_blobs_fail() {
        let c = Cipher::new([7; 32]);
        let mut blob = c.encrypt(b"hunter2").unwrap();
        *blob.last_mut().unwrap() ^= 1;
        assert!(matches!(c.decrypt(&blob), Err(StoreError::Crypto(_))));
        assert!(c.decrypt(&blob[..10]).is_err());
        let bound = c.encrypt_bound(b"hunter2", b"env/job/A").unwrap();
        assert_eq!(c.decrypt_bound(&bound, b"env/job/A").unwrap(), b"hunter2");
        assert!(c.decrypt_bound(&bound, b"env/job/B").is_err());
    }

    #[test]
    fn a_key_is_hex_or_base64_of_32_bytes_and_errors_never_repeat_it() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 7 + 250) as u8);
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
        assert_eq!(parse_key(&hex::encode(key), "env").unwrap(), key);
        assert_eq!(parse_key(&hex::encode_upper(key), "env").unwrap(), key);
        assert_eq!(parse_key(&format!(" {b64}\n"), "env").unwrap(), key);
        assert_eq!(parse_key(&url, "env").unwrap(), key);
        for bad in
            ["hunter2-not-a-key", &hex::encode([1u8; 16]), &base64::engine::general_purpose::STANDARD.encode([1u8; 16])]
        {
            let err = parse_key(bad, "TERRACE_MASTER_KEY").unwrap_err().to_string();
            assert!(
                err.contains("TERRACE_MASTER_KEY") && err.contains("64 hexadecimal") && err.contains("base64"),
                "{err}"
            );
            assert!(!err.contains(bad), "the error repeats the value: {err}");
        }
        let short = parse_key(&base64::engine::general_purpose::STANDARD.encode([1u8; 16]), "X").unwrap_err();
        assert!(short.to_string().contains("16 bytes"), "{short}");
    }

    #[test]
    fn tokens_are_bound_to_purpose_subject_and_key() {
        let c = Cipher::new([7; 32]);
        let t = c.token("tf-state", "run-1");
        assert_eq!(t.len(), 64);
        assert_eq!(t, Cipher::new([7; 32]).token("tf-state", "run-1"));
        assert!(c.verify_token("tf-state", "run-1", &t));
        assert!(!c.verify_token("tf-state", "run-2", &t));
        assert!(!c.verify_token("other", "run-1", &t));
        assert!(!Cipher::new([8; 32]).verify_token("tf-state", "run-1", &t));
        assert!(!c.verify_token("tf-state", "run-1", "not hex"));
    }

    #[test]
    fn wrong_key_fails() {
        let blob = Cipher::new([1; 32]).encrypt(b"hunter2").unwrap();
        let err = Cipher::new([2; 32]).decrypt(&blob).unwrap_err();
        assert!(err.to_string().contains("wrong master key"), "{err}");
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = Cipher::load_or_create_with(&data, None).unwrap();
        let path = data.join(KEY_FILE_NAME);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&data).unwrap().count(), 1);
        let second = Cipher::load_or_create_with(&data, None).unwrap();
        let blob = first.encrypt(b"x").unwrap();
        assert_eq!(second.decrypt(&blob).unwrap(), b"x");
        // Where each key came from, and one id for one key.
        assert_eq!(first.source(), &KeySource::File { path: path.clone(), created: true });
        assert_eq!(second.source(), &KeySource::File { path, created: false });
        assert_eq!(first.key_id(), second.key_id());
    }

    #[test]
    fn racing_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let ciphers: Vec<Cipher> = std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..8).map(|_| s.spawn(|| Cipher::load_or_create_with(dir.path(), None).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let blob = ciphers[0].encrypt(b"x").unwrap();
        for c in &ciphers {
            assert_eq!(c.decrypt(&blob).unwrap(), b"x");
        }
    }

    #[test]
    fn env_key_wins_and_bad_keys_are_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let hex_key = "ab".repeat(32);
        let c = Cipher::load_or_create_with(dir.path(), Some(&hex_key)).unwrap();
        assert_eq!(Cipher::new([0xab; 32]).decrypt(&c.encrypt(b"x").unwrap()).unwrap(), b"x");
        assert!(!dir.path().join(KEY_FILE_NAME).exists(), "an env key must not create a key file");
        assert_eq!(c.source(), &KeySource::Env { file: dir.path().join(KEY_FILE_NAME) });
        assert_eq!(c.key_id(), Cipher::new([0xab; 32]).key_id());
        assert_ne!(c.key_id(), Cipher::new([0xac; 32]).key_id());
        assert!(!c.key_id().contains(&hex_key), "the id is not the key");

        let err = Cipher::load_or_create_with(dir.path(), Some("s3cr3t-not-hex")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("64 hexadecimal") && msg.contains(MASTER_KEY_ENV), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(Cipher::load_or_create_with(dir.path(), Some(&"ab".repeat(31))).is_err());

        fs::write(dir.path().join(KEY_FILE_NAME), "zz-garbage\n").unwrap();
        let err = Cipher::load_or_create_with(dir.path(), None).unwrap_err();
        assert!(!err.to_string().contains("garbage"), "{err}");
    }
}
