//! The App's phone check, session and consent, through real HTTP, with a local SMS
//! gateway (the `http` provider) that checks heyan's signature and records the codes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};
use heyan::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, json, spawn_app_at, TestApp};
use crate::receiver::{self, Receiver};
use crate::support::TestDb;

crate::on_both_databases!(crate::app::cases =>
    a_registered_number_gets_a_code_and_every_number_gets_the_same_answer,
    a_resend_within_a_minute_is_refused_for_every_number_alike,
    the_daily_limit_per_phone_holds,
    a_wrong_code_says_how_many_tries_remain_and_the_right_one_opens_a_session,
    a_code_dies_after_five_wrong_tries_and_expires_after_five_minutes,
    sessions_end_when_idle_and_at_their_absolute_limit,
    consent_is_recorded_only_for_the_current_text,
    a_provider_outage_delays_the_code_and_does_not_show,
    per_address_limits_count_the_client_behind_a_trusted_proxy,
    forwarding_headers_from_anyone_else_are_ignored,
    a_code_someone_else_asked_for_does_not_void_yours,
    the_daily_limit_counts_per_requesting_address,
);

pub const MOBILE: &str = "13812345678";

pub struct Phone {
    pub app: TestApp,
    pub client: crate::helpers::TestClient,
    pub case_id: String,
    pub gateway: Receiver,
    pub clock: Arc<ManualClock>,
    /// Codes asked for the registered number (the SMS worker sends them just after).
    asked: AtomicUsize,
}

pub async fn start(db: TestDb, tweak: impl FnOnce(&mut heyan::config::Settings)) -> Phone {
    let gateway = receiver::start(0).await;
    *gateway.inbox.secret.lock().expect("lock") = "gateway-secret".into();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let url = gateway.url.clone();
    let app = spawn_app_at(db, clock.clone(), move |s| {
        s.sms.provider = heyan::config::SmsProvider::Http;
        s.sms.http_url = Some(url);
        s.sms.http_secret = Some("gateway-secret".to_owned().into());
        tweak(s);
    })
    .await;
    let client = app.add_client("p", None).await;
    let case_id = app.eligible_case(&client, "APP-1").await;
    Phone {
        app,
        client,
        case_id,
        gateway,
        clock,
        asked: AtomicUsize::new(0),
    }
}

/// Whether `mobile` is the registered number, however it is written.
fn is_registered(mobile: &str) -> bool {
    let digits: String = mobile.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches("86") == MOBILE || digits == MOBILE
}

impl Phone {
    pub async fn request_sms(&self, mobile: &str) -> reqwest::Response {
        let request = self
            .app
            .request(Method::POST, "/app/v1/sms")
            .json(&json!({ "mobile": mobile }));
        self.asking(mobile, request).await
    }

    /// Asks for a code through a proxy that says the client is `forwarded_for`.
    pub async fn request_sms_from(&self, mobile: &str, forwarded_for: &str) -> reqwest::Response {
        let request = self
            .app
            .request(Method::POST, "/app/v1/sms")
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({ "mobile": mobile }));
        self.asking(mobile, request).await
    }

    async fn asking(&self, mobile: &str, request: reqwest::RequestBuilder) -> reqwest::Response {
        let response = request.send().await.expect("sent");
        if response.status() == 202 && is_registered(mobile) {
            self.asked.fetch_add(1, Ordering::SeqCst);
        }
        response
    }

    /// The messages the gateway took, once every code asked for has arrived.
    pub async fn codes(&self) -> Vec<Value> {
        let asked = self.asked.load(Ordering::SeqCst);
        self.gateway
            .inbox
            .wait_for("the SMS codes asked for", |i| {
                i.accepted.lock().expect("lock").len() >= asked
            })
            .await;
        self.gateway.inbox.accepted.lock().expect("lock").clone()
    }

    pub async fn last_code(&self) -> String {
        self.codes()
            .await
            .last()
            .and_then(|m| m["code"].as_str().map(str::to_owned))
            .expect("a code was sent")
    }

    pub async fn sign_in(&self, code: &str) -> reqwest::Response {
        let body = json!({ "mobile": MOBILE, "code": code });
        self.app
            .request(Method::POST, "/app/v1/sessions")
            .json(&body)
            .send()
            .await
            .expect("sent")
    }

    pub async fn session(&self) -> String {
        assert_eq!(self.request_sms(MOBILE).await.status(), 202);
        let response = self.sign_in(&self.last_code().await).await;
        assert_eq!(response.status(), 201);
        json(response).await["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    pub async fn get_case(&self, token: &str) -> reqwest::Response {
        self.app
            .request(Method::GET, "/app/v1/case")
            .bearer_auth(token)
            .send()
            .await
            .expect("sent")
    }
}

