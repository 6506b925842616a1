//! The secret box: webhook signing secrets are sealed (AES-256-GCM) before they reach a topic, a
//! table or an answer, and opened only to sign. The key is the hub's (`WES_SECRETS_KEY` or a key
//! file in the data directory); each sealed secret is bound to its warehouse, so it cannot be
//! copied to another.

use crate::AppError;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes of a secrets key.
pub const KEY_LEN: usize = 32;
const SEALED_PREFIX: &str = "v1.";

pub struct SecretBox {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; KEY_LEN]) -> SecretBox {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is an AES-256 key");
        SecretBox {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        }
    }

    /// A fresh random key.
    pub fn generate_key() -> Result<[u8; KEY_LEN], AppError> {
        let mut key = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| AppError::Internal("the OS random generator failed".into()))?;
        Ok(key)
    }

    /// `v1.` and the hex of a random nonce, the ciphertext and its tag.
    pub fn seal(&self, owner: &str, clear: &str) -> Result<String, AppError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| AppError::Internal("the OS random generator failed".into()))?;
        let mut sealed = clear.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| AppError::Internal("sealing a secret failed".into()))?;
        Ok(format!(
            "{SEALED_PREFIX}{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    /// The secret in clear; an error when it was sealed under another key or for another owner.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<String, AppError> {
        let refused = || {
            AppError::Internal(format!(
                "a sealed secret of {owner} does not open with this hub's secrets key (WES_SECRETS_KEY or the data directory's secrets.key changed?)"
            ))
        };
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() >= NONCE_LEN)
            .ok_or_else(refused)?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut body = body.to_vec();
        let clear = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut body)
            .map_err(|_| refused())?;
        String::from_utf8(clear.to_vec()).map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_for_its_owner() {
        let sealer = SecretBox::new(&SecretBox::generate_key().unwrap());
        let sealed = sealer.seal("WH-1", "0123456789abcdef").unwrap();
        assert!(!sealed.contains("0123456789abcdef"));
        assert_ne!(sealed, sealer.seal("WH-1", "0123456789abcdef").unwrap());
        assert_eq!(sealer.open("WH-1", &sealed).unwrap(), "0123456789abcdef");
        assert!(
            sealer.open("WH-2", &sealed).is_err(),
            "bound to its warehouse"
        );
        let other = SecretBox::new(&SecretBox::generate_key().unwrap());
        assert!(other.open("WH-1", &sealed).is_err());
        assert!(sealer.open("WH-1", "v1.zz").is_err());
    }
}
