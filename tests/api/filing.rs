//! The filing-system API end to end: authentication, registration and eligibility,
//! reading, QR codes and the landing page, redemption, photo pulls, submission, cancel,
//! idempotency and quotas — every case on both databases.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use heyan::blob::{BlobError, BlobId};
use heyan::clock::ManualClock;
use heyan::domain::ids::CaseId;
use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures::{finish_app, issue_code};
use crate::helpers::{
    assert_error, json, registration, spawn_app, spawn_app_at, spawn_app_with, ID_A,
};
use crate::support::TestDb;

crate::on_both_databases!(crate::filing::cases =>
    requests_without_a_valid_key_get_401_with_a_code,
    a_rotated_key_works_alongside_the_old_until_it_is_revoked,
    registering_an_eligible_case_answers_201_with_personal_data_masked,
    registering_the_same_filing_id_again_returns_the_existing_case,
    ineligible_cases_name_their_reason,
    every_invalid_field_is_reported_at_once_with_its_path,
    another_clients_case_is_indistinguishable_from_a_missing_one,
    a_case_can_be_read_by_filing_id,
    an_idempotency_key_replays_the_first_answer_and_refuses_another_body,
    the_qr_png_decodes_to_the_cases_landing_page,
    the_qr_svg_and_size_bounds,
    the_landing_page_fits_the_phone_and_counts_scans,
    redeeming_before_the_app_finished_is_a_conflict,
    a_code_redeems_once_and_returns_the_photo_manifest,
    a_wrong_code_says_how_many_tries_remain_and_ten_lock_the_filing,
    racing_wrong_codes_are_all_counted,
    wrong_codes_count_within_an_hour_of_the_first,
    a_new_code_voids_the_old_one,
    concurrent_redemptions_of_one_code_have_one_winner,
    photos_are_pulled_only_after_redemption_and_every_pull_is_audited,
    submitting_puts_the_case_in_review_due_in_one_business_day,
    cancelling_purges_photos_and_later_calls_say_cancelled,
    the_per_client_quota_answers_429_with_retry_after,
);

#[tokio::test]
async fn an_expired_code_answers_410() {
    let db = TestDb::sqlite().await;
    expired_code(db).await;
}

#[tokio::test]
async fn an_expired_code_answers_410_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        expired_code(db).await;
    }
}

async fn expired_code(db: TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_at(db, clock.clone(), |_| {}).await;
    let client = app.add_client("p", None).await;
    let case = app.eligible_case(&client, "F-EXP").await;
    let code = finish_app(&app, &case).await;
    clock.advance(Duration::hours(72));
    assert_error(app.redeem(&client, &case, &code).await, 410, "code_expired").await;
}

fn rqrr_decode(png: &[u8]) -> String {
    let img = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("decodable").1
}

pub mod cases {
    use super::*;

    pub async fn requests_without_a_valid_key_get_401_with_a_code(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let path = "/filing/v1/filings/F1";
        assert_error(app.get(path).await, 401, "missing_api_key").await;
        let malformed = app
            .request(Method::GET, path)
            .header("authorization", "Basic abc")
            .send()
            .await
            .expect("sent");
        assert_error(malformed, 401, "malformed_api_key").await;
        let unknown_key = format!("hyk_{}", "A".repeat(43));
        let unknown = app
            .request(Method::GET, path)
            .bearer_auth(unknown_key)
            .send()
            .await
            .expect("sent");
        assert_error(unknown, 401, "unknown_api_key").await;
        assert_eq!(app.send_as(&client, Method::GET, path).await.status(), 404);

        app.state
            .store
            .revoke_client(&client.id, app.state.clock.now())
            .await
            .expect("revoke");
        let revoked = app.send_as(&client, Method::GET, path).await;
        assert_error(revoked, 401, "revoked_api_key").await;
    }

