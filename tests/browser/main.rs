//! The reviewer console (`/review/`) in a real headless Chromium, driven over WebDriver
//! (chromedriver) against a real heyan on SQLite: log in, open a case from the queue, see
//! its four photos and the full ID number, reject it with a reason, and check the store
//! and the filing system's signed `case.decided`. Skipped with a notice when Chromium or
//! chromedriver is missing, unless `REQUIRE_BROWSER=1` (which `.ci/run` sets).

#[path = "../support/mod.rs"]
mod support;

// The API tests' server, fixtures and webhook receiver; this binary uses part of each.
#[allow(dead_code)]
#[path = "../api/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/receiver.rs"]
mod receiver;

mod driver;
mod web_flow;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use heyan::clock::{Clock, ManualClock};
use heyan::domain::case::CaseStatus;
use heyan::domain::ids::CaseId;
use heyan::domain::role::Role;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::driver::{artifacts_dir, tools_or_skip, ChromeDriver, Page, Screen};
use crate::fixtures::finish_app;
use crate::helpers::{spawn_app_at, TestApp, TestClient, ID_A};
use crate::receiver::Receiver;
use crate::support::TestDb;

const REVIEWER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
/// The whole drive, as a backstop against a hung browser; each wait has its own deadline.
const WHOLE_TEST: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_rejects_a_case_in_the_console_and_the_filing_system_hears_of_it() {
    let Some(tools) = tools_or_skip() else {
        return;
    };
    let started = Instant::now();
    let artifacts = artifacts_dir();
    let chromedriver = ChromeDriver::start(&tools, &artifacts.join("chromedriver.log")).await;
    let desk = desk(TestDb::sqlite().await).await;
    let case_id = desk.case_in_review("B-1").await;

    let page = chromedriver.session(&tools, Screen::Desktop).await;
    let drive = tokio::time::timeout(WHOLE_TEST, reject_in_console(&page, &desk, &case_id));
    if drive.await.is_err() {
        page.fail(&format!("the drive took over {}s", WHOLE_TEST.as_secs()))
            .await;
    }
    page.close().await;
    drop(chromedriver);

    // The decision as the server recorded it.
    let case = desk
        .app
        .state
        .store
        .get_case(&CaseId::parse(&case_id).expect("case id"))
        .await
        .expect("case");
    assert_eq!(
        case.status,
        CaseStatus::Rejected,
        "case status in the store"
    );

    // The filing system heard of it once, signed, with the ticked reason.
    let inbox = &desk.receiver.inbox;
    inbox
        .wait_for("case.decided", |i| {
            !i.accepted_of("case.decided").is_empty()
        })
        .await;
    let decided = inbox.accepted_of("case.decided");
    assert_eq!(decided.len(), 1, "case.decided events: {decided:?}");
    assert_eq!(
        inbox
            .bad_signatures
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "webhooks with bad signatures"
    );
    let event = &decided[0];
    assert_eq!(event["data"]["case_id"], case_id.as_str());
    assert_eq!(event["data"]["details"]["decision"], "rejected");
    assert_eq!(
        event["data"]["details"]["reasons"],
        json!([{"code": "id_unreadable", "step": "front"}])
    );
    println!("browser test took {:.1}s", started.elapsed().as_secs_f64());
}