fn wrong(code: &str) -> String {
    if code == "000000" {
        "000001".into()
    } else {
        "000000".into()
    }
}

pub mod cases {
    use super::*;

    pub async fn a_registered_number_gets_a_code_and_every_number_gets_the_same_answer(db: TestDb) {
        let phone = start(db, |_| {}).await;
        let registered = phone.request_sms("+86 138-1234-5678").await;
        assert_eq!(registered.status(), 202);
        let registered = json(registered).await;
        let sent = phone.codes().await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["to"], MOBILE);
        assert!(sent[0]["code"]
            .as_str()
            .is_some_and(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert_eq!(sent[0]["ttl_minutes"], 5);
        assert_eq!(phone.gateway.inbox.bad_signatures.load(Ordering::SeqCst), 0);

        let stranger = phone.request_sms("13900001111").await;
        assert_eq!(stranger.status(), 202);
        assert_eq!(
            json(stranger).await,
            registered,
            "the same answer for an unregistered number"
        );
        assert_eq!(
            phone.codes().await.len(),
            1,
            "nothing sent to an unregistered number"
        );
        let bad = phone.request_sms("12345").await;
        assert_error(bad, 422, "invalid_mobile").await;

        // Signing in answers alike too: a wrong code with tries left, then a dead one.
        let sign_in = |mobile: &str| {
            phone
                .app
                .request(Method::POST, "/app/v1/sessions")
                .json(&json!({ "mobile": mobile, "code": "000000" }))
                .send()
        };
        let mut answers = Vec::new();
        for mobile in [MOBILE, "13900001111"] {
            let mut bodies = Vec::new();
            for _ in 0..5 {
                let response = sign_in(mobile).await.expect("sent");
                let status = response.status().as_u16();
                let body = json(response).await;
                bodies.push((status, body["code"].clone(), body["message_en"].clone()));
            }
            answers.push(bodies);
        }
        if !phone.last_code().await.starts_with("000000") {
            assert_eq!(
                answers[0], answers[1],
                "registered and unregistered answer alike"
            );
        }
        assert_eq!(answers[1][0].0, 422);
        assert_eq!(answers[1][4].1, "sms_code_dead");
    }

    pub async fn a_resend_within_a_minute_is_refused_for_every_number_alike(db: TestDb) {
        let phone = start(db, |_| {}).await;
        for mobile in [MOBILE, "13900001111"] {
            assert_eq!(phone.request_sms(mobile).await.status(), 202);
            let again = phone.request_sms(mobile).await;
            let retry: u64 = again.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("secs");
            assert!((1..=60).contains(&retry), "{mobile}: {retry}");
            assert_error(again, 429, "sms_resend_too_soon").await;
        }
        phone.clock.advance(Duration::seconds(61));
        assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
        assert_eq!(phone.codes().await.len(), 2);
    }

    pub async fn the_daily_limit_per_phone_holds(db: TestDb) {
        let phone = start(db, |s| s.app.sms_per_phone_per_day = 2).await;
        for _ in 0..2 {
            assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
            phone.clock.advance(Duration::seconds(61));
        }
        assert_error(phone.request_sms(MOBILE).await, 429, "sms_daily_limit").await;
        assert_eq!(phone.codes().await.len(), 2);
    }

    pub async fn a_wrong_code_says_how_many_tries_remain_and_the_right_one_opens_a_session(
        db: TestDb,
    ) {
        let phone = start(db, |_| {}).await;
        assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
        let code = phone.last_code().await;
        let err = assert_error(phone.sign_in(&wrong(&code)).await, 422, "sms_code_invalid").await;
        assert!(
            err["message_en"]
                .as_str()
                .is_some_and(|m| m.contains("4 attempts left")),
            "{err}"
        );
        let response = phone.sign_in(&code).await;
        assert_eq!(response.status(), 201);
        let session = json(response).await;
        assert_eq!(session["case"]["next_step"], "consent");
        assert_eq!(session["case"]["steps"][0]["done"], true);
        let token = session["token"].as_str().expect("token");
        let case = phone.get_case(token).await;
        assert_eq!(case.status(), 200);
        assert_eq!(json(case).await["websites"], json!(["site0.example.cn"]));
        assert_error(phone.sign_in(&code).await, 410, "sms_code_dead").await;
        assert_error(phone.get_case("not-a-token").await, 401, "session_invalid").await;
        let anonymous = phone
            .app
            .request(Method::GET, "/app/v1/case")
            .send()
            .await
            .expect("sent");
        assert_error(anonymous, 401, "session_required").await;
    }

    pub async fn a_code_dies_after_five_wrong_tries_and_expires_after_five_minutes(db: TestDb) {
        let phone = start(db, |_| {}).await;
        assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
        let code = phone.last_code().await;
        for _ in 0..4 {
            assert_error(phone.sign_in(&wrong(&code)).await, 422, "sms_code_invalid").await;
        }
        assert_error(phone.sign_in(&wrong(&code)).await, 410, "sms_code_dead").await;
        assert_error(phone.sign_in(&code).await, 410, "sms_code_dead").await;

        phone.clock.advance(Duration::seconds(61));
        assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
        phone.clock.advance(Duration::minutes(5));
        assert_error(
            phone.sign_in(&phone.last_code().await).await,
            410,
            "sms_code_expired",
        )
        .await;
    }

    pub async fn sessions_end_when_idle_and_at_their_absolute_limit(db: TestDb) {
        let phone = start(db, |_| {}).await;
        let token = phone.session().await;
        phone.clock.advance(Duration::minutes(31));
        assert_error(phone.get_case(&token).await, 401, "session_expired").await;

        phone.clock.advance(Duration::seconds(61));
        let token = phone.session().await;
        for _ in 0..5 {
            phone.clock.advance(Duration::minutes(20));
            assert_eq!(
                phone.get_case(&token).await.status(),
                200,
                "kept alive by use"
            );
        }
        phone.clock.advance(Duration::minutes(20));
        assert_error(phone.get_case(&token).await, 401, "session_expired").await;
    }

    pub async fn consent_is_recorded_only_for_the_current_text(db: TestDb) {
        let phone = start(db, |_| {}).await;
        let token = phone.session().await;
        let consent = json(phone.app.get("/app/v1/consent").await).await;
        assert_eq!(consent["version"], "v1");
        assert!(consent["text"]
            .as_str()
            .is_some_and(|t| t.contains("敏感个人信息")));
        let post = |body: Value| {
            phone
                .app
                .request(Method::POST, "/app/v1/consent")
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        let stale = post(json!({ "version": "v1", "text_sha256": "0".repeat(64) }))
            .await
            .expect("sent");
        assert_error(stale, 409, "consent_outdated").await;
        let accepted = post(json!({ "version": "v1", "text_sha256": consent["text_sha256"] }))
            .await
            .expect("sent");
        assert_eq!(accepted.status(), 200);
        let steps = json(accepted).await;
        assert_eq!(steps["steps"][1]["done"], true);
        assert_eq!(steps["next_step"], "liveness");
        let case_id = phone
            .app
            .state
            .store
            .find_open_case_by_mobile(&heyan::pii::lookup_hmac(
                &phone.app.state.keys,
                "mobile",
                MOBILE,
            ))
            .await
            .expect("query")
            .expect("case")
            .id;
        let audit = phone
            .app
            .state
            .store
            .list_audit(Some(&case_id), 0, 100)
            .await
            .expect("audit");
        let actions: Vec<&str> = audit.iter().map(|e| e.entry.action.as_str()).collect();
        assert!(
            actions.contains(&"app.phone_verified") && actions.contains(&"app.consent_accepted"),
            "{actions:?}"
        );
    }

    pub async fn a_provider_outage_delays_the_code_and_does_not_show(db: TestDb) {
        let phone = start(db, |s| s.sms.retries = 1).await;
        // The provider fails both tries of the first send.
        phone.gateway.inbox.fail_next.store(2, Ordering::SeqCst);
        let asked = phone.request_sms(MOBILE).await;
        assert_eq!(
            asked.status(),
            202,
            "an outage looks like any other request"
        );
        phone
            .gateway
            .inbox
            .wait_for("the failed tries", |i| {
                i.attempts.load(Ordering::SeqCst) >= 2
            })
            .await;
        assert!(phone
            .gateway
            .inbox
            .accepted
            .lock()
            .expect("lock")
            .is_empty());
        // The worker tries again a few seconds later, while the code is valid.
        phone.clock.advance(Duration::seconds(6));
        let code = phone.last_code().await;
        assert_eq!(phone.sign_in(&code).await.status(), 201);
    }

    pub async fn per_address_limits_count_the_client_behind_a_trusted_proxy(db: TestDb) {
        let phone = start(db, |s| {
            s.app.sms_per_ip_per_hour = 2;
            s.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
        })
        .await;
        let mut n = 0;
        let mut ask = |from: &'static str| {
            n += 1;
            let mobile = format!("139{n:08}");
            let phone = &phone;
            async move { phone.request_sms_from(&mobile, from).await }
        };
        for from in ["203.0.113.5", "203.0.113.5", "198.51.100.7"] {
            assert_eq!(ask(from).await.status(), 202, "{from}");
        }
        assert_error(ask("203.0.113.5").await, 429, "sms_ip_limit").await;
        // IPv6 clients count by their /64.
        for from in ["2001:db8::1", "2001:db8::2", "2001:db8:0:1::1"] {
            assert_eq!(ask(from).await.status(), 202, "{from}");
        }
        assert_error(ask("2001:db8::3").await, 429, "sms_ip_limit").await;
        // The audit log names the client, not the proxy.
        assert_eq!(
            phone.request_sms_from(MOBILE, "192.0.2.44").await.status(),
            202
        );
        let signed_in = phone
            .app
            .request(Method::POST, "/app/v1/sessions")
            .header("x-forwarded-for", "192.0.2.44")
            .json(&json!({ "mobile": MOBILE, "code": phone.last_code().await }))
            .send()
            .await
            .expect("sent");
        assert_eq!(signed_in.status(), 201);
        let verified: Vec<_> = phone
            .app
            .state
            .store
            .list_audit(None, 0, 1000)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.entry.action == "app.phone_verified")
            .map(|e| e.entry.ip)
            .collect();
        assert_eq!(verified, [Some("192.0.2.44".to_owned())]);
    }

