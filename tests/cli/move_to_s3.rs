//! `heyan copy-blobs-to-s3`, the move of an installation from its local folder to a
//! bucket: every photo arrives under its id, readable with the installation's keys, and
//! a second run writes nothing.

use std::sync::Arc;

use heyan::blob::{BlobId, BlobStore, FsBlobStore, S3BlobStore};

use crate::s3::{self, S3Server};
use crate::{run, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_the_folder_to_a_bucket_keeps_every_photo_and_can_run_again() {
    let Some(program) = s3::server_or_skip() else {
        return;
    };
    let bucket = S3Server::start(&program).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "cd".repeat(32);
    let mut settings = heyan::config::Settings {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    settings.secrets.master_secret = Some(secret.clone().into());
    let keys = heyan::startup::load_keyring(&settings).expect("keys");
    let folder = FsBlobStore::open(settings.blob_dir(), keys.clone()).expect("folder");
    let ids: Vec<BlobId> = (0..3).map(|_| BlobId::new()).collect();
    for (i, id) in ids.iter().enumerate() {
        folder
            .put(id, format!("photo {i}").as_bytes())
            .await
            .expect("put");
    }

    let data_dir = settings.data_dir.display().to_string();
    let vars = [
        ("HEYAN_DATA_DIR", data_dir.as_str()),
        ("HEYAN_SECRETS__MASTER_SECRET", secret.as_str()),
        ("HEYAN_BLOB__BACKEND", "s3"),
        ("HEYAN_BLOB__S3_ENDPOINT", bucket.endpoint.as_str()),
        ("HEYAN_BLOB__S3_BUCKET", s3::BUCKET),
        ("HEYAN_BLOB__S3_PREFIX", "heyan/"),
        ("HEYAN_BLOB__S3_ACCESS_KEY_ID", s3::ACCESS_KEY),
        ("HEYAN_BLOB__S3_SECRET_ACCESS_KEY", s3::SECRET_KEY),
    ];
    let first = run(dir.path(), &["copy-blobs-to-s3"], &vars);
    assert!(first.status.success(), "{}", crate::stderr(&first));
    assert!(
        stdout(&first).contains("copied 3 photos"),
        "{}",
        stdout(&first)
    );

    let in_bucket: Arc<dyn BlobStore> =
        Arc::new(S3BlobStore::new(&bucket.location("heyan/"), keys).expect("client"));
    for (i, id) in ids.iter().enumerate() {
        let read = in_bucket.get(id).await.expect("in the bucket");
        assert_eq!(read, format!("photo {i}").as_bytes());
    }
    let again = run(dir.path(), &["copy-blobs-to-s3"], &vars);
    assert!(again.status.success(), "{}", crate::stderr(&again));
    assert!(
        stdout(&again).contains("copied 0 photos")
            && stdout(&again).contains("3 were there already"),
        "{}",
        stdout(&again)
    );
}
