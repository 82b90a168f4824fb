//! The principal's web flow (`/m/{token}`) in headless Chromium sized as a phone, with a
//! fake camera and an emulated location, against a real heyan on SQLite with its real
//! checks: from the QR landing page through SMS (a local gateway that checks heyan's
//! signature), consent, location, liveness on camera frames, the three ID photos chosen
//! as files, to the verification code, which the filing system then redeems. On the way:
//! a wrong SMS code, a blurry photo, a session that expired mid-flow, a reload that
//! resumes; in a second browser, a camera and a location the person refused. Screenshots
//! of every step go to `browser-artifacts/web-*.png`.

use std::f64::consts::TAU;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use heyan::clock::ManualClock;
use reqwest::Method;
use serde_json::{json, Value};

use crate::driver::{artifacts_dir, tools_or_skip, ChromeDriver, Page, Screen};
use crate::helpers::{json, spawn_app_at, TestApp, TestClient};
use crate::receiver::{self, Receiver};
use crate::support::TestDb;

const MOBILE: &str = "13812345678";
const WHOLE_TEST: Duration = Duration::from_secs(300);
/// People's Square, Shanghai.
const SHANGHAI: (f64, f64) = (31.2304, 121.4737);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_finishes_the_whole_check_in_a_phone_browser() {
    let Some(tools) = tools_or_skip() else {
        return;
    };
    let started = Instant::now();
    let artifacts = artifacts_dir();
    let camera = fake_camera(&artifacts);
    let chromedriver = ChromeDriver::start(&tools, &artifacts.join("chromedriver-web.log")).await;
    let site = site(TestDb::sqlite().await).await;
    let case_id = site.app.eligible_case(&site.client, "WEB-1").await;
    let token = site.download_token(&case_id).await;

    let screen = Screen::Phone {
        camera: camera.clone(),
        grant_camera: true,
    };
    let page = chromedriver.session(&tools, screen).await;
    let drive = tokio::time::timeout(WHOLE_TEST, finish_in_browser(&page, &site, &token));
    let code = match drive.await {
        Ok(code) => code,
        Err(_) => {
            page.fail(&format!("the drive took over {}s", WHOLE_TEST.as_secs()))
                .await
        }
    };
    assert_console_clean(&page).await;
    page.close().await;

    // The filing system redeems the code read from the page and pulls four stamped photos.
    let redeemed = site.app.redeem(&site.client, &case_id, &code).await;
    assert_eq!(redeemed.status(), 200, "redeeming the code from the page");
    let manifest = json(redeemed).await;
    let photos = manifest["photos"].as_array().expect("photos");
    let kinds: Vec<&str> = photos.iter().filter_map(|p| p["kind"].as_str()).collect();
    assert_eq!(kinds, ["liveness", "handheld", "front", "back"]);
    for photo in photos {
        let url = photo["url"].as_str().expect("url");
        let path = url.trim_start_matches(&site.app.address);
        let pulled = site
            .app
            .as_client(&site.client, Method::GET, path)
            .send()
            .await
            .expect("sent");
        assert_eq!(pulled.status(), 200, "{path}");
        let jpeg = pulled.bytes().await.expect("body");
        let decoded = image::load_from_memory(&jpeg).expect("a JPEG");
        assert_eq!(
            i64::from(decoded.width()),
            photo["width"].as_i64().unwrap_or(0)
        );
    }

    // Refused permissions, in a browser whose camera prompt is answered "Block".
    let refused_case = site.app.eligible_case(&site.client, "WEB-2").await;
    let refused_token = site.download_token(&refused_case).await;
    // A minute on, so the number may be sent a code again.
    site.clock.advance(chrono::Duration::seconds(61));
    let screen = Screen::Phone {
        camera,
        grant_camera: false,
    };
    let page = chromedriver.session(&tools, screen).await;
    let drive = tokio::time::timeout(WHOLE_TEST, refuse_permissions(&page, &site, &refused_token));
    if drive.await.is_err() {
        page.fail("the refusals took too long").await;
    }
    assert_console_clean(&page).await;
    page.close().await;
    drop(chromedriver);
    println!(
        "web flow browser test took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Everything a principal does, step by step; gives the code the page shows.
async fn finish_in_browser(page: &Page, site: &Site, token: &str) -> String {
    set_location(page, &site.app.address, Some(SHANGHAI)).await;
    page.goto(&format!("{}/d/{token}", site.app.address)).await;
    page.wait_for(
        "the landing page's web button",
        "a.button.primary[href^='/m/']",
    )
    .await;
    shot(page, "web-0-landing.png").await;
    page.click("a.button.primary[href^='/m/']").await;

    // 1. Phone: the masked registered number as a hint; a wrong code first.
    page.poll(
        "the masked number hint",
        "return document.body.dataset.view === 'phone' \
           && document.getElementById('mobile').placeholder === '138****5678'",
    )
    .await;
    shot(page, "web-1-phone.png").await;
    // The English switch shows the English beside every label, and back.
    page.click("#lang").await;
    let english = page
        .js("return document.querySelector('label[for=mobile]').innerText.trim()")
        .await;
    assert_eq!(english, "The principal's mobile number given in the filing");
    shot(page, "web-1a-english.png").await;
    page.click("#lang").await;
    let code = sign_in(page, site, true).await;
    assert_eq!(code.len(), 6);

    // 2. Consent, in full, accepted explicitly.
    page.poll(
        "the consent text",
        "return document.body.dataset.view === 'consent' \
           && document.getElementById('consent-text').textContent.includes('敏感个人信息')",
    )
    .await;
    let accept_disabled = page
        .js("return document.getElementById('consent-accept').disabled")
        .await;
    assert_eq!(accept_disabled, true, "accept waits for the tick");
    shot(page, "web-2-consent.png").await;
    page.click("#consent-agree").await;
    page.click("#consent-accept").await;

    // A session that ends mid-flow sends the principal back to the phone step, with the
    // server's message, and signing in again resumes where they were.
    page.wait_for("the location step", "body[data-view=location]")
        .await;
    shot(page, "web-3-location.png").await;
    site.clock.advance(chrono::Duration::minutes(31));
    page.click("#locate").await;
    page.wait_for("the liveness step", "body[data-view=liveness]")
        .await;
    page.poll(
        "the front camera playing",
        "const v = document.getElementById('camera'); return v.videoWidth > 0 && !v.paused",
    )
    .await;
    page.click("#liveness-start").await;
    page.wait_for(
        "the expired-session message",
        "body[data-view=phone][data-error=session_expired]",
    )
    .await;
    shot(page, "web-3b-session-expired.png").await;
    sign_in(page, site, false).await;
    page.wait_for("back at the location step", "body[data-view=location]")
        .await;
    page.click("#locate").await;

    // 4. Liveness with the fake front camera, judged by heyan's real check.
    page.poll(
        "the front camera playing",
        "const v = document.getElementById('camera'); \
         return document.body.dataset.view === 'liveness' && v.videoWidth > 0 && !v.paused",
    )
    .await;
    shot(page, "web-4-liveness.png").await;
    page.click("#liveness-start").await;
    page.poll(
        "a prompt for the first action",
        "return document.getElementById('action-prompt').textContent.length > 0",
    )
    .await;
    shot(page, "web-4b-liveness-action.png").await;
    page.poll(
        "the liveness check to pass",
        "if (document.body.dataset.error) return 'error:' + document.body.dataset.error; \
         return document.body.dataset.passed === 'liveness' \
           && document.getElementById('liveness-preview').naturalWidth > 0 && 'passed'",
    )
    .await
    .as_str()
    .filter(|s| *s == "passed")
    .unwrap_or_else(|| panic!("the liveness check failed in the browser"));
    shot(page, "web-4c-liveness-passed.png").await;
    page.click("#liveness-next").await;

    // 5. The three photos, chosen as files; a blurry one first.
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    upload_photo(
        page,
        "handheld",
        &samples.join("handheld-sample.jpg"),
        "web-5",
    )
    .await;
    let blurry = blurry_photo(&samples.join("id-front-sample.jpg"));
    wait_for_photo_step(page, "front").await;
    // A reload resumes at the step the server says is next.
    page.goto(&format!("{}/m/{token}", site.app.address)).await;
    wait_for_photo_step(page, "front").await;
    page.choose_file("#photo-file", &blurry).await;
    page.wait_for("the blur refusal", "body[data-error=too_blurry]")
        .await;
    shot(page, "web-6a-front-blurry.png").await;
    upload_photo(page, "front", &samples.join("id-front-sample.jpg"), "web-6").await;
    upload_photo(page, "back", &samples.join("id-back-sample.jpg"), "web-7").await;

    // 6. The code, large and copyable.
    page.wait_for("the completion step", "body[data-view=complete]")
        .await;
    page.click("#get-code").await;
    let code = page
        .poll(
            "the verification code",
            "return document.body.dataset.code || null",
        )
        .await;
    let shown = page
        .js("return document.getElementById('code-text').textContent")
        .await;
    assert_eq!(shown, code, "the code as text");
    shot(page, "web-8-code.png").await;
    code.as_str().expect("code").to_owned()
}

/// Types the number, asks for a code and signs in; with `wrong_first` a wrong code is
/// typed first and its refusal checked. Gives the right code.
async fn sign_in(page: &Page, site: &Site, wrong_first: bool) -> String {
    page.wait_for("the phone step", "body[data-view=phone]")
        .await;
    page.js("document.getElementById('mobile').value = ''; return true")
        .await;
    page.type_into("#mobile", MOBILE).await;
    let before = site.gateway.inbox.accepted.lock().expect("lock").len();
    page.wait_for("the send button", "#send-code:not([disabled])")
        .await;
    page.click("#send-code").await;
    site.gateway
        .inbox
        .wait_for("the SMS code", |i| {
            i.accepted.lock().expect("lock").len() > before
        })
        .await;
    let code = site.gateway.inbox.accepted.lock().expect("lock")[before]["code"]
        .as_str()
        .expect("code")
        .to_owned();
    if wrong_first {
        let wrong = if code == "000000" { "000001" } else { "000000" };
        page.type_into("#sms-code", wrong).await;
        page.click("#sign-in").await;
        page.wait_for("the wrong-code hint", "body[data-error=sms_code_invalid]")
            .await;
        let message = page
            .js("return document.getElementById('error').textContent")
            .await;
        assert!(
            message.as_str().is_some_and(|m| m.contains("4 次机会")),
            "{message}"
        );
        shot(page, "web-1b-wrong-code.png").await;
        page.js("document.getElementById('sms-code').value = ''; return true")
            .await;
    }
    page.type_into("#sms-code", &code).await;
    page.click("#sign-in").await;
    code
}

async fn wait_for_photo_step(page: &Page, kind: &str) {
    let css = format!("body[data-view=photo] section[data-kind={kind}]");
    page.wait_for(&format!("the {kind} step"), &css).await;
}

/// Chooses `file` on the `kind` step, checks the stamped preview, and confirms it.
async fn upload_photo(page: &Page, kind: &str, file: &Path, shot_prefix: &str) {
    wait_for_photo_step(page, kind).await;
    shot(page, &format!("{shot_prefix}-{kind}.png")).await;
    page.choose_file("#photo-file", file).await;
    page.poll(
        &format!("the stamped {kind} photo"),
        "return !document.getElementById('photo-review').hidden \
           && document.getElementById('photo-preview').naturalWidth > 0",
    )
    .await;
    shot(page, &format!("{shot_prefix}b-{kind}-stamped.png")).await;
    page.click("#photo-confirm").await;
}

/// The camera and location refused: each step says what to do instead of failing.
async fn refuse_permissions(page: &Page, site: &Site, token: &str) {
    set_location(page, &site.app.address, None).await;
    page.goto(&format!("{}/m/{token}", site.app.address)).await;
    sign_in(page, site, false).await;
    page.wait_for("the consent step", "body[data-view=consent]")
        .await;
    page.click("#consent-agree").await;
    page.click("#consent-accept").await;
    page.wait_for("the location step", "body[data-view=location]")
        .await;
    page.click("#locate").await;
    page.wait_for(
        "the location help",
        "body[data-error=location_denied] #location-denied:not([hidden])",
    )
    .await;
    shot(page, "web-9a-location-denied.png").await;
    set_location(page, &site.app.address, Some(SHANGHAI)).await;
    page.click("#locate").await;
    page.wait_for(
        "the camera refusal",
        "body[data-view=liveness][data-error=camera_denied]",
    )
    .await;
    shot(page, "web-9b-camera-denied.png").await;
}

/// Grants (with a position) or denies the location to the page's origin.
async fn set_location(page: &Page, origin: &str, at: Option<(f64, f64)>) {
    match at {
        Some((latitude, longitude)) => {
            page.cdp(
                "Browser.grantPermissions",
                json!({ "origin": origin, "permissions": ["geolocation"] }),
            )
            .await;
            page.cdp(
                "Emulation.setGeolocationOverride",
                json!({ "latitude": latitude, "longitude": longitude, "accuracy": 30 }),
            )
            .await;
        }
        None => {
            page.cdp("Browser.resetPermissions", json!({})).await;
            // No position at all: the page is told the location is unavailable.
            page.cdp("Emulation.setGeolocationOverride", json!({}))
                .await;
        }
    }
}

async fn shot(page: &Page, name: &str) {
    let (_, png) = page.screenshot(name).await;
    let shot = image::load_from_memory(&png).expect("the screenshot is a PNG");
    assert!(
        shot.width() >= 360,
        "{name}: {}×{} px",
        shot.width(),
        shot.height()
    );
}

async fn assert_console_clean(page: &Page) {
    let log = page.console_log().await;
    let unexpected: Vec<&Value> = log
        .iter()
        .filter(|e| !crate::expected_console_entry(e))
        .collect();
    assert!(
        unexpected.is_empty(),
        "browser console has errors or CSP violations: {unexpected:#?}"
    );
}

/// heyan with an SMS gateway that checks heyan's signature and keeps the codes.
struct Site {
    app: TestApp,
    client: TestClient,
    gateway: Receiver,
    clock: Arc<ManualClock>,
}

async fn site(db: TestDb) -> Site {
    let gateway = receiver::start(0).await;
    *gateway.inbox.secret.lock().expect("lock") = "gateway-secret".into();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let url = gateway.url.clone();
    let app = spawn_app_at(db, clock.clone(), move |s| {
        s.sms.provider = heyan::config::SmsProvider::Http;
        s.sms.http_url = Some(url);
        s.sms.http_secret = Some("gateway-secret".to_owned().into());
        // The page counts the resend wait down on the browser's own clock.
        s.app.sms_resend_secs = 2;
    })
    .await;
    let client = app.add_client("示例云", None).await;
    Site {
        app,
        client,
        gateway,
        clock,
    }
}

impl Site {
    async fn download_token(&self, case_id: &str) -> String {
        let case = json(self.app.get_case(&self.client, case_id).await).await;
        let url = case["download_page_url"].as_str().expect("a landing page");
        url.rsplit('/').next().expect("token").to_owned()
    }
}

/// The fake camera's video: the sample face circling on a wall (so a nod and a shake both
/// see it move, and blink and open mouth see one face throughout), 640×480 at 15 fps for
/// two seconds, which Chromium plays in a loop. Written once per run as Y4M (4:2:0).
fn fake_camera(dir: &Path) -> PathBuf {
    const FPS: u32 = 15;
    const FRAMES: u32 = 30;
    /// One circle per second: any 1.25 s of capture spans its whole height and width.
    const PERIOD_FRAMES: f64 = 15.0;
    let path = dir.join("fake-camera.y4m");
    let (w, h) = (640usize, 480usize);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create y4m"));
    writeln!(out, "YUV4MPEG2 W{w} H{h} F{FPS}:1 Ip A1:1 C420jpeg").expect("write");
    for i in 0..FRAMES {
        let angle = TAU * f64::from(i) / PERIOD_FRAMES;
        let (dx, dy) = ((40.0 * angle.cos()) as i64, (36.0 * angle.sin()) as i64);
        let rgb = heyan::imaging::samples::frame(dx, dy, u64::from(i));
        out.write_all(b"FRAME\n").expect("write");
        out.write_all(&yuv420(&rgb, w, h)).expect("write");
    }
    out.flush().expect("flush");
    path
}

/// RGB to full-range BT.601 Y'CbCr 4:2:0 (the JPEG convention Y4M's C420jpeg names).
fn yuv420(rgb: &image::RgbImage, w: usize, h: usize) -> Vec<u8> {
    let px = |x: usize, y: usize| {
        let p = rgb.get_pixel(x as u32, y as u32).0;
        (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]))
    };
    let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    let mut out = Vec::with_capacity(w * h * 3 / 2);
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            out.push(clamp(0.299 * r + 0.587 * g + 0.114 * b));
        }
    }
    let mut cb = Vec::with_capacity(w * h / 4);
    let mut cr = Vec::with_capacity(w * h / 4);
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let mut sum = (0.0, 0.0, 0.0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (r, g, b) = px(x + dx, y + dy);
                sum = (sum.0 + r / 4.0, sum.1 + g / 4.0, sum.2 + b / 4.0);
            }
            let (r, g, b) = sum;
            cb.push(clamp(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b));
            cr.push(clamp(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b));
        }
    }
    out.extend(cb);
    out.extend(cr);
    out
}

/// The front sample blurred as a shaking hand would: the pipeline refuses it as blurry.
fn blurry_photo(sharp: &Path) -> PathBuf {
    let image = image::open(sharp).expect("the sample decodes");
    let blurred = image::imageops::blur(&image.to_rgb8(), 6.0);
    let path = artifacts_dir().join("blurry-front.jpg");
    blurred.save(&path).expect("save the blurry photo");
    path
}