    pub async fn a_rotated_key_works_alongside_the_old_until_it_is_revoked(db: TestDb) {
        let app = spawn_app(db).await;
        let old = app.add_client("p", None).await;
        let now = app.state.clock.now();
        let new_key = heyan::flow::accounts::rotate_key(app.state.store.as_ref(), &old.id, now)
            .await
            .expect("rotate");
        let new = crate::helpers::TestClient {
            key: secrecy::ExposeSecret::expose_secret(&new_key).to_owned(),
            ..old.clone()
        };
        let case = app.eligible_case(&old, "F-ROT").await;
        assert_eq!(
            app.get_case(&new, &case).await.status(),
            200,
            "new key works during the rotation"
        );
        assert_eq!(
            app.get_case(&old, &case).await.status(),
            200,
            "old key still works"
        );
        let third = heyan::flow::accounts::rotate_key(app.state.store.as_ref(), &old.id, now).await;
        assert!(
            matches!(
                third,
                Err(heyan::flow::FlowError::Refused {
                    code: heyan::error_code::ErrorCode::TwoKeysActive,
                    ..
                })
            ),
            "a third key waits"
        );

        let keys = app
            .state
            .store
            .list_client_keys(&old.id)
            .await
            .expect("keys");
        let old_key = keys
            .iter()
            .find(|k| old.key.starts_with(&k.key_prefix))
            .expect("the old key");
        app.state
            .store
            .revoke_client_key(&old_key.id, now)
            .await
            .expect("revoke old");
        assert_error(app.get_case(&old, &case).await, 401, "revoked_api_key").await;
        assert_eq!(app.get_case(&new, &case).await.status(), 200);
    }

