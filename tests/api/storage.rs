//! heyan with its photos in an S3-compatible bucket (`[blob] backend = "s3"`, a real
//! `s3s-fs` on loopback): a finished case's photos land in the bucket sealed, the filing
//! system pulls them through heyan, and a wrong key stops start-up. Skipped with a notice
//! without `s3s-fs`, required in CI.

use reqwest::Method;

use crate::fixtures::finish_app;
use crate::helpers::{json, spawn_app_with};
use crate::s3::{self, S3Server};
use crate::support::TestDb;

crate::on_both_databases!(crate::storage::cases =>
    a_case_keeps_its_photos_in_the_bucket,
);

fn use_bucket(settings: &mut heyan::config::Settings, server: &S3Server, secret: &str) {
    let blob = &mut settings.blob;
    blob.backend = heyan::config::BlobBackend::S3;
    blob.s3_endpoint = Some(server.endpoint.clone());
    blob.s3_bucket = Some(s3::BUCKET.into());
    blob.s3_prefix = Some("heyan/".into());
    blob.s3_access_key_id = Some(s3::ACCESS_KEY.into());
    blob.s3_secret_access_key = Some(secret.to_owned().into());
}

pub mod cases {
    use super::*;

    pub async fn a_case_keeps_its_photos_in_the_bucket(db: TestDb) {
        let Some(program) = s3::server_or_skip() else {
            return;
        };
        let server = S3Server::start(&program).await;
        let app = spawn_app_with(db, |s| use_bucket(s, &server, s3::SECRET_KEY)).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "S3-1").await;
        let code = finish_app(&app, &case).await;

        let in_bucket = std::fs::read_dir(server.object_file("heyan"))
            .expect("the prefix's folder in the bucket")
            .count();
        assert_eq!(in_bucket, 4, "four photos in the bucket");
        let local = app.state.settings.blob_dir();
        let local_blobs = std::fs::read_dir(&local).map_or(0, |d| d.count());
        assert_eq!(
            local_blobs,
            0,
            "nothing in the local folder {}",
            local.display()
        );

        let manifest = json(app.redeem(&client, &case, &code).await).await;
        for photo in manifest["photos"].as_array().expect("photos") {
            let url = photo["url"].as_str().expect("url");
            let path = url.trim_start_matches(&app.address);
            let pulled = app
                .as_client(&client, Method::GET, path)
                .send()
                .await
                .expect("sent");
            assert_eq!(pulled.status(), 200, "{path}");
            let jpeg = pulled.bytes().await.expect("body");
            assert!(image::load_from_memory(&jpeg).is_ok(), "{path} is a JPEG");
        }
    }
}

/// A wrong secret key fails start-up (the probe blob is refused), not the first upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_bucket_key_stops_start_up() {
    let Some(program) = s3::server_or_skip() else {
        return;
    };
    let server = S3Server::start(&program).await;
    let db = TestDb::sqlite().await;
    let mut settings = crate::support::test_settings(&db);
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("address");
    use_bucket(&mut settings, &server, "not-the-key");
    let clock = std::sync::Arc::new(heyan::clock::SystemClock);
    let started = heyan::startup::Application::build_with_clock(settings, clock).await;
    let error = format!("{:#}", started.err().expect("start-up refused"));
    assert!(error.contains("probe blob"), "{error}");
    assert!(!error.contains("not-the-key"), "{error}");
}
