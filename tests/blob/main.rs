//! The blob store contract, run against every backend alike: memory, the filesystem, and
//! S3 through a real S3-compatible server (`s3s-fs`, see `tests/support/s3.rs`; skipped
//! with a notice when it is not installed, required in CI). Then what only S3 can show:
//! what the bucket holds is sealed, tampering is caught, two stores on one bucket (two
//! instances) see each other's blobs, and wrong credentials fail the readiness probe.

#[path = "../support/s3.rs"]
mod s3;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use heyan::blob::{BlobError, BlobId, BlobStore, FsBlobStore, MemoryBlobStore, S3BlobStore};
use heyan::secrets::{Keyring, MasterSecret};

/// A store under test and what keeps it alive (a folder, a server).
struct Backend {
    store: Arc<dyn BlobStore>,
    _keep: Box<dyn std::any::Any + Send>,
}

fn keyring() -> Keyring {
    Keyring::new(&MasterSecret::generate(), &[])
}

async fn memory() -> Option<Backend> {
    Some(Backend {
        store: Arc::new(MemoryBlobStore::new(keyring())),
        _keep: Box::new(()),
    })
}

async fn fs() -> Option<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsBlobStore::open(dir.path().join("blobs"), keyring()).expect("open");
    Some(Backend {
        store: Arc::new(store),
        _keep: Box::new(dir),
    })
}

async fn s3() -> Option<Backend> {
    let program = s3::server_or_skip()?;
    let server = s3::S3Server::start(&program).await;
    let store = S3BlobStore::new(&server.location("photos/"), keyring()).expect("client");
    Some(Backend {
        store: Arc::new(store),
        _keep: Box::new(server),
    })
}

/// Instantiates each case on the named backends: `every::s3::case`, ….
macro_rules! on_backends {
    ($group:ident: [$($backend:ident),+] => $cases:tt) => {
        mod $group {
            $(on_backend!($backend $cases);)+
        }
    };
}

macro_rules! on_backend {
    ($backend:ident ($($case:ident),+ $(,)?)) => {
        mod $backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(backend) = crate::$backend().await {
                    crate::$case(backend.store).await
                }
            })+
        }
    };
}

on_backends!(every: [memory, fs, s3] => (
    a_blob_reads_back_exactly,
    a_missing_blob_is_not_found_and_deleting_it_is_harmless,
    a_write_never_replaces_a_blob,
    a_deleted_blob_is_gone,
    the_listing_names_each_blob_with_its_time,
    the_readiness_probe_passes_and_leaves_nothing,
));

// s3s-fs checks `If-None-Match` before it writes, not atomically with the write, so
// racing creates of one key can all succeed there (S3 itself decides atomically). heyan
// never races on an id (each photo gets a fresh random one); create-only is what keeps
// a retried write from replacing a photo, and that holds on every backend above.
on_backends!(local: [memory, fs] => (of_racing_writes_to_one_id_exactly_one_lands));

/// A photo-sized payload that differs by `seed`.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn a_blob_reads_back_exactly(store: Arc<dyn BlobStore>) {
    for len in [0, 1, 4096, 3 * 1024 * 1024 + 7] {
        let id = BlobId::new();
        let data = payload(len, len as u8);
        store.put(&id, &data).await.expect("put");
        assert_eq!(store.get(&id).await.expect("get"), data, "{len} bytes");
    }
}

async fn a_missing_blob_is_not_found_and_deleting_it_is_harmless(store: Arc<dyn BlobStore>) {
    let id = BlobId::new();
    assert!(matches!(store.get(&id).await, Err(BlobError::NotFound)));
    store.delete(&id).await.expect("deleting an absent blob");
}

async fn a_write_never_replaces_a_blob(store: Arc<dyn BlobStore>) {
    let id = BlobId::new();
    store.put(&id, b"the first photo").await.expect("put");
    let again = store.put(&id, b"another photo").await;
    assert!(matches!(again, Err(BlobError::AlreadyExists)), "{again:?}");
    assert_eq!(store.get(&id).await.expect("get"), b"the first photo");
}

async fn of_racing_writes_to_one_id_exactly_one_lands(store: Arc<dyn BlobStore>) {
    let id = BlobId::new();
    let writers: Vec<_> = (0..8u8)
        .map(|i| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { (i, store.put(&id, &payload(10_000, i)).await) })
        })
        .collect();
    let mut landed = Vec::new();
    for writer in writers {
        let (i, outcome) = writer.await.expect("writer");
        match outcome {
            Ok(()) => landed.push(i),
            Err(BlobError::AlreadyExists) => {}
            Err(e) => panic!("writer {i}: {e}"),
        }
    }
    assert_eq!(landed.len(), 1, "winners: {landed:?}");
    assert_eq!(
        store.get(&id).await.expect("get"),
        payload(10_000, landed[0])
    );
}

