//! The sealed blob format, as pure functions.
//!
//! ```text
//! magic "HYB1" (4) | key id (4) | nonce (12) | AES-256-GCM ciphertext | tag (16)
//! ```
//!
//! Associated data is `magic || key id || blob id` (the id's 32 ASCII hex
//! characters), so the header cannot be altered and a blob copied under
//! another id fails to open. The nonce is random per seal: 96 random bits
//! are safe for far more blobs than one key will ever seal.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;

use super::{BlobError, BlobId};
use crate::secrets::{KeyId, KeySet, Keyring};

pub const MAGIC: &[u8; 4] = b"HYB1";
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;

/// Bytes a sealed blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Encrypts `plaintext` for storage under `id` with the given keys.
pub fn seal(keys: &KeySet, id: &BlobId, plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(keys.blob_key().into());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let payload = Payload {
        msg: plaintext,
        aad: &associated_data(&keys.id(), id),
    };
    let ciphertext = cipher
        .encrypt(&nonce, payload)
        .expect("AES-GCM only refuses messages over 64 GiB, which never fit in memory here");
    let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(keys.id().as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Decrypts a blob sealed for `id` under any key in `keyring`. Returns the
/// exact plaintext or an error; partial or unauthenticated output never
/// escapes.
pub fn open(keyring: &Keyring, id: &BlobId, sealed: &[u8]) -> Result<Vec<u8>, BlobError> {
    let (key_id, nonce, ciphertext) = split(sealed)?;
    let keys = keyring
        .find(&key_id)
        .ok_or_else(|| BlobError::UnknownKey(key_id.to_string()))?;
    let payload = Payload {
        msg: ciphertext,
        aad: &associated_data(&key_id, id),
    };
    Aes256Gcm::new(keys.blob_key().into())
        .decrypt(Nonce::from_slice(nonce), payload)
        .map_err(|_| BlobError::Corrupt("authentication failed"))
}

/// The key id a sealed blob names, e.g. to find blobs still on an old key.
pub fn key_id_of(sealed: &[u8]) -> Result<KeyId, BlobError> {
    split(sealed).map(|(key_id, _, _)| key_id)
}

/// Splits header fields off, checking magic and minimum length first so a
/// short or foreign file is reported as such rather than as a bad tag.
fn split(sealed: &[u8]) -> Result<(KeyId, &[u8], &[u8]), BlobError> {
    let magic = sealed
        .get(..MAGIC.len())
        .ok_or(BlobError::Corrupt("truncated"))?;
    if magic != MAGIC {
        return Err(BlobError::Corrupt("bad magic"));
    }
    if sealed.len() < OVERHEAD {
        return Err(BlobError::Corrupt("truncated"));
    }
    let (key_id, rest) = sealed[MAGIC.len()..].split_at(KEY_ID_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let key_id: [u8; KEY_ID_LEN] = key_id
        .try_into()
        .map_err(|_| BlobError::Corrupt("truncated"))?;
    Ok((KeyId::from_bytes(key_id), nonce, ciphertext))
}

fn associated_data(key_id: &KeyId, id: &BlobId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(MAGIC.len() + KEY_ID_LEN + id.as_str().len());
    aad.extend_from_slice(MAGIC);
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(id.as_str().as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterSecret;

    fn ring() -> Keyring {
        Keyring::new(&MasterSecret::generate(), &[])
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn roundtrip() {
        let ring = ring();
        let id = BlobId::new();
        for len in [0, 1, 15, 16, 17, 100, 100_000] {
            let plain = payload(len);
            let sealed = seal(ring.current(), &id, &plain);
            assert_eq!(sealed.len(), len + OVERHEAD);
            assert_eq!(open(&ring, &id, &sealed).unwrap(), plain);
        }
    }

    #[test]
    fn sealed_bytes_do_not_contain_the_plaintext() {
        let ring = ring();
        let plain = b"ID card 310101199001011234 Zhang San".repeat(4);
        let sealed = seal(ring.current(), &BlobId::new(), &plain);
        assert!(!sealed.windows(8).any(|w| plain.windows(8).any(|p| p == w)));
    }

    #[test]
    fn sealing_twice_gives_different_bytes() {
        let ring = ring();
        let id = BlobId::new();
        assert_ne!(
            seal(ring.current(), &id, b"same"),
            seal(ring.current(), &id, b"same")
        );
    }

    #[test]
    fn a_copy_under_another_id_fails_with_corrupt() {
        let ring = ring();
        let sealed = seal(ring.current(), &BlobId::new(), b"photo");
        assert!(matches!(
            open(&ring, &BlobId::new(), &sealed),
            Err(BlobError::Corrupt(_))
        ));
    }

    #[test]
    fn every_single_bit_flip_fails() {
        let ring = ring();
        let id = BlobId::new();
        let sealed = seal(ring.current(), &id, &payload(100));
        for bit in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let result = open(&ring, &id, &bad);
            assert!(
                matches!(
                    result,
                    Err(BlobError::Corrupt(_) | BlobError::UnknownKey(_))
                ),
                "bit {bit} flipped: {result:?}"
            );
        }
    }

    #[test]
    fn every_truncation_length_fails() {
        let ring = ring();
        let id = BlobId::new();
        let sealed = seal(ring.current(), &id, &payload(100));
        for len in 0..sealed.len() {
            let result = open(&ring, &id, &sealed[..len]);
            assert!(
                matches!(result, Err(BlobError::Corrupt(_))),
                "len {len}: {result:?}"
            );
        }
    }

    #[test]
    fn foreign_data_fails_with_bad_magic() {
        let ring = ring();
        let jpeg = [0xff, 0xd8, 0xff, 0xe0].repeat(20);
        assert!(matches!(
            open(&ring, &BlobId::new(), &jpeg),
            Err(BlobError::Corrupt("bad magic"))
        ));
    }

    #[test]
    fn an_unknown_key_id_fails_with_unknown_key() {
        let other = MasterSecret::generate();
        let other_id = other.key_id();
        let sealer = Keyring::new(&other, &[]);
        let id = BlobId::new();
        let sealed = seal(sealer.current(), &id, b"photo");
        match open(&ring(), &id, &sealed) {
            Err(BlobError::UnknownKey(shown)) => assert_eq!(shown, other_id.to_string()),
            result => panic!("expected UnknownKey, got {result:?}"),
        }
        assert_eq!(key_id_of(&sealed).unwrap(), other_id);
    }

    #[test]
    fn a_blob_sealed_under_a_previous_key_still_opens_after_rotation() {
        let old_text = MasterSecret::generate().to_encoded();
        let old = MasterSecret::parse(&old_text).unwrap();
        let before = Keyring::new(&old, &[]);
        let id = BlobId::new();
        let sealed = seal(before.current(), &id, b"old photo");

        let new = MasterSecret::generate();
        let rotated = Keyring::new(&new, &[MasterSecret::parse(&old_text).unwrap()]);
        assert_eq!(open(&rotated, &id, &sealed).unwrap(), b"old photo");
        // New blobs use the new key.
        let fresh = seal(rotated.current(), &id, b"new photo");
        assert_eq!(key_id_of(&fresh).unwrap(), new.key_id());

        let old_dropped = Keyring::new(&new, &[]);
        assert!(matches!(
            open(&old_dropped, &id, &sealed),
            Err(BlobError::UnknownKey(_))
        ));
    }
}
