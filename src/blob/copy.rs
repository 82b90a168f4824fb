//! Moving photos between blob stores, for an installation that moves from its local
//! folder to a bucket: every blob is opened from the source and sealed again into the
//! target under the same id, so the database's rows stay valid. Safe to run again: a
//! blob already in the target is checked, not written.

use super::{BlobError, BlobStore};

/// What a copy did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyReport {
    /// Blobs written to the target.
    pub copied: usize,
    /// Blobs the target held already, with the same contents.
    pub already_there: usize,
}

/// Copies every blob of `from` into `to`. A blob in `to` with other contents under the
/// same id stops the copy with an error naming it.
pub async fn copy_all(from: &dyn BlobStore, to: &dyn BlobStore) -> Result<CopyReport, BlobError> {
    let mut report = CopyReport::default();
    for listed in from.list().await? {
        let data = from.get(&listed.id).await?;
        match to.put(&listed.id, &data).await {
            Ok(()) => report.copied += 1,
            Err(BlobError::AlreadyExists) if to.get(&listed.id).await? == data => {
                report.already_there += 1;
            }
            Err(BlobError::AlreadyExists) => {
                return Err(BlobError::Corrupt(
                    "the target holds another blob under the same id",
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::{BlobId, MemoryBlobStore};
    use crate::secrets::{Keyring, MasterSecret};

    #[tokio::test]
    async fn copies_every_blob_once_and_refuses_a_different_one() {
        let keys = Keyring::new(&MasterSecret::generate(), &[]);
        let (from, to) = (
            MemoryBlobStore::new(keys.clone()),
            MemoryBlobStore::new(keys),
        );
        let ids: Vec<BlobId> = (0..3).map(|_| BlobId::new()).collect();
        for (i, id) in ids.iter().enumerate() {
            from.put(id, format!("photo {i}").as_bytes()).await.unwrap();
        }
        let first = copy_all(&from, &to).await.unwrap();
        assert_eq!(
            first,
            CopyReport {
                copied: 3,
                already_there: 0
            }
        );
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(to.get(id).await.unwrap(), format!("photo {i}").as_bytes());
        }
        let again = copy_all(&from, &to).await.unwrap();
        assert_eq!(
            again,
            CopyReport {
                copied: 0,
                already_there: 3
            }
        );

        let clash = BlobId::new();
        from.put(&clash, b"ours").await.unwrap();
        to.put(&clash, b"something else").await.unwrap();
        assert!(matches!(
            copy_all(&from, &to).await,
            Err(BlobError::Corrupt(_))
        ));
    }
}
