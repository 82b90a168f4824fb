//! Webhook delivery to a local receiver that checks signatures: retries with backoff,
//! exactly-once acceptance, durability across a restart, and the events' content.

use std::sync::atomic::Ordering;

use heyan::domain::ids::EventId;
use reqwest::Method;

use crate::fixtures::finish_app;
use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestClient};
use crate::receiver::{self, Receiver};
use crate::support::TestDb;

crate::on_both_databases!(crate::webhooks::cases =>
    a_receiver_that_fails_three_times_gets_the_event_exactly_once,
    an_event_survives_a_restart_between_tries,
    cancelling_sends_case_purged,
    a_hanging_receiver_holds_back_only_its_own_client,
);

async fn client_with_receiver(app: &TestApp, receiver: &Receiver) -> TestClient {
    let client = app.add_client("provider", Some(&receiver.url)).await;
    let secret = client
        .webhook_secret
        .clone()
        .expect("a webhook secret for a client with a URL");
    *receiver.inbox.secret.lock().expect("lock") = secret;
    client
}

/// The event once heyan has recorded its delivery (it does so after the receiver answers).
async fn delivered(app: &TestApp, id: &EventId) -> heyan::store::OutboxEvent {
    for _ in 0..200 {
        let event = app.state.store.get_event(id).await.expect("event");
        if event.delivered_at.is_some() {
            return event;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("event {id:?} never marked delivered");
}

pub mod cases {
    use super::*;

    pub async fn a_receiver_that_fails_three_times_gets_the_event_exactly_once(db: TestDb) {
        let receiver = receiver::start(3).await;
        let app = spawn_app(db).await;
        let client = client_with_receiver(&app, &receiver).await;
        let case = app.eligible_case(&client, "W-1").await;
        finish_app(&app, &case).await;

        receiver
            .inbox
            .wait_for("case.completed", |i| {
                !i.accepted_of("case.completed").is_empty()
            })
            .await;
        let events = receiver.inbox.accepted_of("case.completed");
        assert_eq!(
            receiver.inbox.attempts.load(Ordering::SeqCst),
            4,
            "three refusals, then the delivery"
        );
        assert_eq!(
            receiver.inbox.bad_signatures.load(Ordering::SeqCst),
            0,
            "every try was signed correctly"
        );
        let event = &events[0];
        assert_eq!(event["data"]["case_id"], case.as_str());
        assert_eq!(event["data"]["filing_id"], "W-1");
        assert!(event["data"]["details"]["code_expires_at"].is_string());
        let id = EventId::parse(event["id"].as_str().expect("event id")).expect("evt_ id");
        let stored = delivered(&app, &id).await;
        assert_eq!(stored.attempts, 4);
        // Delivered events are never leased again.
        let due = app
            .state
            .store
            .claim_due_events(
                app.state.clock.now() + chrono::Duration::days(1),
                app.state.clock.now() + chrono::Duration::days(2),
                10,
            )
            .await
            .expect("claim");
        assert!(due.is_empty(), "{due:?}");
        assert_eq!(receiver.inbox.accepted_of("case.completed").len(), 1);
    }

    pub async fn an_event_survives_a_restart_between_tries(db: TestDb) {
        let receiver = receiver::start(usize::MAX).await;
        let app = spawn_app(db).await;
        let client = client_with_receiver(&app, &receiver).await;
        let case = app.eligible_case(&client, "W-2").await;
        finish_app(&app, &case).await;
        receiver
            .inbox
            .wait_for("a first, refused try", |i| {
                i.attempts.load(Ordering::SeqCst) >= 1
            })
            .await;
        let db = app.stop().await.expect("clean stop");
        assert!(receiver.inbox.accepted_of("case.completed").is_empty());

        receiver.inbox.fail_next.store(0, Ordering::SeqCst);
        let restarted = spawn_app(db).await;
        receiver
            .inbox
            .wait_for("delivery after the restart", |i| {
                !i.accepted_of("case.completed").is_empty()
            })
            .await;
        assert_eq!(receiver.inbox.accepted_of("case.completed").len(), 1);
        drop(restarted);
    }

    pub async fn cancelling_sends_case_purged(db: TestDb) {
        let receiver = receiver::start(0).await;
        let app = spawn_app(db).await;
        let client = client_with_receiver(&app, &receiver).await;
        let case = app.eligible_case(&client, "W-3").await;
        let r = app
            .send_as(&client, Method::DELETE, &format!("/filing/v1/cases/{case}"))
            .await;
        assert_eq!(r.status(), 200);
        receiver
            .inbox
            .wait_for("case.purged", |i| !i.accepted_of("case.purged").is_empty())
            .await;
        let event = &receiver.inbox.accepted_of("case.purged")[0];
        assert_eq!(event["data"]["case_id"], case.as_str());
        assert_eq!(event["data"]["details"]["reason"], "cancelled");
        let text = event.to_string();
        assert!(
            !text.contains("13812345678") && !text.contains("张三"),
            "no personal data in events: {text}"
        );
    }

    pub async fn a_hanging_receiver_holds_back_only_its_own_client(db: TestDb) {
        let hanging = receiver::start(0).await;
        hanging.inbox.stall.store(true, Ordering::SeqCst);
        let healthy = receiver::start(0).await;
        // Long enough that waiting for the hanging receiver would outlast the test's wait.
        let app = spawn_app_with(db, |s| s.webhook.timeout_ms = 60_000).await;
        let slow_client = app.add_client("slow", Some(&hanging.url)).await;
        *hanging.inbox.secret.lock().expect("lock") =
            slow_client.webhook_secret.clone().expect("secret");
        let fast_client = app.add_client("fast", Some(&healthy.url)).await;
        *healthy.inbox.secret.lock().expect("lock") =
            fast_client.webhook_secret.clone().expect("secret");

        let slow_case = app.eligible_case(&slow_client, "W-SLOW").await;
        finish_app(&app, &slow_case).await;
        hanging
            .inbox
            .wait_for("the hanging try", |i| {
                i.attempts.load(Ordering::SeqCst) >= 1
            })
            .await;

        let fast_case = app.eligible_case(&fast_client, "W-FAST").await;
        let r = app
            .send_as(
                &fast_client,
                Method::DELETE,
                &format!("/filing/v1/cases/{fast_case}"),
            )
            .await;
        assert_eq!(r.status(), 200);
        healthy
            .inbox
            .wait_for("the other client's event", |i| {
                !i.accepted_of("case.purged").is_empty()
            })
            .await;
        assert!(
            hanging.inbox.accepted_of("case.completed").is_empty(),
            "the slow receiver is still hanging"
        );

        hanging.inbox.release();
        hanging
            .inbox
            .wait_for("the released delivery", |i| {
                !i.accepted_of("case.completed").is_empty()
            })
            .await;
        assert_eq!(hanging.inbox.accepted_of("case.completed").len(), 1);
    }
}
