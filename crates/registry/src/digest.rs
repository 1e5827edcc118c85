//! Content digests (`sha256:<hex>`, `sha512:<hex>`): parsing, computing over bytes, and
//! checking bytes against a digest. A digest is what promotion records: a tag can move,
//! the digest names the exact bytes that were promoted.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `:` between the algorithm and the hex value.
    #[error("`{input}` is not a digest: expected ALGORITHM:HEX, e.g. sha256:<64 hex digits>")]
    Form { input: String },
    /// An algorithm this client cannot compute.
    #[error("`{input}` uses the digest algorithm `{algorithm}`: only sha256 and sha512 are supported")]
    Algorithm { input: String, algorithm: String },
    /// Wrong length or characters for the algorithm.
    #[error("`{input}` is not a valid {algorithm} digest: expected {len} lowercase hex digits after `{algorithm}:`")]
    Hex { input: String, algorithm: &'static str, len: usize },
}

/// The hash functions the OCI image spec registers (sha256 is the one everybody uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest, displayed and serialized as `algorithm:hex`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>` (lowercase hex, as the spec requires).
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        let (algorithm, hex) = input.split_once(':').ok_or_else(|| DigestError::Form { input: input.to_owned() })?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(DigestError::Algorithm { input: input.to_owned(), algorithm: other.to_owned() }),
        };
        let valid = hex.len() == algorithm.hex_len() && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(DigestError::Hex {
                input: input.to_owned(),
                algorithm: algorithm.name(),
                len: algorithm.hex_len(),
            });
        }
        Ok(Digest { algorithm, hex: hex.to_owned() })
    }

    /// The sha256 digest of `bytes`: the digest a registry gives content pushed today.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::compute(Algorithm::Sha256, bytes)
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn compute(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let hex = match algorithm {
            Algorithm::Sha256 => hex::encode(Sha256::digest(bytes)),
            Algorithm::Sha512 => hex::encode(Sha512::digest(bytes)),
        };
        Digest { algorithm, hex }
    }

    /// Whether `bytes` hash to this digest (computed with this digest's algorithm).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::compute(self.algorithm, bytes) == *self
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input_is_the_well_known_value() {
        let d = Digest::sha256(b"");
        assert_eq!(d.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert!(d.matches(b""));
        assert!(!d.matches(b"x"));
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn sha512_round_trips_and_matches() {
        let d = Digest::compute(Algorithm::Sha512, b"abc");
        assert_eq!(d.hex().len(), 128);
        assert!(Digest::parse(&d.to_string()).unwrap().matches(b"abc"));
    }

    #[test]
    fn malformed_digests_name_the_input_and_the_rule() {
        let e = Digest::parse("e3b0c442").unwrap_err();
        assert!(e.to_string().contains("`e3b0c442`") && e.to_string().contains("ALGORITHM:HEX"), "{e}");
        let e = Digest::parse("md5:abc").unwrap_err();
        assert!(e.to_string().contains("only sha256 and sha512"), "{e}");
        let e = Digest::parse("sha256:ABC").unwrap_err();
        assert!(e.to_string().contains("64 lowercase hex digits"), "{e}");
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(matches!(Digest::parse(&upper), Err(DigestError::Hex { .. })));
    }
}