    pub async fn registering_an_eligible_case_answers_201_with_personal_data_masked(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let response = app.post_case(&client, &registration("BA-1", &[ID_A])).await;
        assert_eq!(response.status(), 201);
        let text = response.text().await.expect("body");
        for secret in [ID_A, "13812345678", "张三"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(body["eligible"], true);
        assert_eq!(body["status"], "awaiting_app");
        assert_eq!(body["subject_name"], "张*");
        assert_eq!(
            body["websites"][0]["principal"]["id_number"],
            "110***********002X"
        );
        assert_eq!(body["websites"][0]["principal"]["mobile"], "138****5678");
        assert!(body["ineligible_reason"].is_null());
        let url = body["download_page_url"].as_str().expect("landing URL");
        assert!(url.starts_with(&format!("{}/d/", app.address)), "{url}");
        assert_eq!(
            url.rsplit('/').next().map(str::len),
            Some(32),
            "128-bit token"
        );

        let id = CaseId::parse(body["case_id"].as_str().expect("id")).expect("case id");
        let sites = app.state.store.list_websites(&id).await.expect("websites");
        assert!(!sites[0].id_number_sealed.contains(ID_A), "sealed at rest");
        assert!(
            !sites[0].mobile_sealed.contains("13812345678"),
            "sealed at rest"
        );
    }

    pub async fn registering_the_same_filing_id_again_returns_the_existing_case(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let first = json(app.post_case(&client, &registration("BA-2", &[ID_A])).await).await;
        let again = app.post_case(&client, &registration("BA-2", &[ID_A])).await;
        assert_eq!(again.status(), 200);
        assert_eq!(json(again).await["case_id"], first["case_id"]);
        // Another client may use the same filing id for its own case.
        let other = app.add_client("q", None).await;
        let theirs = app.post_case(&other, &registration("BA-2", &[ID_A])).await;
        assert_eq!(theirs.status(), 201);
        assert_ne!(json(theirs).await["case_id"], first["case_id"]);
    }

    pub async fn ineligible_cases_name_their_reason(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let other_id = {
            let first17 = "31010119900307102";
            format!(
                "{first17}{}",
                heyan::domain::resident_id::check_char(first17).expect("digits")
            )
        };
        let mut passport = registration("BA-P", &[ID_A]);
        passport["websites"][0]["principal"]["id_type"] = json!("passport");
        passport["websites"][0]["principal"]["id_number"] = json!("E12345678");
        let mut beijing = registration("BA-B", &[ID_A]);
        beijing["region"] = json!("北京");
        let cases = [
            ("passport", passport, "id_type_not_resident_card"),
            (
                "two principals",
                registration("BA-D", &[ID_A, &other_id]),
                "principals_differ",
            ),
            ("Beijing", beijing, "region_not_shanghai"),
        ];
        for (what, body, reason) in cases {
            let response = app.post_case(&client, &body).await;
            assert_eq!(response.status(), 201, "{what}");
            let case = json(response).await;
            assert_eq!(case["eligible"], false, "{what}");
            assert_eq!(case["status"], "ineligible", "{what}");
            assert_eq!(case["ineligible_reason"]["code"], reason, "{what}");
            assert!(
                case["ineligible_reason"]["message_zh"]
                    .as_str()
                    .is_some_and(|m| m.contains("普通拍照")),
                "{what}"
            );
            assert!(
                case["download_page_url"].is_null(),
                "{what}: no QR for an ineligible case"
            );
            let id = case["case_id"].as_str().expect("id");
            let qr = app
                .send_as(
                    &client,
                    Method::GET,
                    &format!("/filing/v1/cases/{id}/qr.png"),
                )
                .await;
            assert_error(qr, 409, "case_ineligible").await;
            let submit = app
                .send_as(
                    &client,
                    Method::POST,
                    &format!("/filing/v1/cases/{id}/submit"),
                )
                .await;
            assert_error(submit, 409, "case_ineligible").await;
        }
        let same_person_twice = app
            .post_case(&client, &registration("BA-S", &[ID_A, ID_A]))
            .await;
        assert_eq!(
            json(same_person_twice).await["eligible"],
            true,
            "one principal on two sites"
        );
    }

    pub async fn every_invalid_field_is_reported_at_once_with_its_path(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let mut body = registration("BA 3", &[ID_A, "110105194912310021"]);
        body["subject_type"] = json!("company");
        body["websites"][0]["domain"] = json!("http://example.cn/x");
        body["websites"][0]["principal"]["mobile"] = json!("12345");
        body["websites"][1]["principal"]["id_type"] = json!("driving_licence");
        body["websites"][1]["principal"]["id_number"] = json!("x");
        let response = app.post_case(&client, &body).await;
        let err = assert_error(response, 422, "invalid_input").await;
        let fields = err["fields"].as_object().expect("fields");
        let expected = [
            ("filing_id", "invalid_character"),
            ("subject_type", "invalid"),
            ("websites[0].domain", "has_scheme_or_path"),
            ("websites[0].principal.mobile", "wrong_length"),
            ("websites[1].principal.id_type", "unknown_id_type"),
        ];
        for (path, code) in expected {
            assert_eq!(fields.get(path), Some(&json!([code])), "{path}: {err}");
        }
        let mut checksum = registration("BA-4", &[ID_A, "110105194912310021"]);
        checksum["websites"][0]["principal"]["name"] = json!("");
        let err = assert_error(
            app.post_case(&client, &checksum).await,
            422,
            "invalid_input",
        )
        .await;
        assert_eq!(
            err["fields"]["websites[1].principal.id_number"],
            json!(["bad_check_digit"]),
            "{err}"
        );
        assert_eq!(
            err["fields"]["websites[0].principal.name"],
            json!(["empty"]),
            "{err}"
        );

        let empty = app.post_case(&client, &json!({})).await;
        let err = assert_error(empty, 422, "invalid_input").await;
        assert_eq!(err["fields"]["websites"], json!(["empty"]));
        let not_json = app
            .as_client(&client, Method::POST, "/filing/v1/cases")
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .expect("sent");
        assert_error(not_json, 400, "malformed_json").await;
        assert!(
            app.state
                .store
                .find_case_by_filing_id(&client.id, "BA-4")
                .await
                .expect("query")
                .is_none(),
            "nothing stored"
        );
    }

    pub async fn another_clients_case_is_indistinguishable_from_a_missing_one(db: TestDb) {
        let app = spawn_app(db).await;
        let owner = app.add_client("owner", None).await;
        let stranger = app.add_client("stranger", None).await;
        let case = app.eligible_case(&owner, "BA-5").await;
        let theirs = json(app.get_case(&stranger, &case).await).await;
        let missing = json(app.get_case(&stranger, &CaseId::new().to_string()).await).await;
        let malformed = json(app.get_case(&stranger, "not-an-id").await).await;
        assert_eq!(theirs["code"], "not_found");
        assert_eq!(theirs, missing);
        assert_eq!(theirs, malformed);
        for path in ["qr.png", "photos/front"] {
            let r = app
                .send_as(
                    &stranger,
                    Method::GET,
                    &format!("/filing/v1/cases/{case}/{path}"),
                )
                .await;
            assert_error(r, 404, "not_found").await;
        }
        let delete = app
            .send_as(
                &stranger,
                Method::DELETE,
                &format!("/filing/v1/cases/{case}"),
            )
            .await;
        assert_error(delete, 404, "not_found").await;
        assert_eq!(
            json(app.get_case(&owner, &case).await).await["status"],
            "awaiting_app",
            "untouched"
        );
    }

    pub async fn a_case_can_be_read_by_filing_id(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-6").await;
        let response = app
            .send_as(&client, Method::GET, "/filing/v1/filings/BA-6")
            .await;
        assert_eq!(response.status(), 200);
        let body = json(response).await;
        assert_eq!(body["case_id"], case.as_str());
        assert_eq!(body["steps"]["code_issued_at"], Value::Null);
    }

    pub async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let send = |body: Value| {
            app.as_client(&client, Method::POST, "/filing/v1/cases")
                .header("idempotency-key", "req-1")
                .json(&body)
                .send()
        };
        let first = send(registration("BA-7", &[ID_A])).await.expect("sent");
        assert_eq!(first.status(), 201);
        let first = json(first).await;
        let replay = send(registration("BA-7", &[ID_A])).await.expect("sent");
        assert_eq!(replay.status(), 201, "the first status is replayed");
        assert_eq!(
            replay
                .headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert_eq!(json(replay).await, first);
        let other = send(registration("BA-8", &[ID_A])).await.expect("sent");
        assert_error(other, 422, "idempotency_key_reused").await;
        assert!(app
            .state
            .store
            .find_case_by_filing_id(&client.id, "BA-8")
            .await
            .expect("query")
            .is_none());
        let bad_key = app
            .as_client(&client, Method::POST, "/filing/v1/cases")
            .header("idempotency-key", "")
            .json(&registration("BA-9", &[ID_A]))
            .send()
            .await
            .expect("sent");
        assert_error(bad_key, 400, "invalid_idempotency_key").await;
    }

    pub async fn the_qr_png_decodes_to_the_cases_landing_page(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-10").await;
        let landing = json(app.get_case(&client, &case).await).await["download_page_url"]
            .as_str()
            .expect("url")
            .to_owned();
        for size in [128, 512, 2048] {
            let r = app
                .send_as(
                    &client,
                    Method::GET,
                    &format!("/filing/v1/cases/{case}/qr.png?size={size}"),
                )
                .await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "image/png");
            let png = r.bytes().await.expect("bytes");
            assert_eq!(rqrr_decode(&png), landing, "size {size}");
        }
    }