    pub async fn a_code_someone_else_asked_for_does_not_void_yours(db: TestDb) {
        let phone = start(db, |_| {}).await;
        assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
        let mine = phone.last_code().await;
        // A stranger types the principal's number a minute later.
        phone.clock.advance(Duration::seconds(61));
        assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
        let theirs = phone.last_code().await;
        assert_eq!(
            phone.sign_in(&mine).await.status(),
            201,
            "the older code still works"
        );

        // Two newer codes retire it.
        for _ in 0..2 {
            phone.clock.advance(Duration::seconds(61));
            assert_eq!(phone.request_sms(MOBILE).await.status(), 202);
        }
        if theirs != phone.last_code().await {
            let stale = phone.sign_in(&theirs).await;
            assert_error(stale, 422, "sms_code_invalid").await;
        }
        assert_eq!(phone.sign_in(&phone.last_code().await).await.status(), 201);
    }

    pub async fn the_daily_limit_counts_per_requesting_address(db: TestDb) {
        let phone = start(db, |s| {
            s.app.sms_per_phone_per_day = 2;
            s.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
        })
        .await;
        // Start at 01:00 UTC, so the minutes below stay within one day's window.
        let now = phone.clock.now();
        let one_am = (now + Duration::days(1))
            .date_naive()
            .and_hms_opt(1, 0, 0)
            .expect("time")
            .and_utc();
        phone.clock.advance(one_am - now);
        let ask = |from: &'static str| phone.request_sms_from(MOBILE, from);
        for _ in 0..2 {
            assert_eq!(ask("203.0.113.5").await.status(), 202);
            phone.clock.advance(Duration::seconds(61));
        }
        assert_error(ask("203.0.113.5").await, 429, "sms_daily_limit").await;
        // The principal, elsewhere, still gets codes; all addresses together get six.
        for from in ["198.51.100.7", "198.51.100.7", "192.0.2.1", "192.0.2.1"] {
            assert_eq!(ask(from).await.status(), 202, "{from}");
            phone.clock.advance(Duration::seconds(61));
        }
        assert_error(ask("192.0.2.99").await, 429, "sms_daily_limit").await;
    }

    pub async fn forwarding_headers_from_anyone_else_are_ignored(db: TestDb) {
        let phone = start(db, |s| s.app.sms_per_ip_per_hour = 2).await;
        for (n, from) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
            let mobile = format!("1390000000{n}");
            assert_eq!(phone.request_sms_from(&mobile, from).await.status(), 202);
        }
        let spoofed = phone.request_sms_from("13900000009", "203.0.113.3").await;
        assert_error(spoofed, 429, "sms_ip_limit").await;
    }
}
