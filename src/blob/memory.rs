//! In-memory blob store for tests. It seals and opens like the real store,
//! so tests exercise the same format and key handling.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;

use super::{sealed, BlobError, BlobId, BlobStore, ListedBlob};
use crate::secrets::Keyring;

#[derive(Debug)]
pub struct MemoryBlobStore {
    keyring: Keyring,
    blobs: Mutex<HashMap<BlobId, Vec<u8>>>,
    written: Mutex<HashMap<BlobId, SystemTime>>,
}

impl MemoryBlobStore {
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring,
            blobs: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
        }
    }

    /// The sealed bytes stored under `id`, for tests that inspect them.
    pub fn sealed_bytes(&self, id: &BlobId) -> Option<Vec<u8>> {
        self.lock().get(id).cloned()
    }

    /// Replaces the stored sealed bytes, for tests that simulate tampering.
    pub fn set_sealed_bytes(&self, id: &BlobId, data: Vec<u8>) {
        self.lock().insert(id.clone(), data);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn written_at(&self) -> MutexGuard<'_, HashMap<BlobId, SystemTime>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A panic in another test thread must not hide the map: the data is
    /// still consistent because every critical section is a single call.
    fn lock(&self) -> MutexGuard<'_, HashMap<BlobId, Vec<u8>>> {
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, id: &BlobId, plaintext: &[u8]) -> Result<(), BlobError> {
        let data = sealed::seal(self.keyring.current(), id, plaintext);
        match self.lock().entry(id.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => return Err(BlobError::AlreadyExists),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(data),
        };
        self.written_at().insert(id.clone(), SystemTime::now());
        Ok(())
    }

    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let data = self.sealed_bytes(id).ok_or(BlobError::NotFound)?;
        sealed::open(&self.keyring, id, &data)
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        self.lock().remove(id);
        self.written_at().remove(id);
        Ok(())
    }

    /// Seals and opens a probe, which at least proves the keyring works.
    async fn check(&self) -> Result<(), BlobError> {
        let id = BlobId::new();
        let data = sealed::seal(self.keyring.current(), &id, b"probe");
        sealed::open(&self.keyring, &id, &data).map(drop)
    }

    async fn list(&self) -> Result<Vec<ListedBlob>, BlobError> {
        let written = self.written_at();
        Ok(self
            .lock()
            .keys()
            .map(|id| ListedBlob {
                id: id.clone(),
                written_at: written.get(id).copied().unwrap_or(SystemTime::UNIX_EPOCH),
            })
            .collect())
    }

    /// Nothing is staged in memory.
    async fn remove_interrupted_writes(&self, _before: SystemTime) -> Result<usize, BlobError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterSecret;

    fn store() -> MemoryBlobStore {
        MemoryBlobStore::new(Keyring::new(&MasterSecret::generate(), &[]))
    }

    #[tokio::test]
    async fn roundtrip() {
        let store = store();
        let id = BlobId::new();
        store.put(&id, b"face photo").await.unwrap();
        assert_eq!(store.get(&id).await.unwrap(), b"face photo");
        store.check().await.unwrap();
    }

    #[tokio::test]
    async fn stored_bytes_are_sealed_not_plaintext() {
        let store = store();
        let id = BlobId::new();
        store.put(&id, b"face photo").await.unwrap();
        let data = store.sealed_bytes(&id).unwrap();
        assert!(data.starts_with(sealed::MAGIC));
        assert!(!data.windows(10).any(|w| w == b"face photo"));
    }

    #[tokio::test]
    async fn get_of_a_missing_blob_is_not_found() {
        assert!(matches!(
            store().get(&BlobId::new()).await,
            Err(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn delete_is_idempotent() {
        let store = store();
        let id = BlobId::new();
        store.delete(&id).await.unwrap();
        store.put(&id, b"x").await.unwrap();
        store.delete(&id).await.unwrap();
        store.delete(&id).await.unwrap();
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn tampered_bytes_fail_with_corrupt() {
        let store = store();
        let id = BlobId::new();
        store.put(&id, b"x").await.unwrap();
        let mut data = store.sealed_bytes(&id).unwrap();
        let last = data.len() - 1;
        data[last] ^= 1;
        store.set_sealed_bytes(&id, data);
        assert!(matches!(store.get(&id).await, Err(BlobError::Corrupt(_))));
    }

    #[test]
    fn stores_are_usable_as_trait_objects() {
        let _: std::sync::Arc<dyn BlobStore> = std::sync::Arc::new(store());
    }
}