    pub async fn the_qr_svg_and_size_bounds(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-11").await;
        let r = app
            .send_as(
                &client,
                Method::GET,
                &format!("/filing/v1/cases/{case}/qr.svg"),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        assert!(r.text().await.expect("text").contains("<svg"));
        for bad in ["size=127", "size=2049", "size=big"] {
            let r = app
                .send_as(
                    &client,
                    Method::GET,
                    &format!("/filing/v1/cases/{case}/qr.png?{bad}"),
                )
                .await;
            assert_eq!(r.status(), 400, "{bad}");
        }
    }

    pub async fn the_landing_page_fits_the_phone_and_counts_scans(db: TestDb) {
        let app = spawn_app_with(db, |s| {
            s.download.android_url = Some("https://apps.example.com/heyan.apk".into());
        })
        .await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-12").await;
        let landing = json(app.get_case(&client, &case).await).await["download_page_url"]
            .as_str()
            .expect("url")
            .to_owned();
        let path = landing.trim_start_matches(&app.address).to_owned();
        let token = path.rsplit('/').next().expect("token").to_owned();
        let page = |ua: &'static str| {
            let path = path.clone();
            let app = &app;
            async move {
                let r = app
                    .request(Method::GET, &path)
                    .header("user-agent", ua)
                    .send()
                    .await
                    .expect("sent");
                (r.status().as_u16(), r.text().await.expect("html"))
            }
        };
        let (status, android) = page("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36").await;
        assert_eq!(status, 200);
        assert!(
            android.contains("https://apps.example.com/heyan.apk"),
            "Android gets the link"
        );
        let (_, wechat) = page("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Mobile Safari/537.36 MicroMessenger/8.0.47").await;
        assert!(
            wechat.contains("在浏览器打开"),
            "WeChat gets the open-in-browser instruction"
        );
        assert!(
            !wechat.contains("heyan.apk"),
            "no link that cannot work inside WeChat"
        );
        let (_, iphone) = page("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1").await;
        assert!(
            iphone.contains(&format!("href=\"/m/{token}\"")) && !iphone.contains("暂不支持"),
            "no iOS link configured: the web flow, nothing to install"
        );
        for html in [&android, &wechat] {
            let web = html
                .find("在浏览器中完成核验")
                .expect("the web flow is offered");
            assert!(
                html.find("下载 App").is_none_or(|app| web < app),
                "the web flow first"
            );
        }
        assert_eq!(
            json(app.get_case(&client, &case).await).await["qr_scans"],
            3
        );

        let unknown = app.get(&format!("/d/{}", "0".repeat(32))).await;
        assert_eq!(unknown.status(), 404);
        assert!(
            unknown
                .text()
                .await
                .expect("html")
                .contains("lang=\"zh-CN\""),
            "a friendly page, not JSON"
        );
        app.send_as(&client, Method::DELETE, &format!("/filing/v1/cases/{case}"))
            .await;
        let (status, _) = page("Mozilla/5.0 (Linux; Android 14)").await;
        assert_eq!(status, 404, "a cancelled case's code has expired");
    }

