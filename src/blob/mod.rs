//! BlobStore port: opaque binary objects keyed by a random [`BlobId`].
//!
//! It holds the photos applicants upload (ID cards, faces) and images the
//! service generates. Every implementation seals blobs with AES-256-GCM
//! ([`sealed`]) before they leave the process, so storage only ever sees
//! ciphertext bound to its id.
//!
//! What a store must not do:
//! - build a location from user input: ids are generated here and
//!   [`BlobId::parse`] admits only 32 lowercase hex characters, so an id can
//!   never be a path such as `../x`;
//! - return anything but the exact bytes put: truncation, tampering, a blob
//!   moved to another id, or an unknown key is an error, never garbage;
//! - put plaintext into errors or logs.

use std::fmt;
use std::io;

use std::time::SystemTime;

use async_trait::async_trait;
use rand::rngs::OsRng;
use rand::RngCore;

pub mod copy;
pub mod fs;
pub mod memory;
pub mod s3;
pub mod sealed;

pub use fs::FsBlobStore;
pub use memory::MemoryBlobStore;
pub use s3::{S3BlobStore, S3Location};

/// Length of a blob id in hex characters (128 random bits).
const ID_LEN: usize = 32;

/// A blob's name: 128 random bits as 32 lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct BlobId(String);

impl BlobId {
    /// A fresh random id. Unguessable, so knowing one id reveals no other.
    #[allow(clippy::new_without_default)] // a Default that is random would surprise
    pub fn new() -> Self {
        let mut bytes = [0u8; ID_LEN / 2];
        OsRng.fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// Accepts exactly 32 lowercase hex characters; anything else (paths,
    /// uppercase, other lengths) is [`BlobError::InvalidId`]. Lowercase only,
    /// so each id has one spelling and one file name.
    pub fn parse(text: &str) -> Result<Self, BlobError> {
        let valid = text.len() == ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(BlobError::InvalidId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for BlobId {
    type Err = BlobError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Why a blob operation failed. Never carries blob contents.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("invalid blob id: expected 32 lowercase hex characters")]
    InvalidId,
    /// A blob with this id exists already: writes never replace a blob.
    #[error("a blob with this id exists already")]
    AlreadyExists,
    /// Truncated, wrong magic, or failed authentication (tampered, moved to
    /// another id, or sealed with a different key under the same id).
    #[error("blob is corrupt: {0}")]
    Corrupt(&'static str),
    #[error(
        "blob was sealed under key id {0}, which is not in the keyring \
         (was its master secret removed from the previous keys?)"
    )]
    UnknownKey(String),
    #[error("blob store I/O failed: {context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl BlobError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Runs blocking blob work (file I/O, sealing and opening megabytes) on tokio's
/// blocking pool, off the async workers.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, BlobError>
where
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::io("blob task failed", io::Error::other(e)))?
}

/// Where sealed blobs live. Implementations seal on `put` and open on `get`.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `plaintext` under a new `id`, atomically (readers see no blob or the
    /// whole one). Create-only: when `id` exists, [`BlobError::AlreadyExists`] and the
    /// stored blob is untouched, so a retried or racing write never replaces a photo.
    async fn put(&self, id: &BlobId, plaintext: &[u8]) -> Result<(), BlobError>;

    /// The exact bytes last put under `id`, or an error.
    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError>;

    /// Removes the blob; removing an absent blob is `Ok`.
    async fn delete(&self, id: &BlobId) -> Result<(), BlobError>;

    /// Readiness: the store can write, read back and remove a probe.
    async fn check(&self) -> Result<(), BlobError>;

    /// Every stored blob with the time it was written, for the sweep that removes blobs
    /// no photo row names (left by a crash between writing a blob and its row).
    async fn list(&self) -> Result<Vec<ListedBlob>, BlobError>;

    /// Removes what interrupted writes left behind before `before` (a store that stages
    /// writes in temporary files); returns how many.
    async fn remove_interrupted_writes(&self, before: SystemTime) -> Result<usize, BlobError>;
}

/// A stored blob as [`BlobStore::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    /// Its id.
    pub id: BlobId,
    /// When it was last written.
    pub written_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_32_lowercase_hex_chars_that_parse_back() {
        let id = BlobId::new();
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(BlobId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.to_string(), id.as_str());
        assert_ne!(BlobId::new(), id);
    }

    #[test]
    fn parse_rejects_paths_uppercase_and_wrong_lengths() {
        let good = "0123456789abcdef0123456789abcdef";
        assert!(BlobId::parse(good).is_ok());
        let bad = [
            "../etc/passwd".to_owned(),
            "0123456789ABCDEF0123456789ABCDEF".to_owned(),
            good.replacen('a', "A", 1),
            good[..31].to_owned(),
            format!("{good}0"),
            String::new(),
            format!("../{}", &good[3..]),
            format!("{}/x", &good[..30]),
            format!("{}\0", &good[..31]),
            format!("{}g", &good[..31]),
            format!("{}é", &good[..30]),
        ];
        for text in bad {
            assert!(
                matches!(BlobId::parse(&text), Err(BlobError::InvalidId)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_problem_without_contents() {
        let err = BlobError::io("reading blob x", io::Error::other("disk on fire"));
        assert_eq!(err.to_string(), "blob store I/O failed: reading blob x");
        assert!(std::error::Error::source(&err).is_some());
        assert!(BlobError::UnknownKey("deadbeef".into())
            .to_string()
            .contains("deadbeef"));
    }
}
