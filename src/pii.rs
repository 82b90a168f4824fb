//! Personal data fields at rest: names, ID numbers and phone numbers are stored sealed
//! (AES-256-GCM under the current key set, bound to a context such as
//! `case_…/website/0/mobile` so a value cannot be moved to another row), with a keyed HMAC
//! beside them where the service needs equality lookups.
//!
//! Format: `v1.<key id hex>.<base64url(nonce || ciphertext+tag)>`.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::secrets::{KeyId, Keyring};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;
/// Separates field AAD from blob AAD (which starts with the blob magic).
const AAD_PREFIX: &[u8] = b"heyan field v1\0";

/// A sealed field that cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    /// Not in the sealed format.
    #[error("sealed field is malformed")]
    Malformed,
    /// Sealed under a key no longer in the keyring.
    #[error("sealed field uses unknown key {0}")]
    UnknownKey(String),
    /// Authentication failed: tampered, or moved from another context.
    #[error("sealed field failed authentication")]
    Tampered,
}

/// Seals `plaintext` for storage under `context`.
pub fn seal(keyring: &Keyring, context: &str, plaintext: &str) -> String {
    let keys = keyring.current();
    let cipher = Aes256Gcm::new(keys.blob_key().into());
    let nonce = Aes256Gcm::generate_nonce(&mut rand::rngs::OsRng);
    let aad = aad(keys.id(), context);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut body = nonce.to_vec();
    body.extend_from_slice(&ciphertext);
    format!("{VERSION}.{}.{}", keys.id(), URL_SAFE_NO_PAD.encode(body))
}

/// Opens a field sealed by `seal` under the same `context`.
pub fn open(keyring: &Keyring, context: &str, sealed: &str) -> Result<String, PiiError> {
    let mut parts = sealed.splitn(3, '.');
    let (Some(VERSION), Some(key_hex), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(PiiError::Malformed);
    };
    let key_bytes: [u8; 4] = hex::decode(key_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PiiError::Malformed)?;
    let key_id = KeyId::from_bytes(key_bytes);
    let keys = keyring
        .find(&key_id)
        .ok_or_else(|| PiiError::UnknownKey(key_id.to_string()))?;
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| PiiError::Malformed)?;
    if body.len() < NONCE_LEN + 16 {
        return Err(PiiError::Malformed);
    }
    let (nonce, ciphertext) = body.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(keys.blob_key().into());
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad(key_id, context),
            },
        )
        .map_err(|_| PiiError::Tampered)?;
    String::from_utf8(plain).map_err(|_| PiiError::Tampered)
}

/// Keyed HMAC (hex) of a normalised value, for equality lookups without the clear value.
pub fn lookup_hmac(keyring: &Keyring, purpose: &str, value: &str) -> String {
    hex::encode(keyring.hmac(purpose, value.as_bytes()))
}

fn aad(key_id: KeyId, context: &str) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(context.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterSecret;

    fn keyring() -> Keyring {
        Keyring::new(&MasterSecret::generate(), &[])
    }

    #[test]
    fn a_sealed_field_opens_only_in_its_context() {
        let keys = keyring();
        let sealed = seal(&keys, "case_1/mobile", "13812345678");
        assert!(!sealed.contains("13812345678"));
        assert_eq!(
            open(&keys, "case_1/mobile", &sealed).as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            open(&keys, "case_2/mobile", &sealed),
            Err(PiiError::Tampered)
        );
    }

    #[test]
    fn tampering_and_garbage_are_errors() {
        let keys = keyring();
        let sealed = seal(&keys, "c", "张三");
        let mut flipped = sealed.clone().into_bytes();
        // A character inside the body (the last one may carry only padding bits).
        let inside = flipped.len() - 10;
        flipped[inside] = if flipped[inside] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert_eq!(open(&keys, "c", &flipped), Err(PiiError::Tampered));
        for garbage in ["", "v1", "v2.00000000.AAAA", "v1.zz.AAAA", "v1.00000000.!!"] {
            assert!(open(&keys, "c", garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn a_field_sealed_under_another_secret_names_the_unknown_key() {
        let sealed = seal(&keyring(), "c", "x");
        assert!(matches!(
            open(&keyring(), "c", &sealed),
            Err(PiiError::UnknownKey(_))
        ));
    }

    #[test]
    fn lookup_hmacs_are_stable_per_key_and_purpose() {
        let keys = keyring();
        assert_eq!(
            lookup_hmac(&keys, "mobile", "1"),
            lookup_hmac(&keys, "mobile", "1")
        );
        assert_ne!(
            lookup_hmac(&keys, "mobile", "1"),
            lookup_hmac(&keys, "id_number", "1")
        );
    }
}