    pub async fn redeeming_before_the_app_finished_is_a_conflict(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-13").await;
        assert_error(
            app.redeem(&client, &case, "ABCD-EFGH").await,
            409,
            "code_not_issued",
        )
        .await;
    }

    pub async fn a_code_redeems_once_and_returns_the_photo_manifest(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-14").await;
        let code = finish_app(&app, &case).await;
        let typed = format!(" {}-{} ", code[..4].to_lowercase(), &code[4..]);
        let response = app.redeem(&client, &case, &typed).await;
        assert_eq!(response.status(), 200);
        let manifest = json(response).await;
        assert_eq!(manifest["status"], "redeemed");
        let kinds: Vec<&str> = manifest["photos"]
            .as_array()
            .expect("photos")
            .iter()
            .map(|p| p["kind"].as_str().expect("kind"))
            .collect();
        assert_eq!(kinds, ["liveness", "handheld", "front", "back"]);
        let id = CaseId::parse(&case).expect("id");
        let stored = app.state.store.list_photos(&id).await.expect("photos");
        for entry in manifest["photos"].as_array().expect("photos") {
            let record = stored
                .iter()
                .find(|p| p.kind.as_str() == entry["kind"])
                .expect("stored");
            assert_eq!(entry["sha256"], record.sha256.as_str());
            assert_eq!(entry["width"], 320);
            assert_eq!(entry["size_bytes"], record.size_bytes);
            assert_eq!(
                entry["url"],
                format!(
                    "{}/filing/v1/cases/{case}/photos/{}",
                    app.address,
                    entry["kind"].as_str().expect("kind")
                )
            );
        }
        assert_error(
            app.redeem(&client, &case, &code).await,
            409,
            "code_already_used",
        )
        .await;
    }

    pub async fn a_wrong_code_says_how_many_tries_remain_and_ten_lock_the_filing(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-15").await;
        let code = finish_app(&app, &case).await;
        let wrong = if code == "22222222" {
            "33333333"
        } else {
            "22222222"
        };
        let first =
            assert_error(app.redeem(&client, &case, wrong).await, 422, "code_invalid").await;
        assert!(
            first["message_en"]
                .as_str()
                .is_some_and(|m| m.contains("9 attempts left")),
            "{first}"
        );
        for _ in 0..8 {
            assert_error(
                app.redeem(&client, &case, "not a code").await,
                422,
                "code_invalid",
            )
            .await;
        }
        let tenth = app.redeem(&client, &case, wrong).await;
        assert_eq!(
            tenth
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("3600")
        );
        assert_error(tenth, 429, "too_many_attempts").await;
        let locked = app.redeem(&client, &case, &code).await;
        assert!(locked.headers().contains_key("retry-after"));
        assert_error(locked, 429, "too_many_attempts").await;
    }