async fn a_deleted_blob_is_gone(store: Arc<dyn BlobStore>) {
    let id = BlobId::new();
    store.put(&id, b"photo").await.expect("put");
    store.delete(&id).await.expect("delete");
    assert!(matches!(store.get(&id).await, Err(BlobError::NotFound)));
    assert!(!store.list().await.expect("list").iter().any(|b| b.id == id));
}

async fn the_listing_names_each_blob_with_its_time(store: Arc<dyn BlobStore>) {
    let before = SystemTime::now() - Duration::from_secs(120);
    let ids: Vec<BlobId> = (0..3).map(|_| BlobId::new()).collect();
    for id in &ids {
        store.put(id, b"photo").await.expect("put");
    }
    let listed = store.list().await.expect("list");
    for id in &ids {
        let blob = listed.iter().find(|b| &b.id == id).expect("listed");
        let after = SystemTime::now() + Duration::from_secs(120);
        assert!(
            blob.written_at > before && blob.written_at < after,
            "{blob:?}"
        );
    }
    assert_eq!(listed.len(), ids.len(), "only the blobs: {listed:?}");
}

async fn the_readiness_probe_passes_and_leaves_nothing(store: Arc<dyn BlobStore>) {
    store.check().await.expect("check");
    assert!(store.list().await.expect("list").is_empty());
}

// ---- what only a bucket shows ----------------------------------------------------

/// The bucket holds ciphertext bound to its id: no plaintext in the object, and an
/// edited object is refused as corrupt rather than returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_holds_only_sealed_blobs_and_edits_are_caught() {
    let Some(program) = s3::server_or_skip() else {
        return;
    };
    let server = s3::S3Server::start(&program).await;
    let store = S3BlobStore::new(&server.location("photos/"), keyring()).expect("client");
    let id = BlobId::new();
    let secret = b"ID number 11010519491231002X in a photo".repeat(100);
    store.put(&id, &secret).await.expect("put");
    let file = server.object_file(&format!("photos/{id}"));
    let mut raw = std::fs::read(&file).expect("the object's file");
    assert!(
        !raw.windows(20).any(|w| w == &secret[..20]),
        "plaintext in the bucket"
    );
    let middle = raw.len() / 2;
    raw[middle] ^= 0x40;
    std::fs::write(&file, &raw).expect("edit the object");
    let read = store.get(&id).await;
    assert!(matches!(read, Err(BlobError::Corrupt(_))), "{read:?}");
}

/// Two stores on one bucket, as two heyan instances: what one writes, the other reads,
/// lists and cannot overwrite; a different prefix is a different namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_bucket() {
    let Some(program) = s3::server_or_skip() else {
        return;
    };
    let server = s3::S3Server::start(&program).await;
    let keys = keyring();
    let first = S3BlobStore::new(&server.location("photos/"), keys.clone()).expect("client");
    let second = S3BlobStore::new(&server.location("photos/"), keys.clone()).expect("client");
    let id = BlobId::new();
    first.put(&id, b"stored by the first").await.expect("put");
    assert_eq!(second.get(&id).await.expect("get"), b"stored by the first");
    assert!(second
        .list()
        .await
        .expect("list")
        .iter()
        .any(|b| b.id == id));
    let overwrite = second.put(&id, b"the second's").await;
    assert!(matches!(overwrite, Err(BlobError::AlreadyExists)));
    let elsewhere = S3BlobStore::new(&server.location("other/"), keys).expect("client");
    assert!(elsewhere.list().await.expect("list").is_empty());
    assert!(matches!(elsewhere.get(&id).await, Err(BlobError::NotFound)));
}

/// Wrong credentials fail the readiness probe with an error that names no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_the_probe() {
    let Some(program) = s3::server_or_skip() else {
        return;
    };
    let server = s3::S3Server::start(&program).await;
    let mut location = server.location("photos/");
    location.secret_access_key = "not-the-secret".to_owned().into();
    let store = S3BlobStore::new(&location, keyring()).expect("client");
    let error = store.check().await.expect_err("a wrong key is refused");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("not-the-secret"), "{text}");
}
