//! The App's phone check, session and consent, through real HTTP, with a local SMS
//! gateway (the `http` provider) that checks heyan's signature and records the codes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};
use heyan::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, json, registration, spawn_app_at, TestApp, TestClient, ID_A};
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
    a_number_in_filings_at_two_providers_chooses_which_to_verify,
    the_qr_code_binds_the_session_to_its_case_only,
    the_web_flow_and_its_entry_serve_open_cases_only,
    turning_the_web_flow_off_leaves_only_the_app,
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

    /// Asks for a code for the registered number, opened from a QR code; `sends` says
    /// whether the code goes out (whether the token's case lists the number).
    pub async fn request_sms_with(&self, download_token: &str, sends: bool) -> reqwest::Response {
        let body = json!({ "mobile": MOBILE, "download_token": download_token });
        let request = self.app.request(Method::POST, "/app/v1/sms").json(&body);
        let response = request.send().await.expect("sent");
        if response.status() == 202 && sends {
            self.asked.fetch_add(1, Ordering::SeqCst);
        }
        response
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

    /// POST /app/v1/sessions with the registered number, `code` and more fields.
    pub async fn sign_in_with(&self, code: &str, extra: Value) -> reqwest::Response {
        let mut body = json!({ "mobile": MOBILE, "code": code });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.app
            .request(Method::POST, "/app/v1/sessions")
            .json(&body)
            .send()
            .await
            .expect("sent")
    }

    /// POST /app/v1/sessions/choice.
    pub async fn choose(&self, choice_token: &str, case_id: &str) -> reqwest::Response {
        self.app
            .request(Method::POST, "/app/v1/sessions/choice")
            .json(&json!({ "choice_token": choice_token, "case_id": case_id }))
            .send()
            .await
            .expect("sent")
    }

    /// A new code for the registered number, a minute after the last one.
    pub async fn fresh_code(&self) -> String {
        self.clock.advance(Duration::seconds(61));
        assert_eq!(self.request_sms(MOBILE).await.status(), 202);
        self.last_code().await
    }

    /// A case registered with the registered number at another provider.
    pub async fn case_elsewhere(&self, provider: &str, filing_id: &str) -> (TestClient, String) {
        self.clock.advance(Duration::seconds(1));
        let client = self.app.add_client(provider, None).await;
        let case_id = self.app.eligible_case(&client, filing_id).await;
        (client, case_id)
    }

    /// When the filing system sees the phone verified in a case (null until then).
    pub async fn phone_verified_at(&self, client: &TestClient, case_id: &str) -> Value {
        let case = json(self.app.get_case(client, case_id).await).await;
        case["steps"]["phone_verified_at"].clone()
    }

    /// How many codes heyan stored for the registered number.
    pub async fn codes_stored(&self) -> usize {
        let keys = &self.app.state.keys;
        let phone = heyan::pii::lookup_hmac(keys, "mobile", MOBILE);
        let stored = self
            .app
            .state
            .store
            .recent_sms_challenges(&phone, 100)
            .await;
        stored.expect("challenges").len()
    }

    /// The actions in a case's audit log, oldest first.
    pub async fn audit_actions(&self, case_id: &str) -> Vec<String> {
        let id = heyan::domain::ids::CaseId::parse(case_id).expect("case id");
        let audit = self.app.state.store.list_audit(Some(&id), 0, 100).await;
        audit
            .expect("audit")
            .into_iter()
            .map(|e| e.entry.action)
            .collect()
    }

    /// The token in a case's QR code.
    pub async fn download_token(&self, client: &TestClient, case_id: &str) -> String {
        let case = json(self.app.get_case(client, case_id).await).await;
        let url = case["download_page_url"].as_str().expect("a landing page");
        url.rsplit('/').next().expect("token").to_owned()
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
        let actions = phone.audit_actions(&phone.case_id).await;
        assert!(
            actions.iter().any(|a| a == "app.phone_verified")
                && actions.iter().any(|a| a == "app.consent_accepted"),
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

    pub async fn a_number_in_filings_at_two_providers_chooses_which_to_verify(db: TestDb) {
        let phone = start(db, |_| {}).await;
        let (other, elsewhere) = phone.case_elsewhere("另一服务商", "OTHER-7").await;
        let code = phone.fresh_code().await;
        let offered = phone.sign_in(&code).await;
        assert_eq!(offered.status(), 200, "a choice, not a session");
        let offered = json(offered).await;
        assert_eq!(offered["next_step"], "choose_case");
        assert!(offered.get("token").is_none(), "no session yet: {offered}");
        let cases = offered["cases"].as_array().expect("cases");
        let shown: Vec<(&str, &str, &str)> = cases
            .iter()
            .map(|c| {
                let field = |name: &str| c[name].as_str().expect("text");
                (field("case_id"), field("provider"), field("filing_id"))
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                (elsewhere.as_str(), "另一服务商", "OTHER-7"),
                (phone.case_id.as_str(), "p", "APP-1"),
            ],
            "newest first"
        );
        for case in cases {
            assert_eq!(case["domains"], json!(["site0.example.cn"]));
            assert_eq!(case["principal_name"], "张*");
            let id_number = case["id_number"].as_str().expect("masked ID");
            assert!(
                id_number.contains('*') && !id_number.contains(&ID_A[4..14]),
                "{id_number}"
            );
        }
        assert!(phone.phone_verified_at(&other, &elsewhere).await.is_null());
        assert!(phone
            .phone_verified_at(&phone.client, &phone.case_id)
            .await
            .is_null());

        // A case that was not offered uses the choice up.
        let token = offered["choice_token"].as_str().expect("choice token");
        let unknown = format!("case_{}", "0".repeat(32));
        assert_error(phone.choose(token, &unknown).await, 422, "case_not_offered").await;
        let again = phone.choose(token, &phone.case_id).await;
        assert_error(again, 410, "case_choice_expired").await;
        assert_error(
            phone.choose("", &phone.case_id).await,
            410,
            "case_choice_expired",
        )
        .await;

        // Verified again, the principal picks their own provider's case.
        let offered = json(phone.sign_in(&phone.fresh_code().await).await).await;
        let token = offered["choice_token"].as_str().expect("choice token");
        let chosen = phone.choose(token, &phone.case_id).await;
        assert_eq!(chosen.status(), 201);
        let session = json(chosen).await;
        assert_eq!(session["case"]["next_step"], "consent");
        let bearer = session["token"].as_str().expect("token");
        assert_eq!(phone.get_case(bearer).await.status(), 200);
        assert!(phone
            .phone_verified_at(&phone.client, &phone.case_id)
            .await
            .is_string());
        assert!(
            phone.phone_verified_at(&other, &elsewhere).await.is_null(),
            "the other provider's case is untouched"
        );
        assert_error(
            phone.choose(token, &elsewhere).await,
            410,
            "case_choice_expired",
        )
        .await;
        let audited = |actions: Vec<String>, action: &str| actions.iter().any(|a| a == action);
        assert!(audited(
            phone.audit_actions(&elsewhere).await,
            "app.case_offered"
        ));
        assert!(!audited(
            phone.audit_actions(&elsewhere).await,
            "app.phone_verified"
        ));
        assert!(audited(
            phone.audit_actions(&phone.case_id).await,
            "app.phone_verified"
        ));

        // Once the other provider's case closes, the one left signs in directly.
        let cancel = format!("/filing/v1/cases/{elsewhere}");
        let cancelled = phone.app.send_as(&other, Method::DELETE, &cancel).await;
        assert_eq!(cancelled.status(), 200);
        let direct = phone.sign_in(&phone.fresh_code().await).await;
        assert_eq!(direct.status(), 201);
    }

    pub async fn the_qr_code_binds_the_session_to_its_case_only(db: TestDb) {
        let phone = start(db, |_| {}).await;
        let (other, elsewhere) = phone.case_elsewhere("另一服务商", "OTHER-8").await;
        let mut someone_else = registration("OTHER-9", &[ID_A]);
        someone_else["websites"][0]["principal"]["mobile"] = json!("13900002222");
        let response = phone.app.post_case(&other, &someone_else).await;
        assert_eq!(response.status(), 201);
        let unrelated = json(response).await["case_id"]
            .as_str()
            .expect("case_id")
            .to_owned();

        // Asked for from another case's QR code, the number gets no code; the answer is
        // the same. From its own case's QR code it does (and only that one is sent).
        let not_this_number = phone.download_token(&other, &unrelated).await;
        let own_token = phone.download_token(&phone.client, &phone.case_id).await;
        let quiet = phone.request_sms_with(&not_this_number, false).await;
        assert_eq!(quiet.status(), 202);
        let quiet = json(quiet).await;
        assert_eq!(
            phone.codes_stored().await,
            0,
            "no code for another case's QR code"
        );
        phone.clock.advance(Duration::seconds(61));
        let sent = phone.request_sms_with(&own_token, true).await;
        assert_eq!(json(sent).await, quiet, "the same answer");
        assert_eq!(phone.codes_stored().await, 1);
        let code = phone.last_code().await;

        let with_token = |token: String| json!({ "download_token": token });
        let refused = phone.sign_in_with(&code, with_token(not_this_number)).await;
        assert_error(refused, 422, "qr_mobile_mismatch").await;
        let garbage = phone
            .sign_in_with(&code, with_token("not-a-token".into()))
            .await;
        assert_error(garbage, 410, "qr_code_invalid").await;
        let elsewhere_token = phone.download_token(&other, &elsewhere).await;
        let cancel = format!("/filing/v1/cases/{elsewhere}");
        assert_eq!(
            phone
                .app
                .send_as(&other, Method::DELETE, &cancel)
                .await
                .status(),
            200
        );
        let closed = phone.sign_in_with(&code, with_token(elsewhere_token)).await;
        assert_error(closed, 410, "qr_code_invalid").await;

        // Refusals about the QR code leave the SMS code valid for the right case.
        let (third, newer) = phone.case_elsewhere("第三服务商", "THIRD-1").await;
        let bound = phone.sign_in_with(&code, with_token(own_token)).await;
        assert_eq!(
            bound.status(),
            201,
            "bound to the QR code's case without a choice"
        );
        assert!(phone
            .phone_verified_at(&phone.client, &phone.case_id)
            .await
            .is_string());
        let session = json(bound).await;
        let bearer = session["token"].as_str().expect("token");
        let seen = json(phone.get_case(bearer).await).await;
        assert_eq!(seen["websites"], json!(["site0.example.cn"]));
        assert!(
            phone.phone_verified_at(&third, &newer).await.is_null(),
            "the newer case at another provider is untouched"
        );
    }

    pub async fn the_web_flow_and_its_entry_serve_open_cases_only(db: TestDb) {
        let phone = start(db, |_| {}).await;
        let token = phone.download_token(&phone.client, &phone.case_id).await;
        let page = phone.app.get(&format!("/m/{token}")).await;
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let permissions = page.headers()["permissions-policy"]
            .to_str()
            .expect("ascii");
        assert!(permissions.contains("camera=(self)"), "{permissions}");
        let html = page.text().await.expect("html");
        assert!(html.contains("/m/static/app.js") && !html.contains("<script>"));
        let script = phone.app.get("/m/static/app.js").await;
        assert_eq!(script.status(), 200);
        assert!(script
            .text()
            .await
            .expect("js")
            .contains("/app/v1/sessions"));
        assert_eq!(phone.app.get("/m/static/other.js").await.status(), 404);

        let entry = phone.app.get(&format!("/app/v1/entry/{token}")).await;
        assert_eq!(entry.status(), 200);
        assert_eq!(
            json(entry).await,
            json!({ "provider": "p", "domains": ["site0.example.cn"], "mobile_hints": ["138****5678"] })
        );
        for bad in ["0".repeat(32), "not-a-token".to_owned()] {
            assert_eq!(phone.app.get(&format!("/m/{bad}")).await.status(), 404);
            let entry = phone.app.get(&format!("/app/v1/entry/{bad}")).await;
            assert_error(entry, 410, "qr_code_invalid").await;
        }
        let cancel = format!("/filing/v1/cases/{}", phone.case_id);
        let cancelled = phone
            .app
            .send_as(&phone.client, Method::DELETE, &cancel)
            .await;
        assert_eq!(cancelled.status(), 200);
        assert_eq!(phone.app.get(&format!("/m/{token}")).await.status(), 404);
        let entry = phone.app.get(&format!("/app/v1/entry/{token}")).await;
        assert_error(entry, 410, "qr_code_invalid").await;
    }

    pub async fn turning_the_web_flow_off_leaves_only_the_app(db: TestDb) {
        let phone = start(db, |s| s.download.web_flow = false).await;
        let token = phone.download_token(&phone.client, &phone.case_id).await;
        assert_eq!(phone.app.get(&format!("/m/{token}")).await.status(), 404);
        let landing = phone.app.get(&format!("/d/{token}")).await;
        assert_eq!(landing.status(), 200);
        let html = landing.text().await.expect("html");
        assert!(!html.contains("/m/") && html.contains("暂不支持"), "{html}");
    }
}
