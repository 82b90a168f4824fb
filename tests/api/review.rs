//! The review desk through real HTTP: reviewer accounts (login, lock, cookie and CSRF),
//! the queue by due time, leases, decisions with reasons (one winner under concurrency),
//! `case.decided` at a signed-checking receiver, the audit log for auditors, SLA metrics
//! and the purge.

use std::sync::Arc;

use chrono::{Duration, Utc};
use heyan::clock::ManualClock;
use heyan::domain::ids::CaseId;
use heyan::domain::role::Role;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::fixtures::finish_app;
use crate::helpers::{assert_error, json, spawn_app_at, TestApp, TestClient, ID_A};
use crate::receiver::{self, Receiver};
use crate::support::TestDb;

crate::on_both_databases!(crate::review::cases =>
    logins_lock_after_five_failures_and_every_attempt_is_audited,
    a_burst_of_parallel_logins_tests_at_most_five_passwords,
    logins_are_limited_per_client_address,
    the_console_cookie_needs_the_csrf_token_to_change_anything,
    the_queue_is_ordered_by_due_time_and_shows_what_is_overdue,
    a_lease_keeps_other_reviewers_out_until_it_expires,
    of_concurrent_decisions_exactly_one_wins,
    the_case_view_shows_full_data_to_the_holder_and_is_audited,
    a_rejection_reopens_the_named_steps_and_notifies_the_filing_system,
    invalid_decisions_are_refused_with_the_field,
    auditors_read_a_cases_audit_log_and_others_cannot,
    every_review_endpoint_needs_its_role,
    decided_and_abandoned_cases_are_purged_on_schedule,
);

const PASSWORD: &str = "correct horse battery staple";

/// heyan with a moving clock, a client whose webhooks go to a checking receiver, and
/// three accounts: alice (reviewer), bob (reviewer and auditor), carol (auditor only).
struct Desk {
    app: TestApp,
    clock: Arc<ManualClock>,
    client: TestClient,
    receiver: Receiver,
}

async fn desk(db: TestDb) -> Desk {
    desk_with(db, |_| {}).await
}

async fn desk_with(db: TestDb, tweak: impl FnOnce(&mut heyan::config::Settings)) -> Desk {
    // A Tuesday morning in Shanghai, so due times are a plain day later.
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-10T09:00:00+08:00")
        .expect("time")
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(start));
    let app = spawn_app_at(db, clock.clone(), tweak).await;
    let receiver = receiver::start(0).await;
    let client = app.add_client("provider", Some(&receiver.url)).await;
    *receiver.inbox.secret.lock().expect("lock") =
        client.webhook_secret.clone().expect("webhook secret");
    for (name, roles) in [
        ("alice", vec![Role::Reviewer]),
        ("bob", vec![Role::Reviewer, Role::Auditor]),
        ("carol", vec![Role::Auditor]),
    ] {
        heyan::flow::accounts::add_reviewer(
            app.state.store.as_ref(),
            name,
            &format!("{name} 审核员"),
            &SecretString::from(PASSWORD),
            roles,
            clock.now(),
        )
        .await
        .expect("reviewer added");
    }
    Desk {
        app,
        clock,
        client,
        receiver,
    }
}

use heyan::clock::Clock;

impl Desk {
    async fn login_raw(&self, username: &str, password: &str) -> reqwest::Response {
        self.app
            .request(Method::POST, "/review/v1/login")
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("sent")
    }

