//! Encryption at rest for connection passwords and extras, and variable
//! values, when `UPDRAFT_SECRET_KEY` is set: ChaCha20-Poly1305 (an AEAD,
//! RustCrypto's implementation) with a fresh random nonce per value, keyed by
//! SHA-256 of the secret key. Stored as `v1:` + base64(nonce || ciphertext).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Cipher(ChaCha20Poly1305);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(***)")
    }
}

const PREFIX: &str = "v1:";

impl Cipher {
    pub fn new(secret_key: &str) -> Self {
        let key = Sha256::digest(secret_key.as_bytes());
        Cipher(ChaCha20Poly1305::new_from_slice(&key).expect("SHA-256 gives a 32-byte key"))
    }

    pub fn seal(&self, plain: &str) -> String {
        let nonce = Nonce::generate();
        let sealed = self
            .0
            .encrypt(&nonce, plain.as_bytes())
            .expect("encryption of a byte string cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// The plain text, or `None` when the key is wrong or the value damaged.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let nonce = Nonce::try_from(nonce).ok()?;
        let plain = self.0.decrypt(&nonce, body).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_wrong_key() {
        let c = Cipher::new("a long random key");
        let a = c.seal("hunter2");
        let b = c.seal("hunter2");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains("hunter2"));
        assert_eq!(c.open(&a).as_deref(), Some("hunter2"));
        assert_eq!(Cipher::new("another key").open(&a), None);
        assert_eq!(c.open("v1:garbage"), None);
        assert_eq!(c.open("plain"), None);
    }
}