    pub async fn racing_wrong_codes_are_all_counted(db: TestDb) {
        let app = Arc::new(spawn_app(db).await);
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-RACE").await;
        let code = finish_app(&app, &case).await;
        let racers: Vec<_> = (0..30)
            .map(|i| {
                let (app, client, case) = (app.clone(), client.clone(), case.clone());
                // Well-formed codes that are all wrong (the real one is skipped).
                let guess = format!("{:08}", 10_000_000 + i);
                tokio::spawn(
                    async move { app.redeem(&client, &case, &guess).await.status().as_u16() },
                )
            })
            .collect();
        let mut statuses = Vec::new();
        for r in racers {
            statuses.push(r.await.expect("task"));
        }
        let wrong = statuses.iter().filter(|s| **s == 422).count();
        assert!(wrong <= 9, "at most nine plain refusals: {statuses:?}");
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            30 - wrong,
            "{statuses:?}"
        );
        let checked = app
            .state
            .store
            .list_audit(Some(&CaseId::parse(&case).expect("id")), 0, 1000)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.entry.action == "code.redeem_failed")
            .count();
        assert_eq!(checked, 10, "exactly ten codes were tried");
        assert_error(
            app.redeem(&client, &case, &code).await,
            429,
            "too_many_attempts",
        )
        .await;
    }

    pub async fn wrong_codes_count_within_an_hour_of_the_first(db: TestDb) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = spawn_app_at(db, clock.clone(), |_| {}).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-RUN").await;
        let code = finish_app(&app, &case).await;
        for _ in 0..9 {
            assert_error(
                app.redeem(&client, &case, "00000000").await,
                422,
                "code_invalid",
            )
            .await;
        }
        // An hour after the first wrong code the count starts again.
        clock.advance(Duration::minutes(61));
        let fresh = assert_error(
            app.redeem(&client, &case, "00000000").await,
            422,
            "code_invalid",
        )
        .await;
        assert!(
            fresh["message_en"]
                .as_str()
                .is_some_and(|m| m.contains("9 attempts left")),
            "{fresh}"
        );
        assert_eq!(app.redeem(&client, &case, &code).await.status(), 200);
    }

    pub async fn a_new_code_voids_the_old_one(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-16").await;
        let old = finish_app(&app, &case).await;
        let new = issue_code(&app, &case).await;
        if old != new {
            assert_error(app.redeem(&client, &case, &old).await, 422, "code_invalid").await;
        }
        assert_eq!(app.redeem(&client, &case, &new).await.status(), 200);
    }

    pub async fn concurrent_redemptions_of_one_code_have_one_winner(db: TestDb) {
        let app = Arc::new(spawn_app(db).await);
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-17").await;
        let code = finish_app(&app, &case).await;
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let (app, client, case, code) =
                    (app.clone(), client.clone(), case.clone(), code.clone());
                tokio::spawn(
                    async move { app.redeem(&client, &case, &code).await.status().as_u16() },
                )
            })
            .collect();
        let mut statuses = Vec::new();
        for r in racers {
            statuses.push(r.await.expect("task"));
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    }

    pub async fn photos_are_pulled_only_after_redemption_and_every_pull_is_audited(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-18").await;
        let code = finish_app(&app, &case).await;
        let path = format!("/filing/v1/cases/{case}/photos/front");
        assert_error(
            app.send_as(&client, Method::GET, &path).await,
            409,
            "code_not_redeemed",
        )
        .await;
        let manifest = json(app.redeem(&client, &case, &code).await).await;
        let front = manifest["photos"]
            .as_array()
            .expect("photos")
            .iter()
            .find(|p| p["kind"] == "front")
            .expect("front")
            .clone();

        let r = app.send_as(&client, Method::GET, &path).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let etag = r.headers()["etag"].to_str().expect("ascii").to_owned();
        assert_eq!(
            etag,
            format!("\"{}\"", front["sha256"].as_str().expect("sha"))
        );
        let bytes = r.bytes().await.expect("bytes");
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            front["sha256"].as_str().expect("sha")
        );
        let again = app
            .as_client(&client, Method::GET, &path)
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("sent");
        assert_eq!(again.status(), 304);
        assert_error(
            app.send_as(
                &client,
                Method::GET,
                &format!("/filing/v1/cases/{case}/photos/selfie"),
            )
            .await,
            404,
            "not_found",
        )
        .await;

        let id = CaseId::parse(&case).expect("id");
        let audit = app
            .state
            .store
            .list_audit(Some(&id), 0, 100)
            .await
            .expect("audit");
        let pulls: Vec<_> = audit
            .iter()
            .filter(|e| e.entry.action == "photo.pulled")
            .collect();
        assert_eq!(pulls.len(), 2, "both pulls audited");
        assert_eq!(pulls[0].entry.actor_id, client.id.to_string());
        assert!(pulls[0].entry.details.contains("\"front\""));
        assert!(pulls[0].entry.ip.as_deref() == Some("127.0.0.1"));
    }

    pub async fn submitting_puts_the_case_in_review_due_in_one_business_day(db: TestDb) {
        // Friday 2025-03-07 15:00 in Shanghai is due Monday 2025-03-10 15:00.
        let friday = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2025, 3, 7, 15, 0, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc);
        let app = spawn_app_at(db, Arc::new(ManualClock::new(friday)), |_| {}).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-19").await;
        let code = finish_app(&app, &case).await;
        let submit = || {
            app.as_client(
                &client,
                Method::POST,
                &format!("/filing/v1/cases/{case}/submit"),
            )
            .send()
        };
        assert_error(submit().await.expect("sent"), 409, "code_not_redeemed").await;
        app.redeem(&client, &case, &code).await;
        let r = submit().await.expect("sent");
        assert_eq!(r.status(), 200);
        let body = json(r).await;
        assert_eq!(body["status"], "in_review");
        assert_eq!(body["due_at"], "2025-03-10T07:00:00Z");
        assert_error(submit().await.expect("sent"), 409, "already_submitted").await;
    }

    pub async fn cancelling_purges_photos_and_later_calls_say_cancelled(db: TestDb) {
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-20").await;
        let code = finish_app(&app, &case).await;
        let id = CaseId::parse(&case).expect("id");
        let blobs: Vec<BlobId> = app
            .state
            .store
            .list_photos(&id)
            .await
            .expect("photos")
            .into_iter()
            .map(|p| p.blob_id)
            .collect();
        assert_eq!(blobs.len(), 4);

        let r = app
            .send_as(&client, Method::DELETE, &format!("/filing/v1/cases/{case}"))
            .await;
        assert_eq!(r.status(), 200);
        let body = json(r).await;
        assert_eq!(body["status"], "cancelled");
        assert!(body["cancelled_at"].is_string());
        for blob in &blobs {
            let gone = app.state.blobs.get(blob).await;
            assert!(
                matches!(gone, Err(BlobError::NotFound)),
                "blob {blob} purged"
            );
        }
        assert!(app
            .state
            .store
            .list_photos(&id)
            .await
            .expect("photos")
            .is_empty());
        assert_error(
            app.redeem(&client, &case, &code).await,
            410,
            "case_cancelled",
        )
        .await;
        let again = app
            .send_as(&client, Method::DELETE, &format!("/filing/v1/cases/{case}"))
            .await;
        assert_error(again, 410, "case_cancelled").await;
        let qr = app
            .send_as(
                &client,
                Method::GET,
                &format!("/filing/v1/cases/{case}/qr.svg"),
            )
            .await;
        assert_error(qr, 410, "case_cancelled").await;
        assert_eq!(
            json(app.get_case(&client, &case).await).await["status"],
            "cancelled"
        );
        let audit = app
            .state
            .store
            .list_audit(Some(&id), 0, 100)
            .await
            .expect("audit");
        assert!(audit.iter().any(|e| e.entry.action == "case.cancelled"
            && e.entry.details.contains("\"photos_purged\":4")));
    }

    pub async fn the_per_client_quota_answers_429_with_retry_after(db: TestDb) {
        let app = spawn_app_with(db, |s| s.filing.requests_per_minute = 3).await;
        let client = app.add_client("p", None).await;
        let other = app.add_client("q", None).await;
        for _ in 0..3 {
            assert_eq!(
                app.send_as(&client, Method::GET, "/filing/v1/filings/x")
                    .await
                    .status(),
                404
            );
        }
        let limited = app
            .send_as(&client, Method::GET, "/filing/v1/filings/x")
            .await;
        let retry: u64 = limited.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&retry), "{retry}");
        assert_error(limited, 429, "rate_limited").await;
        assert_eq!(
            app.send_as(&other, Method::GET, "/filing/v1/filings/x")
                .await
                .status(),
            404,
            "quotas are per client"
        );
    }
}