    /// A bearer token for `username`.
    async fn login(&self, username: &str) -> String {
        let response = self.login_raw(username, PASSWORD).await;
        assert_eq!(response.status(), 200);
        json(response).await["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    fn as_reviewer(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app.request(method, path).bearer_auth(token)
    }

    /// A case in review: the App finished, the code redeemed, submitted.
    async fn case_in_review(&self, filing_id: &str) -> String {
        let id = self.app.eligible_case(&self.client, filing_id).await;
        let code = finish_app(&self.app, &id).await;
        assert_eq!(
            self.app.redeem(&self.client, &id, &code).await.status(),
            200
        );
        let submitted = self
            .app
            .as_client(
                &self.client,
                Method::POST,
                &format!("/filing/v1/cases/{id}/submit"),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(submitted.status(), 200);
        id
    }

    async fn claim(&self, token: &str, id: &str) -> reqwest::Response {
        self.as_reviewer(token, Method::POST, &format!("/review/v1/cases/{id}/claim"))
            .send()
            .await
            .expect("sent")
    }

    async fn decide(&self, token: &str, id: &str, body: Value) -> reqwest::Response {
        self.as_reviewer(
            token,
            Method::POST,
            &format!("/review/v1/cases/{id}/decision"),
        )
        .json(&body)
        .send()
        .await
        .expect("sent")
    }

    async fn queue(&self, token: &str, query: &str) -> Value {
        let response = self
            .as_reviewer(token, Method::GET, &format!("/review/v1/queue{query}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        json(response).await
    }

    async fn audit_actions(&self) -> Vec<String> {
        self.app
            .state
            .store
            .list_audit(None, 0, 10_000)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.entry.action)
            .collect()
    }

    fn case_id(id: &str) -> CaseId {
        CaseId::parse(id).expect("case id")
    }
}

fn queue_ids(queue: &Value) -> Vec<String> {
    queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["case_id"].as_str().expect("id").to_owned())
        .collect()
}

pub mod cases {
    use super::*;

    pub async fn a_burst_of_parallel_logins_tests_at_most_five_passwords(db: TestDb) {
        let d = desk(db).await;
        // Bursts of wrong passwords until the account locks. A busy server answers some
        // tries `server_busy` (they count for nothing); of the rest, only five may be checked.
        let mut statuses = Vec::new();
        for _ in 0..10 {
            let mut tries = tokio::task::JoinSet::new();
            for _ in 0..12 {
                let request = d
                    .app
                    .request(Method::POST, "/review/v1/login")
                    .json(&json!({ "username": "alice", "password": "wrong password!!" }));
                tries.spawn(async move {
                    let response = request.send().await.expect("sent");
                    let status = response.status().as_u16();
                    (status, json(response).await["code"].clone())
                });
            }
            statuses.extend(tries.join_all().await);
            if statuses.iter().any(|(s, _)| *s == 423) {
                break;
            }
        }
        for (status, code) in &statuses {
            let expected = match status {
                401 => "invalid_credentials",
                423 => "account_locked",
                429 => "server_busy",
                other => panic!("unexpected {other}: {statuses:?}"),
            };
            assert_eq!(code, expected);
        }
        assert!(statuses.iter().any(|(s, _)| *s == 423), "{statuses:?}");
        let actions = d.audit_actions().await;
        let count = |a: &str| actions.iter().filter(|x| x.as_str() == a).count();
        assert_eq!(
            count("reviewer.login_failed"),
            5,
            "five passwords tested: {actions:?}"
        );
        assert_eq!(count("reviewer.locked"), 1);
    }

    pub async fn logins_are_limited_per_client_address(db: TestDb) {
        let d = desk_with(db, |s| s.review.logins_per_ip_per_hour = 3).await;
        for name in ["alice", "bob", "nobody"] {
            assert_error(
                d.login_raw(name, "wrong password!!").await,
                401,
                "invalid_credentials",
            )
            .await;
        }
        let fourth = d.login_raw("carol", PASSWORD).await;
        assert!(fourth.headers().contains_key("retry-after"));
        assert_error(fourth, 429, "login_ip_limit").await;
        let actions = d.audit_actions().await;
        assert_eq!(
            actions
                .iter()
                .filter(|a| a.starts_with("reviewer.login"))
                .count(),
            3,
            "the refused attempt never reached an account: {actions:?}"
        );
        d.clock.advance(Duration::hours(1));
        assert_eq!(d.login_raw("carol", PASSWORD).await.status(), 200);
    }

    pub async fn logins_lock_after_five_failures_and_every_attempt_is_audited(db: TestDb) {
        let d = desk(db).await;
        let unknown = d.login_raw("mallory", PASSWORD).await;
        let unknown = assert_error(unknown, 401, "invalid_credentials").await;
        for _ in 0..4 {
            let wrong = d.login_raw("alice", "wrong password!!").await;
            let wrong = assert_error(wrong, 401, "invalid_credentials").await;
            assert_eq!(
                wrong["message_zh"], unknown["message_zh"],
                "no name probing"
            );
        }
        let fifth = d.login_raw("alice", "wrong password!!").await;
        assert_eq!(fifth.headers()["retry-after"], "900");
        assert_error(fifth, 423, "account_locked").await;
        let right_but_locked = d.login_raw("alice", PASSWORD).await;
        assert_error(right_but_locked, 423, "account_locked").await;
        d.clock
            .advance(Duration::minutes(15) + Duration::seconds(1));
        let token = d.login(" alice ").await;
        assert!(token.len() >= 64);
        let actions = d.audit_actions().await;
        let count = |a: &str| actions.iter().filter(|x| x.as_str() == a).count();
        assert_eq!(count("reviewer.login_failed"), 6, "{actions:?}");
        assert_eq!(count("reviewer.locked"), 1);
        assert_eq!(count("reviewer.login_refused"), 1);
        assert_eq!(count("reviewer.login"), 1);

        heyan::flow::accounts::disable_reviewer(d.app.state.store.as_ref(), "alice", d.clock.now())
            .await
            .expect("disabled");
        let me = d
            .as_reviewer(&token, Method::GET, "/review/v1/me")
            .send()
            .await
            .expect("sent");
        assert_error(me, 401, "login_required").await;
        let disabled = d.login_raw("alice", PASSWORD).await;
        let disabled = assert_error(disabled, 403, "account_disabled").await;
        let disabled_wrong = d.login_raw("alice", "wrong password!!").await;
        let disabled_wrong = assert_error(disabled_wrong, 403, "account_disabled").await;
        assert_eq!(
            disabled, disabled_wrong,
            "a disabled account does not tell whether the password was right"
        );
        heyan::flow::accounts::reset_reviewer_password(
            d.app.state.store.as_ref(),
            "bob",
            &SecretString::from("a brand new password"),
            d.clock.now(),
        )
        .await
        .expect("reset");
        assert_error(
            d.login_raw("bob", PASSWORD).await,
            401,
            "invalid_credentials",
        )
        .await;
        assert_eq!(
            d.login_raw("bob", "a brand new password").await.status(),
            200
        );
    }

    pub async fn the_console_cookie_needs_the_csrf_token_to_change_anything(db: TestDb) {
        let d = desk(db).await;
        let login = d.login_raw("alice", PASSWORD).await;
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/review"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "development mode: {cookie}");
        let session = cookie.split(';').next().expect("pair").to_owned();
        let body = json(login).await;
        let csrf = body["csrf_token"].as_str().expect("csrf").to_owned();
        let with_cookie = |method: Method, path: &str| {
            d.app
                .request(method, path)
                .header("cookie", session.clone())
        };
        let me = json(
            with_cookie(Method::GET, "/review/v1/me")
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(me["reviewer"]["username"], "alice");
        assert_eq!(me["csrf_token"], csrf.as_str());
        assert!(
            me.get("token").is_none(),
            "the token is shown once, at login"
        );

        let id = d.case_in_review("CSRF-1").await;
        let claim_path = format!("/review/v1/cases/{id}/claim");
        let forged = with_cookie(Method::POST, &claim_path)
            .send()
            .await
            .expect("sent");
        assert_error(forged, 403, "csrf_failed").await;
        let wrong = with_cookie(Method::POST, &claim_path)
            .header("x-csrf-token", "0".repeat(32))
            .send()
            .await
            .expect("sent");
        assert_error(wrong, 403, "csrf_failed").await;
        let claimed = with_cookie(Method::POST, &claim_path)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("sent");
        assert_eq!(claimed.status(), 200);

        let logout = with_cookie(Method::POST, "/review/v1/logout")
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("sent");
        assert_eq!(logout.status(), 204);
        assert!(logout.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0"));
        let after = with_cookie(Method::GET, "/review/v1/me")
            .send()
            .await
            .expect("sent");
        assert_error(after, 401, "login_required").await;

        let console = d.app.get("/review/").await;
        assert_eq!(console.status(), 200);
        let csp = console.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(console
            .text()
            .await
            .expect("html")
            .contains("/review/static/app.js"));
        assert_eq!(d.app.get("/review/static/app.js").await.status(), 200);
        assert_eq!(d.app.get("/review/static/secrets.txt").await.status(), 404);
    }

    pub async fn the_queue_is_ordered_by_due_time_and_shows_what_is_overdue(db: TestDb) {
        let d = desk(db).await;
        let first = d.case_in_review("Q-1").await;
        d.clock.advance(Duration::hours(2));
        let second = d.case_in_review("Q-2").await;
        d.clock.advance(Duration::hours(1));
        let third = d.case_in_review("Q-3").await;
        let token = d.login("alice").await;

        let queue = d.queue(&token, "").await;
        assert_eq!(
            queue_ids(&queue),
            [first.clone(), second.clone(), third.clone()]
        );
        assert_eq!(queue["total"], 3);
        assert_eq!(queue["overdue_count"], 0);
        let left = queue["items"][0]["seconds_left"].as_i64().expect("seconds");
        assert_eq!(
            left,
            (Duration::hours(21)).num_seconds(),
            "due a business day after submission"
        );
        assert_eq!(queue["items"][0]["subject_name_masked"], "张*");

        // 22 hours later the first is an hour overdue, the others are not yet (and the
        // idle session has ended: log in again).
        d.clock.advance(Duration::hours(22));
        let token = d.login("alice").await;
        let queue = d.queue(&token, "").await;
        assert_eq!(queue["overdue_count"], 1);
        assert_eq!(queue["items"][0]["overdue"], true);
        assert_eq!(queue["items"][0]["seconds_left"], -3600);
        assert_eq!(queue["items"][1]["overdue"], false);
        let overdue = d.queue(&token, "?overdue=true").await;
        assert_eq!(queue_ids(&overdue), [first.as_str()]);

        let paged = d.queue(&token, "?per_page=2&page=2").await;
        assert_eq!(queue_ids(&paged), [third.as_str()]);
        assert_eq!(paged["total"], 3);

        assert_eq!(d.claim(&token, &second).await.status(), 200);
        let mine = d.queue(&token, "?mine=true").await;
        assert_eq!(queue_ids(&mine), [second.as_str()]);
        assert_eq!(mine["items"][0]["lease"]["mine"], true);

        let metrics = d.app.metrics_text().await;
        assert!(metrics.contains("heyan_review_queue_size 3"), "{metrics}");
        assert!(metrics.contains("heyan_review_overdue 1"));
    }

    pub async fn a_lease_keeps_other_reviewers_out_until_it_expires(db: TestDb) {
        let d = desk(db).await;
        let id = d.case_in_review("L-1").await;
        let (alice, bob) = (d.login("alice").await, d.login("bob").await);
        let claimed = d.claim(&alice, &id).await;
        assert_eq!(claimed.status(), 200);
        let claimed = json(claimed).await;
        assert_eq!(
            claimed["lease_seconds_left"],
            15 * 60,
            "by the server's clock: {claimed}"
        );
        assert_error(d.claim(&bob, &id).await, 409, "case_leased").await;
        let view = d
            .as_reviewer(&bob, Method::GET, &format!("/review/v1/cases/{id}"))
            .send()
            .await
            .expect("sent");
        assert_error(view, 409, "case_leased").await;
        let photo = d
            .as_reviewer(
                &bob,
                Method::GET,
                &format!("/review/v1/cases/{id}/photos/front"),
            )
            .send()
            .await
            .expect("sent");
        assert_error(photo, 409, "case_leased").await;
        let decided = d.decide(&bob, &id, json!({ "decision": "approve" })).await;
        assert_error(decided, 409, "case_leased").await;

        // Alice renews, so at 20 minutes her lease (renewed at 10) still holds.
        d.clock.advance(Duration::minutes(10));
        assert_eq!(d.claim(&alice, &id).await.status(), 200);
        d.clock.advance(Duration::minutes(10));
        assert_error(d.claim(&bob, &id).await, 409, "case_leased").await;
        d.clock.advance(Duration::minutes(6));
        assert_eq!(
            d.claim(&bob, &id).await.status(),
            200,
            "an expired lease can be taken"
        );
        let late = d
            .decide(&alice, &id, json!({ "decision": "approve" }))
            .await;
        assert_error(late, 409, "case_leased").await;
        assert_eq!(
            d.decide(&bob, &id, json!({ "decision": "approve" }))
                .await
                .status(),
            200
        );
        assert_error(d.claim(&alice, &id).await, 409, "already_decided").await;
        let unknown = d.claim(&alice, &format!("case_{}", "0".repeat(32))).await;
        assert_eq!(unknown.status(), 404);
    }

    pub async fn of_concurrent_decisions_exactly_one_wins(db: TestDb) {
        let d = desk(db).await;
        let id = d.case_in_review("C-1").await;
        let alice = d.login("alice").await;
        assert_eq!(d.claim(&alice, &id).await.status(), 200);
        let attempts: Vec<_> = (0..8)
            .map(|i| {
                let body = if i % 2 == 0 {
                    json!({ "decision": "approve" })
                } else {
                    json!({ "decision": "reject", "reasons": [{"code": "id_unreadable", "step": "front"}] })
                };
                d.as_reviewer(&alice, Method::POST, &format!("/review/v1/cases/{id}/decision"))
                    .json(&body)
            })
            .collect();
        let statuses: Vec<u16> = futures_join(attempts).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            7,
            "{statuses:?}"
        );
        let decisions = d
            .app
            .state
            .store
            .list_decisions(&Desk::case_id(&id))
            .await
            .expect("decisions");
        assert_eq!(decisions.len(), 1);
        let metrics = d.app.metrics_text().await;
        assert!(
            metrics.contains("heyan_review_decision_business_hours_count"),
            "time to decision is measured: {metrics}"
        );
    }

    pub async fn the_case_view_shows_full_data_to_the_holder_and_is_audited(db: TestDb) {
        let d = desk(db).await;
        let id = d.case_in_review("V-1").await;
        let alice = d.login("alice").await;
        let unclaimed = d
            .as_reviewer(&alice, Method::GET, &format!("/review/v1/cases/{id}"))
            .send()
            .await
            .expect("sent");
        assert_error(unclaimed, 409, "not_claimed").await;
        assert_eq!(d.claim(&alice, &id).await.status(), 200);
        let view = d
            .as_reviewer(&alice, Method::GET, &format!("/review/v1/cases/{id}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(view.status(), 200);
        let view = json(view).await;
        assert_eq!(view["websites"][0]["principal"]["id_number"], ID_A);
        assert_eq!(view["websites"][0]["principal"]["name"], "张三");
        assert_eq!(
            view["websites"][0]["principal"]["mobile_masked"],
            "138****5678"
        );
        let kinds: Vec<&str> = view["photos"]
            .as_array()
            .expect("photos")
            .iter()
            .map(|p| p["kind"].as_str().expect("kind"))
            .collect();
        assert_eq!(kinds, ["liveness", "handheld", "front", "back"]);
        for photo in view["photos"].as_array().expect("photos") {
            let url = photo["url"].as_str().expect("url");
            let got = d
                .as_reviewer(&alice, Method::GET, url)
                .send()
                .await
                .expect("sent");
            assert_eq!(got.status(), 200);
            assert_eq!(got.headers()["cache-control"], "no-store");
            assert_eq!(got.headers()["content-type"], "image/jpeg");
        }
        let audit = d
            .app
            .state
            .store
            .list_audit(Some(&Desk::case_id(&id)), 0, 1000)
            .await
            .expect("audit");
        let by_alice: Vec<&str> = audit
            .iter()
            .filter(|e| e.entry.actor_type == "reviewer")
            .map(|e| e.entry.action.as_str())
            .collect();
        assert_eq!(by_alice.iter().filter(|a| **a == "case.viewed").count(), 1);
        assert_eq!(by_alice.iter().filter(|a| **a == "photo.viewed").count(), 4);
        let text = format!("{audit:?}");
        assert!(
            !text.contains(ID_A),
            "the audit log never holds the ID number"
        );

        // The decider keeps access after the decision; the lease is gone.
        assert_eq!(
            d.decide(&alice, &id, json!({ "decision": "approve" }))
                .await
                .status(),
            200
        );
        let after = d
            .as_reviewer(&alice, Method::GET, &format!("/review/v1/cases/{id}"))
            .send()
            .await
            .expect("sent");
        let after = json(after).await;
        assert_eq!(after["status"], "approved");
        assert_eq!(after["decision"]["decision"], "approved");
        let bob = d.login("bob").await;
        let other = d
            .as_reviewer(
                &bob,
                Method::GET,
                &format!("/review/v1/cases/{id}/photos/front"),
            )
            .send()
            .await
            .expect("sent");
        assert_error(other, 409, "not_claimed").await;
    }

    pub async fn a_rejection_reopens_the_named_steps_and_notifies_the_filing_system(db: TestDb) {
        let d = desk(db).await;
        let id = d.case_in_review("R-1").await;
        let alice = d.login("alice").await;
        assert_eq!(d.claim(&alice, &id).await.status(), 200);
        let rejected = d
            .decide(
                &alice,
                &id,
                json!({ "decision": "reject", "reasons": [{"code": "id_unreadable", "step": "front"}], "note": "反光看不清" }),
            )
            .await;
        assert_eq!(rejected.status(), 200);
        assert_eq!(json(rejected).await["status"], "rejected");

        d.receiver
            .inbox
            .wait_for("case.decided", |i| {
                !i.accepted_of("case.decided").is_empty()
            })
            .await;
        let event = &d.receiver.inbox.accepted_of("case.decided")[0];
        assert_eq!(event["data"]["case_id"], id.as_str());
        assert_eq!(event["data"]["details"]["decision"], "rejected");
        assert_eq!(
            event["data"]["details"]["reasons"],
            json!([{"code": "id_unreadable", "step": "front"}])
        );
        assert_eq!(event["data"]["details"]["reopened_steps"], json!(["front"]));
        assert!(
            !event.to_string().contains("反光"),
            "the note stays at heyan"
        );
        assert_eq!(
            d.receiver
                .inbox
                .bad_signatures
                .load(std::sync::atomic::Ordering::SeqCst),
            0
        );

        let case = d
            .app
            .state
            .store
            .get_case(&Desk::case_id(&id))
            .await
            .expect("case");
        assert_eq!(case.status.as_str(), "rejected");
        assert!(case.progress.front_at.is_none(), "the front is reopened");
        assert!(
            case.progress.liveness_at.is_some()
                && case.progress.handheld_at.is_some()
                && case.progress.back_at.is_some()
        );
        assert!(case.decided_at.is_some(), "the retention clock started");
        use heyan::flow::app_steps::AppStep;
        let open: Vec<&str> = [
            AppStep::Liveness,
            AppStep::Handheld,
            AppStep::Front,
            AppStep::Back,
        ]
        .into_iter()
        .filter(|s| !s.is_done(&case))
        .map(AppStep::as_str)
        .collect();
        assert_eq!(open, ["front"], "the App retakes the front only");
        let queue = d.queue(&alice, "").await;
        assert!(
            queue_ids(&queue).is_empty(),
            "a decided case leaves the queue"
        );

        // Until a new code is redeemed the filing system sees none of the photos.
        let pulled = d
            .app
            .as_client(
                &d.client,
                Method::GET,
                &format!("/filing/v1/cases/{id}/photos/handheld"),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(pulled.status(), 409);
        assert_eq!(json(pulled).await["code"], "code_not_redeemed");
        // A step the rejection did not reopen cannot be taken again.
        let handheld = heyan::flow::photos::FinishedPhoto {
            kind: heyan::domain::case::PhotoKind::Handheld,
            jpeg: crate::fixtures::jpeg(320, 240, 7),
            width: 320,
            height: 240,
            original_sha256: "2".repeat(64),
        };
        let refused =
            heyan::flow::photos::keep(&d.app.state.services, &Desk::case_id(&id), handheld).await;
        assert!(
            matches!(
                refused,
                Err(heyan::flow::FlowError::Transition(
                    heyan::domain::case::TransitionError::StepNotReopened
                ))
            ),
            "{refused:?}"
        );

        // The principal retakes the front only and completes again: a new code, a new round.
        let photo = heyan::flow::photos::FinishedPhoto {
            kind: heyan::domain::case::PhotoKind::Front,
            jpeg: crate::fixtures::jpeg(320, 240, 9),
            width: 320,
            height: 240,
            original_sha256: "1".repeat(64),
        };
        heyan::flow::photos::keep(&d.app.state.services, &Desk::case_id(&id), photo)
            .await
            .expect("kept");
        let case = d
            .app
            .state
            .store
            .get_case(&Desk::case_id(&id))
            .await
            .expect("case");
        let actor = heyan::flow::Actor::app(&case.id, None);
        // (The fixture skipped the phone and consent steps, so issue as `complete` would.)
        let code = heyan::flow::codes::issue(&d.app.state.services, &case, &actor)
            .await
            .expect("a new code");
        let redeemed = d.app.redeem(&d.client, &id, code.code.as_str()).await;
        assert_eq!(redeemed.status(), 200);
        let submitted = d
            .app
            .as_client(
                &d.client,
                Method::POST,
                &format!("/filing/v1/cases/{id}/submit"),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(submitted.status(), 200);
        assert_eq!(
            queue_ids(&d.queue(&alice, "").await),
            [id.as_str()],
            "back in the queue"
        );
        let decisions = d
            .app
            .state
            .store
            .list_decisions(&Desk::case_id(&id))
            .await
            .expect("decisions");
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].note.as_deref(), Some("反光看不清"));
    }

    pub async fn invalid_decisions_are_refused_with_the_field(db: TestDb) {
        let d = desk(db).await;
        let id = d.case_in_review("I-1").await;
        let alice = d.login("alice").await;
        assert_eq!(d.claim(&alice, &id).await.status(), 200);
        let cases = [
            (json!({ "decision": "reject" }), "reasons"),
            (
                json!({ "decision": "reject", "reasons": [{"code": "blurry", "step": "front"}] }),
                "reasons[0].code",
            ),
            (
                json!({ "decision": "reject", "reasons": [{"code": "liveness_failed", "step": "back"}] }),
                "reasons[0].step",
            ),
            (
                json!({ "decision": "reject", "reasons": [{"code": "other", "step": "back"}] }),
                "note",
            ),
            (
                json!({ "decision": "approve", "reasons": [{"code": "other", "step": "back"}] }),
                "reasons",
            ),
            (json!({ "decision": "maybe" }), "decision"),
        ];
        for (body, field) in cases {
            let response = d.decide(&alice, &id, body.clone()).await;
            let error = assert_error(response, 422, "invalid_input").await;
            assert!(error["fields"].get(field).is_some(), "{body} → {error}");
        }
        let case = d
            .app
            .state
            .store
            .get_case(&Desk::case_id(&id))
            .await
            .expect("case");
        assert_eq!(case.status.as_str(), "in_review", "nothing changed");
    }

    pub async fn every_review_endpoint_needs_its_role(db: TestDb) {
        let d = desk(db).await;
        let id = d.case_in_review("ROLE-1").await;
        let call = |token: &str, method: Method, path: String, body: Option<Value>| {
            let request = d.as_reviewer(token, method, &path);
            let request = match body {
                Some(b) => request.json(&b),
                None => request,
            };
            async move { request.send().await.expect("sent") }
        };
        let endpoints = |id: &str| {
            [
                (Method::GET, "/review/v1/queue".to_owned(), None),
                (Method::POST, format!("/review/v1/cases/{id}/claim"), None),
                (Method::GET, format!("/review/v1/cases/{id}"), None),
                (
                    Method::GET,
                    format!("/review/v1/cases/{id}/photos/front"),
                    None,
                ),
                (
                    Method::POST,
                    format!("/review/v1/cases/{id}/decision"),
                    Some(json!({ "decision": "approve" })),
                ),
            ]
        };
        let audit = format!("/review/v1/audit?case={id}");

        // An auditor-only account reads the audit log and nothing of the case.
        let carol = d.login("carol").await;
        for (method, path, body) in endpoints(&id) {
            let refused = call(&carol, method.clone(), path.clone(), body).await;
            assert_error(refused, 403, "reviewer_required").await;
        }
        assert_eq!(
            call(&carol, Method::GET, audit.clone(), None)
                .await
                .status(),
            200
        );
        assert_eq!(
            call(&carol, Method::GET, "/review/v1/me".into(), None)
                .await
                .status(),
            200
        );

        // A reviewer does the whole round (nothing carol tried left a lease), but reads no audit.
        let alice = d.login("alice").await;
        for (method, path, body) in endpoints(&id) {
            let done = call(&alice, method.clone(), path.clone(), body).await;
            assert_eq!(done.status(), 200, "{method} {path}");
        }
        let refused = call(&alice, Method::GET, audit.clone(), None).await;
        assert_error(refused, 403, "auditor_required").await;

        // Both roles: both sides.
        let bob = d.login("bob").await;
        assert_eq!(call(&bob, Method::GET, audit, None).await.status(), 200);
        assert_eq!(
            call(&bob, Method::GET, "/review/v1/queue".into(), None)
                .await
                .status(),
            200
        );
    }

    pub async fn auditors_read_a_cases_audit_log_and_others_cannot(db: TestDb) {
        let d = desk(db).await;
        let id = d.case_in_review("A-1").await;
        let alice = d.login("alice").await;
        assert_eq!(d.claim(&alice, &id).await.status(), 200);
        assert_eq!(
            d.decide(&alice, &id, json!({ "decision": "approve" }))
                .await
                .status(),
            200
        );
        let path = format!("/review/v1/audit?case={id}");
        let refused = d
            .as_reviewer(&alice, Method::GET, &path)
            .send()
            .await
            .expect("sent");
        assert_error(refused, 403, "auditor_required").await;
        let bob = d.login("bob").await;
        let log = d
            .as_reviewer(&bob, Method::GET, &path)
            .send()
            .await
            .expect("sent");
        assert_eq!(log.status(), 200);
        let log = json(log).await;
        let actions: Vec<&str> = log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["action"].as_str().expect("action"))
            .collect();
        for expected in [
            "case.registered",
            "code.issued",
            "case.submitted",
            "case.claimed",
            "case.decided",
        ] {
            assert!(actions.contains(&expected), "{expected} in {actions:?}");
        }
        let seqs: Vec<i64> = log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["seq"].as_i64().expect("seq"))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");
        let bad = d
            .as_reviewer(&bob, Method::GET, "/review/v1/audit?case=nope")
            .send()
            .await
            .expect("sent");
        assert_error(bad, 422, "invalid_input").await;
        let report = heyan::flow::audit::verify(d.app.state.store.as_ref())
            .await
            .expect("verify");
        assert!(report.first_broken.is_none());
    }

    pub async fn decided_and_abandoned_cases_are_purged_on_schedule(db: TestDb) {
        let d = desk(db).await;
        let decided = d.case_in_review("P-1").await;
        let alice = d.login("alice").await;
        assert_eq!(d.claim(&alice, &decided).await.status(), 200);
        assert_eq!(
            d.decide(&alice, &decided, json!({ "decision": "approve" }))
                .await
                .status(),
            200
        );
        let abandoned = d.app.eligible_case(&d.client, "P-2").await;
        let abandoned_code = finish_app(&d.app, &abandoned).await;
        assert!(!abandoned_code.is_empty());
        let blobs_of = |id: String| {
            let store = d.app.state.store.clone();
            async move {
                store
                    .list_photos(&Desk::case_id(&id))
                    .await
                    .expect("photos")
            }
        };
        let decided_photos = blobs_of(decided.clone()).await;
        assert_eq!(decided_photos.len(), 4);

        d.clock.advance(Duration::days(6));
        let report = heyan::flow::purge::purge_due(&d.app.state.services)
            .await
            .expect("purge");
        assert_eq!(report.cases, 0, "nothing due yet");
        d.clock.advance(Duration::days(2));
        let report = heyan::flow::purge::purge_due(&d.app.state.services)
            .await
            .expect("purge");
        assert_eq!(
            (report.cases, report.photos),
            (1, 4),
            "the abandoned case at 8 days"
        );
        assert!(blobs_of(abandoned.clone()).await.is_empty());
        assert_eq!(
            blobs_of(decided.clone()).await.len(),
            4,
            "decided 8 days ago: kept"
        );

        d.clock.advance(Duration::days(23));
        let report = heyan::flow::purge::purge_due(&d.app.state.services)
            .await
            .expect("purge");
        assert_eq!(
            (report.cases, report.photos),
            (1, 4),
            "31 days after the decision"
        );
        for photo in &decided_photos {
            assert!(
                d.app.state.blobs.get(&photo.blob_id).await.is_err(),
                "blob deleted"
            );
        }
        let case = d
            .app
            .state
            .store
            .get_case(&Desk::case_id(&decided))
            .await
            .expect("case");
        assert!(case.purged_at.is_some());
        let again = heyan::flow::purge::purge_due(&d.app.state.services)
            .await
            .expect("purge");
        assert_eq!(again.cases, 0, "purged once");
        d.receiver
            .inbox
            .wait_for("case.purged", |i| i.accepted_of("case.purged").len() >= 2)
            .await;
        let purged = d.receiver.inbox.accepted_of("case.purged");
        let reasons: Vec<&str> = purged
            .iter()
            .map(|e| e["data"]["details"]["reason"].as_str().expect("reason"))
            .collect();
        assert!(
            reasons.contains(&"abandoned") && reasons.contains(&"retention_after_decision"),
            "{reasons:?}"
        );
        assert!(
            d.audit_actions()
                .await
                .iter()
                .filter(|a| *a == "case.purged")
                .count()
                == 2
        );
    }
}

/// Sends all requests at once and returns their statuses.
async fn futures_join(requests: Vec<reqwest::RequestBuilder>) -> Vec<u16> {
    let handles: Vec<_> = requests
        .into_iter()
        .map(|r| tokio::spawn(async move { r.send().await.expect("sent") }))
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.expect("task").status().as_u16());
    }
    statuses
}
