//! Operators' TOTP secrets sealed at rest: a copy of the database (a backup, a dump handed to
//! a supplier) must not let anyone compute second-factor codes. Each secret is encrypted with
//! ChaCha20-Poly1305 under the key of `backoffice.secret_key`, with a random nonce and the
//! operator's username as associated data (a sealed secret moved to another row does not open).
//!
//! Stored form: `v1:` + base64 (nonce ‖ ciphertext ‖ tag). Rows written before sealing existed
//! hold the bare base32 secret; [`reseal_plain_secrets`] seals them at start-up (see
//! docs/backoffice.md).

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};

use super::totp::Secret;
use crate::store::Store;

/// The prefix of a sealed secret (the version of the format).
const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// The demo's key, public by definition: production refuses it.
const DEMO_KEY: &[u8; 32] = b"sportello-demo-key-not-a-secret!";

/// The demo key as the setting takes it (64 hex digits).
pub fn demo_key_hex() -> String {
    data_encoding::HEXLOWER.encode(DEMO_KEY)
}

/// The key that seals TOTP secrets.
#[derive(Clone)]
pub struct SealingKey {
    cipher: ChaCha20Poly1305,
    demo: bool,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.demo {
            "SealingKey(demo)"
        } else {
            "SealingKey(***)"
        })
    }
}

impl SealingKey {
    /// The demo's key.
    pub fn demo() -> SealingKey {
        SealingKey::from_bytes(DEMO_KEY)
    }

    fn from_bytes(bytes: &[u8; 32]) -> SealingKey {
        SealingKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            demo: bytes == DEMO_KEY,
        }
    }

    /// Parses the setting: 32 bytes as 64 hexadecimal digits (`openssl rand -hex 32`).
    pub fn parse(text: &str) -> Result<SealingKey, String> {
        let text = text.trim();
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or("it must be 32 bytes written as 64 hexadecimal digits (openssl rand -hex 32)")?;
        Ok(SealingKey::from_bytes(&bytes))
    }

    /// Whether this is the demo's public key.
    pub fn is_demo(&self) -> bool {
        self.demo
    }

    /// Seals `secret` for the operator `username`.
    pub fn seal(&self, username: &str, secret: &Secret) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: username.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals any length we use");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", data_encoding::BASE64.encode(&out))
    }

    /// Opens the secret of `username`: None when it is not sealed, sealed for another operator,
    /// or under another key.
    pub fn open(&self, username: &str, stored: &str) -> Option<Secret> {
        let raw = data_encoding::BASE64
            .decode(stored.strip_prefix(PREFIX)?.as_bytes())
            .ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: username.as_bytes(),
                },
            )
            .ok()?;
        Some(Secret::from_bytes(&plain))
    }
}

/// Whether a stored value is sealed (rather than a bare base32 secret of before sealing).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Seals the secrets still stored in clear (rows written before sealing existed); returns how
/// many. Idempotent, and safe with several instances starting at once: a row is rewritten only
/// while it still holds the clear value read.
pub async fn reseal_plain_secrets(store: &Store, key: &SealingKey) -> anyhow::Result<usize> {
    let mut count = 0;
    for op in store.operators().await? {
        if is_sealed(&op.totp_secret) {
            continue;
        }
        let Some(secret) = Secret::from_base32(&op.totp_secret) else {
            anyhow::bail!("operator {}: stored TOTP secret is malformed", op.id);
        };
        let sealed = key.seal(&op.username, &secret);
        if store
            .replace_totp_secret(op.id, &op.totp_secret, &sealed)
            .await?
        {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_for_the_same_operator_and_key() {
        let key = SealingKey::parse(&"ab".repeat(32)).unwrap();
        let secret = Secret::generate();
        let sealed = key.seal("mrossi", &secret);
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains(&secret.to_base32()));
        assert_eq!(key.open("mrossi", &sealed), Some(secret.clone()));
        assert_eq!(key.open("altro", &sealed), None, "another row");
        assert_eq!(
            SealingKey::demo().open("mrossi", &sealed),
            None,
            "another key"
        );
        assert_eq!(key.open("mrossi", &secret.to_base32()), None, "not sealed");
        assert_ne!(
            key.seal("mrossi", &secret),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn parses_the_setting() {
        assert!(SealingKey::parse("corta").is_err());
        assert!(SealingKey::parse(&"zz".repeat(32)).is_err());
        assert!(!SealingKey::parse(&"AB".repeat(32)).unwrap().is_demo());
        assert!(SealingKey::parse(&demo_key_hex()).unwrap().is_demo());
    }
}
