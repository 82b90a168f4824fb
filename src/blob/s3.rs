//! Blob store in an S3-compatible bucket: `<prefix><id>` per blob, through the
//! `object_store` crate (request signing, retries with backoff, timeouts).
//!
//! Blobs are sealed here exactly as on disk (AES-256-GCM, key id per blob), so the
//! bucket only ever holds ciphertext bound to its id. Writes are create-only (a
//! conditional `If-None-Match: *` put): a retried or racing write can never replace a
//! photo with another. Several heyan instances can share one bucket.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::{blocking, sealed, BlobError, BlobId, BlobStore, ListedBlob};
use crate::secrets::Keyring;

/// Where the bucket is and how to sign for it.
#[derive(Clone)]
pub struct S3Location {
    /// The endpoint URL (`https://s3.example.com`); `http://` is allowed for loopback tests.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The signing region.
    pub region: String,
    /// Path-style requests (`endpoint/bucket/key`) rather than virtual-hosted ones.
    pub path_style: bool,
    /// Prepended to every blob's key (`heyan/` keeps the bucket shareable).
    pub prefix: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key; never logged.
    pub secret_access_key: secrecy::SecretString,
}

/// How long one request may take, and how long retries may go on, before a read or
/// write fails: an upload waits for the store, so both stay well under the request
/// timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const RETRY_FOR: Duration = Duration::from_secs(30);

/// S3-compatible [`BlobStore`].
#[derive(Clone)]
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    keyring: Keyring,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl S3BlobStore {
    /// A store for `location`; nothing is sent until the first call (see
    /// [`BlobStore::check`] for a probe at start-up).
    pub fn new(location: &S3Location, keyring: Keyring) -> Result<Self, BlobError> {
        use secrecy::ExposeSecret;
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 5,
            retry_timeout: RETRY_FOR,
        };
        let client = ClientOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(Duration::from_secs(5))
            .with_allow_http(location.endpoint.starts_with("http://"));
        let store = AmazonS3Builder::new()
            .with_endpoint(&location.endpoint)
            .with_bucket_name(&location.bucket)
            .with_region(&location.region)
            .with_access_key_id(&location.access_key_id)
            .with_secret_access_key(location.secret_access_key.expose_secret())
            .with_virtual_hosted_style_request(!location.path_style)
            .with_retry(retry)
            .with_client_options(client)
            .build()
            .map_err(|e| store_error("configuring the S3 client", e))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: location.prefix.clone(),
            keyring,
        })
    }

    fn key_of(&self, id: &BlobId) -> Path {
        // Safe: BlobId admits only [0-9a-f]{32}, and the prefix comes from the operator.
        Path::from(format!("{}{}", self.prefix, id.as_str()))
    }

    /// The blob id a listed key names, when it is one of ours.
    fn id_of(&self, key: &Path) -> Option<BlobId> {
        let name = key.as_ref().strip_prefix(self.prefix.as_str())?;
        BlobId::parse(name).ok()
    }
}

fn store_error(context: &str, e: object_store::Error) -> BlobError {
    BlobError::io(context.to_owned(), std::io::Error::other(e.to_string()))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, id: &BlobId, plaintext: &[u8]) -> Result<(), BlobError> {
        let (keyring, sealed_id, plaintext) =
            (self.keyring.clone(), id.clone(), plaintext.to_vec());
        let data =
            blocking(move || Ok(sealed::seal(keyring.current(), &sealed_id, &plaintext))).await?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.key_of(id), PutPayload::from(data), options)
            .await
        {
            Ok(_) => Ok(()),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(BlobError::AlreadyExists),
            Err(e) => Err(store_error("writing a blob to S3", e)),
        }
    }

    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let found = match self.store.get(&self.key_of(id)).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::NotFound),
            Err(e) => return Err(store_error("reading a blob from S3", e)),
        };
        let data = found
            .bytes()
            .await
            .map_err(|e| store_error("reading a blob from S3", e))?;
        let (keyring, id) = (self.keyring.clone(), id.clone());
        blocking(move || sealed::open(&keyring, &id, &data)).await
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        match self.store.delete(&self.key_of(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error("deleting a blob from S3", e)),
        }
    }

    async fn check(&self) -> Result<(), BlobError> {
        // A real blob round trip: signing, create-only put, read back, delete.
        let id = BlobId::new();
        let probe = format!("heyan readiness probe {id}");
        self.put(&id, probe.as_bytes()).await?;
        let read = self.get(&id).await;
        let removed = self.delete(&id).await;
        if read? != probe.as_bytes() {
            return Err(BlobError::Corrupt(
                "the readiness probe read back differently",
            ));
        }
        removed
    }

    async fn list(&self) -> Result<Vec<ListedBlob>, BlobError> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let mut listing = self.store.list(prefix.as_ref());
        let mut blobs = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| store_error("listing blobs in S3", e))?;
            if let Some(id) = self.id_of(&meta.location) {
                blobs.push(ListedBlob {
                    id,
                    written_at: SystemTime::from(meta.last_modified),
                });
            }
        }
        Ok(blobs)
    }

    async fn remove_interrupted_writes(&self, _before: SystemTime) -> Result<usize, BlobError> {
        // Each blob is one PUT: an interrupted write leaves nothing behind.
        Ok(0)
    }
}
