//! `Idempotency-Key` claims whose request never answered: a key held by a request that was
//! cut off or died must not answer `idempotency_in_progress` for the 24 hours its answer
//! would have been kept.

use std::sync::Arc;

use chrono::{Duration, Utc};
use heyan::clock::ManualClock;
use heyan::flow::idempotency::{begin, Begun};
use reqwest::Method;
use sqlx::Connection;

use crate::helpers::{assert_error, registration, spawn_app_at, spawn_app_with, ID_A};
use crate::support::TestDb;

crate::on_both_databases!(crate::idempotency::cases =>
    a_claim_left_by_a_request_that_died_expires_within_minutes,
);

pub mod cases {
    use super::*;

    /// A process killed mid-request leaves its claim behind, released by nothing: it holds
    /// the key only as long as a request could still be running.
    pub async fn a_claim_left_by_a_request_that_died_expires_within_minutes(db: TestDb) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = spawn_app_at(db, clock.clone(), |s| s.server.request_timeout_secs = 30).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-DEAD").await;
        let path = format!("/filing/v1/cases/{case}/submit");
        // The first run claimed the key the way the handler does, then the process died:
        // no answer, no release (`forget` runs no destructor, as after kill -9).
        match begin(&app.state, &client.id, "dead-1", &format!("POST {path}"))
            .await
            .expect("claimed")
        {
            Begun::Fresh(claim) => std::mem::forget(claim),
            other => panic!("a new key is fresh: {other:?}"),
        }
        let submit = || {
            app.as_client(&client, Method::POST, &path)
                .header("idempotency-key", "dead-1")
                .send()
        };

        // While the first run could still be going, the key stays held.
        clock.advance(Duration::seconds(20));
        assert_error(
            submit().await.expect("sent"),
            409,
            "idempotency_in_progress",
        )
        .await;

        // Past the request timeout and its margin no run can be going: the retry runs
        // (the case is not redeemed, so submitting is refused by the case, not the key)…
        clock.advance(Duration::minutes(2));
        let retried = submit().await.expect("sent");
        assert!(retried.headers().get("idempotent-replayed").is_none());
        assert_error(retried, 409, "code_not_redeemed").await;
        // …and its answer is the one kept for the key.
        let replayed = submit().await.expect("sent");
        assert_eq!(
            replayed
                .headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert_error(replayed, 409, "code_not_redeemed").await;
    }
}

/// A request cut off by the request timeout releases its key at once, so the filing
/// system's retry runs. PostgreSQL only: the test holds a table lock to keep the handler
/// waiting after it claimed the key, and SQLite's one database-wide write lock would stop
/// the claim itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cut_off_by_the_timeout_releases_its_idempotency_key() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url().to_owned();
    let app = spawn_app_with(db, |s| s.server.request_timeout_secs = 1).await;
    let client = app.add_client("p", None).await;
    let send = || {
        app.as_client(&client, Method::POST, "/filing/v1/cases")
            .header("idempotency-key", "slow-1")
            .json(&registration("BA-SLOW", &[ID_A]))
            .send()
    };

    // Registration waits on the cases table, past the request timeout.
    let mut locker = sqlx::PgConnection::connect(&url).await.expect("connect");
    let mut lock = locker.begin().await.expect("begin");
    sqlx::query("lock table cases in access exclusive mode")
        .execute(&mut *lock)
        .await
        .expect("lock");
    assert_error(send().await.expect("sent"), 503, "request_timeout").await;
    lock.rollback().await.expect("unlock");

    // The release runs in the background as the handler is dropped: allow it a moment,
    // never the 24 hours the key used to stay held.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let response = loop {
        let response = send().await.expect("sent");
        if response.status() != 409 || std::time::Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        response.status(),
        201,
        "the retry registers the case: {}",
        response.text().await.unwrap_or_default()
    );
}
