//! `heyan copy-database`, the move of an installation from SQLite to PostgreSQL: a real
//! installation (`heyan demo --keep`: a whole case waiting for review, its audit log, a
//! reviewer added with the CLI) is copied, every table arrives row for row, the audit
//! chain still verifies, and `serve` on PostgreSQL lets that reviewer sign in with the
//! same password and open the case's photos. A second copy into the now full database is
//! refused. Needs PostgreSQL (skipped with a notice without it; required in CI).

use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, Row};

use crate::support::TestDb;
use crate::{free_port, heyan, reviewer_add, run, stderr, stdout, terminate, wait_until_up};

const PASSWORD: &str = "a long reviewer passphrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_installation_moves_to_postgres_row_for_row() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo writes its installation to ./demo/data; run everything from ./demo, where
    // the default data folder is that one.
    let demo = run(dir.path(), &["demo", "--keep", "--out", "demo"], &[]);
    assert!(demo.status.success(), "demo: {}", stderr(&demo));
    let home = dir.path().join("demo");
    let added = reviewer_add(&home, "wang", PASSWORD);
    assert!(added.status.success(), "reviewer add: {}", stderr(&added));

    let copied = run(&home, &["copy-database", "--to", db.url()], &[]);
    assert!(copied.status.success(), "copy: {}", stderr(&copied));
    assert!(stdout(&copied).contains("copied"), "{}", stdout(&copied));

    let sqlite_url = format!("sqlite:{}", home.join("data/heyan.db").display());
    let mut sqlite = sqlx::SqliteConnection::connect(&sqlite_url)
        .await
        .expect("SQLite");
    let mut pg = sqlx::PgConnection::connect(db.url())
        .await
        .expect("PostgreSQL");
    let tables: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table' \
         and name not like 'sqlite%' and name not like '\\_sqlx%' escape '\\'",
    )
    .fetch_all(&mut sqlite)
    .await
    .expect("tables");
    assert!(tables.len() >= 15, "{tables:?}");
    for table in &tables {
        let count = format!("select count(*) from {table}");
        let from: i64 = sqlx::query_scalar(&count)
            .fetch_one(&mut sqlite)
            .await
            .expect("count");
        let to: i64 = sqlx::query_scalar(&count)
            .fetch_one(&mut pg)
            .await
            .expect("count");
        assert_eq!(from, to, "rows of {table}");
    }
    for table in ["cases", "photos", "audit_log", "reviewers", "clients"] {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut pg)
            .await
            .expect("count");
        assert!(rows > 0, "the demo left rows in {table}");
    }
    // Times keep their millisecond, ids and states their text.
    let case = sqlx::query("select id, status, created_at from cases")
        .fetch_one(&mut sqlite)
        .await
        .expect("case");
    let (id, status, ms): (String, String, i64) = (case.get(0), case.get(1), case.get(2));
    let moved = sqlx::query("select status, created_at from cases where id = $1")
        .bind(&id)
        .fetch_one(&mut pg)
        .await
        .expect("moved case");
    assert_eq!(moved.get::<String, _>(0), status);
    assert_eq!(moved.get::<DateTime<Utc>, _>(1).timestamp_millis(), ms);

    let pg_vars = [("HEYAN_DATABASE__URL", db.url())];
    let verified = run(&home, &["audit", "verify"], &pg_vars);
    assert!(
        verified.status.success(),
        "audit verify: {}{}",
        stdout(&verified),
        stderr(&verified)
    );

    let again = run(&home, &["copy-database", "--to", db.url()], &[]);
    assert!(!again.status.success(), "a second copy must be refused");
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));

    reviewer_sees_the_case_on_postgres(&home, db.url(), &id).await;
}

/// `serve` on the PostgreSQL database and the same data folder (photos, master key): the
/// reviewer added on SQLite signs in, claims the case and opens its front photo.
async fn reviewer_sees_the_case_on_postgres(home: &std::path::Path, url: &str, case_id: &str) {
    let listen = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let mut child = heyan(
        home,
        &["serve"],
        &[
            ("HEYAN_DATABASE__URL", url),
            ("HEYAN_SERVER__LISTEN", &listen),
            ("HEYAN_SERVER__ADMIN_LISTEN", &admin),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("serve");
    let base = format!("http://{listen}");
    wait_until_up(&format!("{base}/readyz"), &mut child).await;
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/review/v1/login"))
        .json(&json!({ "username": "wang", "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let token = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let queue: Value = http
        .get(format!("{base}/review/v1/queue"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("queue")
        .json()
        .await
        .expect("json");
    assert!(queue.to_string().contains(case_id), "{queue}");
    // A reviewer opens photos of a case they have claimed.
    let claim = http
        .post(format!("{base}/review/v1/cases/{case_id}/claim"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("claim");
    assert_eq!(claim.status(), 200);
    let photo = http
        .get(format!("{base}/review/v1/cases/{case_id}/photos/front"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("photo");
    assert_eq!(photo.status(), 200);
    let jpeg = photo.bytes().await.expect("bytes");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(terminate(&mut child, Duration::from_secs(5)), Some(0));
}
