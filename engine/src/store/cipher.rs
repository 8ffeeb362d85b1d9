//! Encryption at rest for connection passwords and extras, and variable
//! values, when `UPDRAFT_SECRET_KEY` is set.
//!
//! - The cipher key is derived from the secret key with Argon2id (RFC 9106,
//!   OWASP's parameters: 19 MiB, 2 passes) over a random 16-byte salt kept
//!   with the store (`store_meta`), so a guessable passphrase still costs an
//!   attacker a memory-hard hash per guess, and two stores with the same key
//!   do not share a cipher key.
//! - Values are sealed with ChaCha20-Poly1305 (an AEAD, RustCrypto's) under a
//!   fresh random nonce, with the row they belong to as associated data
//!   (`connections/<id>/password`): a sealed value copied into another row,
//!   or another field, no longer opens.
//! - Stored as `v2:` + base64(nonce || ciphertext). Values written by
//!   earlier versions (`v1:`, key = SHA-256 of the secret key, no associated
//!   data) still open; `updraft secrets encrypt` rewrites them as `v2:`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Cipher {
    current: ChaCha20Poly1305,
    /// Opens `v1:` values only.
    legacy: ChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(***)")
    }
}

const V1: &str = "v1:";
const V2: &str = "v2:";
pub const SALT_LEN: usize = 16;

/// A fresh random salt for a store.
pub fn new_salt() -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).expect("the OS random source");
    salt
}

/// Argon2id of the secret key over the store's salt: 32 bytes of key.
fn derive(secret_key: &str, salt: &[u8]) -> [u8; 32] {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(19 * 1024, 2, 1, Some(32)).expect("valid Argon2 parameters");
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret_key.as_bytes(), salt, &mut out)
        .expect("a 16-byte salt and a 32-byte output are within Argon2's limits");
    out
}

impl Cipher {
    /// The cipher for `secret_key` in a store whose salt is `salt`. Costs an
    /// Argon2id hash (tens of milliseconds): derive once per process.
    pub fn derive(secret_key: &str, salt: &[u8]) -> Self {
        let key = derive(secret_key, salt);
        let legacy = Sha256::digest(secret_key.as_bytes());
        Cipher {
            current: ChaCha20Poly1305::new_from_slice(&key).expect("a 32-byte key"),
            legacy: ChaCha20Poly1305::new_from_slice(&legacy).expect("SHA-256 gives a 32-byte key"),
        }
    }

    /// Seals `plain` for the row named by `aad` (e.g. `variables/token`).
    pub fn seal(&self, plain: &str, aad: &str) -> String {
        let nonce = Nonce::generate();
        let sealed = self
            .current
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("encryption of a byte string cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{V2}{}", STANDARD.encode(bytes))
    }

    /// The plain text, or `None` when the key is wrong, the value damaged or
    /// sealed for another row.
    pub fn open(&self, sealed: &str, aad: &str) -> Option<String> {
        let (cipher, body, aad) = if let Some(b) = sealed.strip_prefix(V2) {
            (&self.current, b, aad.as_bytes())
        } else if let Some(b) = sealed.strip_prefix(V1) {
            (&self.legacy, b, &[][..])
        } else {
            return None;
        };
        let bytes = STANDARD.decode(body).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, msg) = bytes.split_at(12);
        let nonce = Nonce::try_from(nonce).ok()?;
        let plain = cipher.decrypt(&nonce, Payload { msg, aad }).ok()?;
        String::from_utf8(plain).ok()
    }

    /// Whether a stored value is in the current format (else `secrets
    /// encrypt` rewrites it).
    pub fn is_current(sealed: &str) -> bool {
        sealed.starts_with(V2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_wrong_key_salt_or_row() {
        let salt = new_salt();
        let c = Cipher::derive("a long random key", &salt);
        let a = c.seal("hunter2", "variables/a");
        let b = c.seal("hunter2", "variables/a");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains("hunter2"));
        assert!(Cipher::is_current(&a));
        assert_eq!(c.open(&a, "variables/a").as_deref(), Some("hunter2"));
        assert_eq!(c.open(&a, "variables/b"), None, "bound to its row");
        assert_eq!(Cipher::derive("another key", &salt).open(&a, "variables/a"), None);
        assert_eq!(
            Cipher::derive("a long random key", &new_salt()).open(&a, "variables/a"),
            None
        );
        assert_eq!(c.open("v2:garbage", "variables/a"), None);
        assert_eq!(c.open("plain", "variables/a"), None);
    }

    /// Values sealed by the first format (SHA-256 of the key, no associated
    /// data) still open, so `secrets encrypt` can rewrite them.
    #[test]
    fn opens_values_of_the_first_format() {
        let key = Sha256::digest(b"k");
        let old = ChaCha20Poly1305::new_from_slice(&key).unwrap();
        let nonce = Nonce::generate();
        let mut bytes = nonce.to_vec();
        bytes.extend(old.encrypt(&nonce, &b"pw"[..]).unwrap());
        let v1 = format!("v1:{}", STANDARD.encode(bytes));
        let c = Cipher::derive("k", &new_salt());
        assert_eq!(c.open(&v1, "connections/x/password").as_deref(), Some("pw"));
        assert!(!Cipher::is_current(&v1));
    }
}