/// What the reviewer does in the browser, checked step by step.
async fn reject_in_console(page: &Page, desk: &Desk, case_id: &str) {
    page.goto(&format!("{}/review/", desk.app.address)).await;
    page.wait_for("the login form", "body[data-view=login]")
        .await;
    page.type_into("#login-username", REVIEWER).await;
    page.type_into("#login-password", PASSWORD).await;
    page.click("#login-submit").await;

    let row = format!("table#queue tbody tr[data-case-id=\"{case_id}\"]");
    page.wait_for(
        "the case in the queue",
        &format!("body[data-view=queue] {row}"),
    )
    .await;
    page.click(&row).await;
    page.wait_for(
        "the case view to load",
        &format!("body[data-view=case] #case-view[data-case-id=\"{case_id}\"][data-loaded=true]"),
    )
    .await;

    // Every photo decoded: complete with a natural size (a broken image is complete
    // with naturalWidth 0).
    let photos = page
        .poll(
            "the four photos to finish loading",
            "const imgs = [...document.querySelectorAll('img.case-photo')]; \
             if (imgs.length < 4 || !imgs.every((i) => i.complete)) return null; \
             return imgs.map((i) => ({ kind: i.dataset.kind, width: i.naturalWidth, height: i.naturalHeight }));",
        )
        .await;
    let kinds: Vec<&str> = photos
        .as_array()
        .expect("photo list")
        .iter()
        .map(|p| p["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["liveness", "handheld", "front", "back"], "{photos}");
    for photo in photos.as_array().expect("photo list") {
        if photo["width"].as_u64().unwrap_or(0) == 0 {
            page.fail(&format!("a photo did not load: {photos}")).await;
        }
    }
    let failed = page
        .js("return document.querySelectorAll('.photo-card.photo-failed, .photo-card.photo-missing').length")
        .await;
    assert_eq!(failed, 0, "photo cards marked failed or missing");

    let id_number = page
        .js("return document.getElementById('case-id-number').textContent")
        .await;
    assert_eq!(id_number, ID_A, "#case-id-number");

    let (path, png) = page.screenshot("case-page.png").await;
    let shot = image::load_from_memory(&png).expect("the screenshot is a PNG");
    assert!(
        shot.width() >= 1000,
        "screenshot only {}×{} px",
        shot.width(),
        shot.height()
    );
    println!("case page screenshot: {}", path.display());

    page.click(r#"input[name=reason][value="id_unreadable:front"]"#)
        .await;
    page.wait_for("reject to be enabled", "#reject:not([disabled])")
        .await;
    page.click("#reject").await;
    let script = format!(
        "return document.body.dataset.view === 'queue' \
           && document.querySelector({row}) === null \
           && !document.getElementById('queue-empty').hidden",
        row = json!(row)
    );
    page.poll("the queue without the case", &script).await;

    let log = page.console_log().await;
    for entry in &log {
        println!("console: {} {}", entry["level"], entry["message"]);
    }
    let unexpected: Vec<&Value> = log.iter().filter(|e| !expected_console_entry(e)).collect();
    assert!(
        unexpected.is_empty(),
        "browser console has errors or CSP violations: {unexpected:#?}\nwhole log: {log:#?}"
    );
}

/// Console entries that are fine: anything below SEVERE except CSP reports, and the
/// 4xx answers the console expects ("Failed to load resource … status of 401").
fn expected_console_entry(entry: &Value) -> bool {
    let message = entry["message"].as_str().unwrap_or_default();
    if message.contains("Content Security Policy") || message.contains("Uncaught") {
        return false;
    }
    if entry["level"] != "SEVERE" {
        return true;
    }
    message.contains("Failed to load resource: the server responded with a status of 4")
}

/// heyan with a clock, a filing-system client whose webhooks go to a checking receiver,
/// and one reviewer.
struct Desk {
    app: TestApp,
    client: TestClient,
    receiver: Receiver,
}

async fn desk(db: TestDb) -> Desk {
    // The browser counts lease renewals on its own wall clock, so the server's clock
    // starts at the real time.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_at(db, clock.clone(), |_| {}).await;
    let receiver = receiver::start(0).await;
    let client = app.add_client("provider", Some(&receiver.url)).await;
    *receiver.inbox.secret.lock().expect("lock") =
        client.webhook_secret.clone().expect("webhook secret");
    heyan::flow::accounts::add_reviewer(
        app.state.store.as_ref(),
        REVIEWER,
        "Alice 审核员",
        &SecretString::from(PASSWORD),
        vec![Role::Reviewer],
        clock.now(),
    )
    .await
    .expect("reviewer added");
    Desk {
        app,
        client,
        receiver,
    }
}

impl Desk {
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
}
