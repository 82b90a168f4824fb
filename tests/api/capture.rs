//! The App's captures through real HTTP and real images: location and liveness (frames
//! synthesised from a real face photograph), the ID photos in order with retakes and
//! limits, completion and the code the filing system then redeems.

use std::path::PathBuf;

use chrono::Duration;
use heyan::domain::ids::CaseId;
use heyan::domain::liveness::LivenessAction;
use heyan::imaging::samples;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{start, Phone};
use crate::helpers::{assert_error, json};
use crate::support::TestDb;

crate::on_both_databases!(crate::capture::cases =>
    the_whole_app_flow_ends_in_a_code_the_filing_system_redeems,
    captures_wait_for_consent_and_come_in_order,
    outside_shanghai_is_refused_and_only_yes_or_no_is_kept,
    a_challenge_is_single_use_expires_and_takes_only_its_actions,
    failed_liveness_names_the_action_and_the_reason,
    refused_photos_say_why_and_leave_nothing_stored,
    a_retake_replaces_the_photo_and_deletes_the_old_blob,
    per_case_allowances_end_in_a_429,
    a_busy_server_costs_no_upload_and_no_challenge,
    blobs_without_a_photo_row_are_swept_after_an_hour,
);

/// People's Square (WGS-84).
const SHANGHAI: (f64, f64) = (31.2304, 121.4737);

fn sample(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A phone signed in, with consent given.
struct Ready {
    phone: Phone,
    token: String,
}

async fn ready(db: TestDb) -> Ready {
    let phone = start(db, |_| {}).await;
    let token = phone.session().await;
    ready_from(phone, token).await
}

impl Ready {
    fn app(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.phone
            .app
            .request(method, path)
            .bearer_auth(&self.token)
    }

    async fn challenge_at(&self, lat: f64, lon: f64) -> reqwest::Response {
        self.app(Method::POST, "/app/v1/liveness/challenge")
            .json(&json!({ "latitude": lat, "longitude": lon, "accuracy_m": 25.0 }))
            .send()
            .await
            .expect("sent")
    }

    async fn challenge(&self) -> Value {
        let response = self.challenge_at(SHANGHAI.0, SHANGHAI.1).await;
        assert_eq!(response.status(), 201);
        json(response).await
    }

    /// Posts frames: `frames(action)` gives the JPEGs for each action named.
    async fn send_frames(
        &self,
        challenge: &Value,
        actions: &[LivenessAction],
        frames: impl Fn(LivenessAction) -> Vec<Vec<u8>>,
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for &action in actions {
            for jpeg in frames(action) {
                let part = reqwest::multipart::Part::bytes(jpeg).file_name("f.jpg");
                form = form.part(action.as_str(), part);
            }
        }
        let url = challenge["upload_url"].as_str().expect("upload_url");
        self.app(Method::POST, url)
            .multipart(form)
            .send()
            .await
            .expect("sent")
    }

    async fn pass_liveness(&self) -> Value {
        let challenge = self.challenge().await;
        let actions = actions_of(&challenge);
        let response = self
            .send_frames(&challenge, &actions, |a| samples::liveness_frames(a, 4))
            .await;
        assert_eq!(response.status(), 200);
        json(response).await
    }

    async fn put_photo(&self, kind: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.app(Method::PUT, &format!("/app/v1/photos/{kind}"))
            .header("content-type", "image/jpeg")
            .body(bytes)
            .send()
            .await
            .expect("sent")
    }

    async fn put_all_photos(&self) {
        for (kind, file) in [
            ("handheld", "handheld-sample.jpg"),
            ("front", "id-front-sample.jpg"),
            ("back", "id-back-sample.jpg"),
        ] {
            let response = self.put_photo(kind, sample(file)).await;
            assert_eq!(response.status(), 200, "{kind}");
        }
    }

    async fn case_row(&self) -> heyan::store::CaseRecord {
        let id = CaseId::parse(&self.phone.case_id).expect("case id");
        self.phone
            .app
            .state
            .store
            .get_case(&id)
            .await
            .expect("case")
    }
}

fn actions_of(challenge: &Value) -> Vec<LivenessAction> {
    challenge["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| LivenessAction::parse(a["action"].as_str().expect("name")).expect("known"))
        .collect()
}

fn fields(body: &Value, path: &str) -> Vec<String> {
    body["fields"][path]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn decode_jpeg(bytes: &[u8]) -> (u32, u32) {
    let image =
        image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).expect("a JPEG");
    (image.width(), image.height())
}

pub mod cases {
    use super::*;

    pub async fn the_whole_app_flow_ends_in_a_code_the_filing_system_redeems(db: TestDb) {
        let r = ready(db).await;
        let challenge = r.challenge().await;
        let actions = actions_of(&challenge);
        assert!((2..=3).contains(&actions.len()), "{challenge}");
        for a in challenge["actions"].as_array().expect("actions") {
            assert!(a["prompt_zh"].as_str().is_some_and(|p| p.starts_with("请")));
            assert!(a["voice_prompt_id"]
                .as_str()
                .is_some_and(|p| p.starts_with("liveness.")));
        }
        let passed = r
            .send_frames(&challenge, &actions, |a| samples::liveness_frames(a, 4))
            .await;
        assert_eq!(passed.status(), 200);
        let passed = json(passed).await;
        assert_eq!(passed["case"]["next_step"], "handheld");

        r.put_all_photos().await;
        let case = json(r.phone.get_case(&r.token).await).await;
        assert_eq!(case["next_step"], "complete", "{case}");

        // The previews are the stamped JPEGs, not the uploads.
        for kind in ["liveness", "handheld", "front", "back"] {
            let preview = r
                .app(Method::GET, &format!("/app/v1/photos/{kind}"))
                .send()
                .await
                .expect("sent");
            assert_eq!(preview.status(), 200, "{kind}");
            assert_eq!(preview.headers()["cache-control"], "no-store");
            let bytes = preview.bytes().await.expect("body");
            let (w, h) = decode_jpeg(&bytes);
            assert!(w.max(h) <= 2048 && w.min(h) >= 360, "{kind}: {w}×{h}");
        }
        let front = sample("id-front-sample.jpg");
        let stored = r
            .app(Method::GET, "/app/v1/photos/front")
            .send()
            .await
            .expect("sent")
            .bytes()
            .await
            .expect("body");
        assert_ne!(
            stored.as_ref(),
            front.as_slice(),
            "the original is never kept"
        );

        let done = r
            .app(Method::POST, "/app/v1/complete")
            .send()
            .await
            .expect("sent");
        assert_eq!(done.status(), 201);
        let done = json(done).await;
        let code = done["code"].as_str().expect("code").to_owned();
        assert_eq!(code.len(), 8);
        assert!(code
            .chars()
            .all(|c| "23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(c)));
        let png = base64_decode(done["code_png_base64"].as_str().expect("png"));
        let image =
            image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("a PNG");
        assert!(image.width() > 300);

        let manifest = r
            .phone
            .app
            .redeem(&r.phone.client, &r.phone.case_id, &code)
            .await;
        assert_eq!(manifest.status(), 200);
        let manifest = json(manifest).await;
        assert_eq!(manifest["photos"].as_array().map(Vec::len), Some(4));
        assert_eq!(manifest["location_in_shanghai"], true);
        assert_eq!(manifest["liveness"]["passed"], true);

        let row = r.case_row().await;
        let result: Value =
            serde_json::from_str(row.liveness_result.as_deref().expect("liveness result"))
                .expect("JSON");
        assert_eq!(
            result["actions"].as_array().map(Vec::len),
            Some(actions.len())
        );
        let audit = r
            .phone
            .app
            .state
            .store
            .list_audit(None, 0, 1000)
            .await
            .expect("audit");
        let actions_logged: Vec<&str> = audit.iter().map(|e| e.entry.action.as_str()).collect();
        for expected in [
            "location.reported",
            "liveness.challenge_issued",
            "liveness.passed",
            "photo.uploaded",
            "photo.viewed",
            "code.issued",
        ] {
            assert!(
                actions_logged.contains(&expected),
                "{expected} in {actions_logged:?}"
            );
        }
    }

    pub async fn captures_wait_for_consent_and_come_in_order(db: TestDb) {
        let phone = start(db, |_| {}).await;
        let token = phone.session().await;
        let no_consent = phone
            .app
            .request(Method::POST, "/app/v1/liveness/challenge")
            .bearer_auth(&token)
            .json(&json!({ "latitude": SHANGHAI.0, "longitude": SHANGHAI.1 }))
            .send()
            .await
            .expect("sent");
        assert_error(no_consent, 403, "consent_required").await;
        let photo = phone
            .app
            .request(Method::PUT, "/app/v1/photos/handheld")
            .bearer_auth(&token)
            .body(sample("handheld-sample.jpg"))
            .send()
            .await
            .expect("sent");
        assert_error(photo, 403, "consent_required").await;

        let r = ready_from(phone, token).await;
        let early = r.put_photo("front", sample("id-front-sample.jpg")).await;
        let body = assert_error(early, 409, "step_out_of_order").await;
        assert_eq!(fields(&body, "next_step"), ["liveness"]);
        r.pass_liveness().await;
        let early = r.put_photo("back", sample("id-back-sample.jpg")).await;
        let body = assert_error(early, 409, "step_out_of_order").await;
        assert_eq!(fields(&body, "next_step"), ["handheld"]);
        assert!(body["message_zh"]
            .as_str()
            .is_some_and(|m| m.contains("手持身份证")));

        let incomplete = r
            .app(Method::POST, "/app/v1/complete")
            .send()
            .await
            .expect("sent");
        let body = assert_error(incomplete, 409, "steps_missing").await;
        assert_eq!(
            fields(&body, "missing_steps"),
            ["handheld", "front", "back"]
        );
    }

    pub async fn outside_shanghai_is_refused_and_only_yes_or_no_is_kept(db: TestDb) {
        let r = ready(db).await;
        // Kunshan (Jiangsu) and Jiaxing (Zhejiang): neighbours, not Shanghai.
        for (lat, lon) in [(31.3858, 120.9808), (30.7522, 120.7555)] {
            let refused = r.challenge_at(lat, lon).await;
            let body = assert_error(refused, 422, "outside_shanghai").await;
            assert!(body["message_zh"]
                .as_str()
                .is_some_and(|m| m.contains("上海")));
            assert_eq!(r.case_row().await.location_in_shanghai, Some(false));
        }
        let coarse = r
            .app(Method::POST, "/app/v1/liveness/challenge")
            .json(
                &json!({ "latitude": SHANGHAI.0, "longitude": SHANGHAI.1, "accuracy_m": 50000.0 }),
            )
            .send()
            .await
            .expect("sent");
        assert_error(coarse, 422, "location_accuracy_too_low").await;
        let missing = r
            .app(Method::POST, "/app/v1/liveness/challenge")
            .json(&json!({}))
            .send()
            .await
            .expect("sent");
        assert_error(missing, 422, "location_required").await;
        // Chongming island is Shanghai.
        let inside = r.challenge_at(31.6230, 121.3970).await;
        assert_eq!(inside.status(), 201);
        assert_eq!(r.case_row().await.location_in_shanghai, Some(true));
        let raw = r
            .phone
            .app
            .state
            .store
            .list_audit(None, 0, 1000)
            .await
            .expect("audit");
        let text = format!("{raw:?}");
        assert!(
            !text.contains("121.397") && !text.contains("31.623"),
            "no raw coordinates kept"
        );
    }

    pub async fn a_challenge_is_single_use_expires_and_takes_only_its_actions(db: TestDb) {
        let r = ready(db).await;
        let good = |a| samples::liveness_frames(a, 4);

        let challenge = r.challenge().await;
        let actions = actions_of(&challenge);
        let missing_one = r.send_frames(&challenge, &actions[..1], good).await;
        let body = assert_error(missing_one, 422, "frame_count").await;
        assert!(body["fields"]
            .as_object()
            .is_some_and(|f| f.contains_key(&format!("frames.{}", actions[1].as_str()))));
        let again = r.send_frames(&challenge, &actions, good).await;
        assert_error(again, 409, "challenge_used").await;

        let challenge = r.challenge().await;
        let actions = actions_of(&challenge);
        let other = LivenessAction::ALL
            .into_iter()
            .find(|a| !actions.contains(a))
            .expect("an action not asked");
        let mut with_other = actions.clone();
        with_other.push(other);
        let foreign = r.send_frames(&challenge, &with_other, good).await;
        assert_error(foreign, 422, "unexpected_action").await;

        let challenge = r.challenge().await;
        r.phone.clock.advance(Duration::seconds(181));
        let late = r
            .send_frames(&challenge, &actions_of(&challenge), good)
            .await;
        assert_error(late, 410, "challenge_expired").await;

        let unknown = r
            .app(
                Method::POST,
                &format!("/app/v1/liveness/{}", "ab".repeat(16)),
            )
            .multipart(reqwest::multipart::Form::new().text("blink", "x"))
            .send()
            .await
            .expect("sent");
        assert_error(unknown, 404, "challenge_not_found").await;
        let not_multipart = r
            .app(
                Method::POST,
                &format!("/app/v1/liveness/{}", "ab".repeat(16)),
            )
            .json(&json!({}))
            .send()
            .await
            .expect("sent");
        assert_error(not_multipart, 415, "multipart_required").await;
        assert_eq!(r.case_row().await.progress.liveness_at, None);
    }

    pub async fn failed_liveness_names_the_action_and_the_reason(db: TestDb) {
        let r = ready(db).await;
        // Frames where the head never moves fail nod/shake; faceless frames fail anything.
        let challenge = r.challenge().await;
        let actions = actions_of(&challenge);
        let moving = actions.iter().find(|a| a.movement_checked()).copied();
        let still = r
            .send_frames(&challenge, &actions, |_| vec![samples::still_frame(); 4])
            .await;
        match moving {
            Some(action) => {
                let body = assert_error(still, 422, "liveness_failed").await;
                let path = format!("frames.{}", action.as_str());
                assert_eq!(fields(&body, &path), ["no_movement"], "{body}");
                assert!(body["message_zh"]
                    .as_str()
                    .is_some_and(|m| m.contains("重新")));
            }
            None => assert_eq!(still.status(), 200, "blink/open mouth check faces only"),
        }

        let challenge = r.challenge().await;
        let actions = actions_of(&challenge);
        let faceless = r
            .send_frames(&challenge, &actions, |a| {
                let mut frames = samples::liveness_frames(a, 4);
                frames[1] = samples::faceless_frame();
                frames
            })
            .await;
        let body = assert_error(faceless, 422, "liveness_failed").await;
        let path = format!("frames.{}[1]", actions[0].as_str());
        assert_eq!(fields(&body, &path), ["no_face"], "{body}");

        let challenge = r.challenge().await;
        let actions = actions_of(&challenge);
        let garbage = r
            .send_frames(&challenge, &actions, |_| vec![b"not a picture".to_vec(); 4])
            .await;
        let body = assert_error(garbage, 422, "frame_unreadable").await;
        assert!(body["fields"].as_object().is_some_and(|f| !f.is_empty()));
        // Only the still frames could have passed (when no action checks movement).
        assert_eq!(
            r.case_row().await.progress.liveness_at.is_some(),
            moving.is_none()
        );
    }

    pub async fn refused_photos_say_why_and_leave_nothing_stored(db: TestDb) {
        let r = ready(db).await;
        r.pass_liveness().await;
        let small = r.put_photo("handheld", sample("coffee-small.jpg")).await;
        let body = assert_error(small, 422, "too_small").await;
        assert!(body["message_zh"]
            .as_str()
            .is_some_and(|m| m.contains("重新拍摄")));
        let text = r
            .put_photo("handheld", b"%PDF-1.7 not a photo".to_vec())
            .await;
        assert_error(text, 422, "unsupported_format").await;
        let faceless = r.put_photo("handheld", sample("boats.jpg")).await;
        assert_error(faceless, 422, "no_face").await;
        let huge = r
            .put_photo("handheld", vec![0xFF; 10 * 1024 * 1024 + 1])
            .await;
        assert_error(huge, 413, "body_too_large").await;
        let unknown = r.put_photo("selfie", sample("boats.jpg")).await;
        assert_eq!(unknown.status(), 404);
        let liveness = r.put_photo("liveness", sample("handheld-sample.jpg")).await;
        assert_eq!(
            liveness.status(),
            404,
            "the liveness frame only comes from a challenge"
        );

        let id = CaseId::parse(&r.phone.case_id).expect("id");
        let photos = r
            .phone
            .app
            .state
            .store
            .list_photos(&id)
            .await
            .expect("photos");
        assert_eq!(photos.len(), 1, "only the liveness frame: {photos:?}");
        let preview = r
            .app(Method::GET, "/app/v1/photos/handheld")
            .send()
            .await
            .expect("sent");
        assert_eq!(preview.status(), 404);
        assert_eq!(r.case_row().await.progress.handheld_at, None);
    }

    pub async fn a_retake_replaces_the_photo_and_deletes_the_old_blob(db: TestDb) {
        let r = ready(db).await;
        r.pass_liveness().await;
        r.put_all_photos().await;
        let id = CaseId::parse(&r.phone.case_id).expect("id");
        let store = &r.phone.app.state.store;
        let before = store.list_photos(&id).await.expect("photos");
        let old = before
            .iter()
            .find(|p| p.kind.as_str() == "front")
            .expect("front")
            .clone();

        let retake = r.put_photo("front", sample("id-front-sample.jpg")).await;
        assert_eq!(retake.status(), 200);
        let after = store.list_photos(&id).await.expect("photos");
        assert_eq!(after.len(), 4);
        let new = after
            .iter()
            .find(|p| p.kind.as_str() == "front")
            .expect("front");
        assert_ne!(new.blob_id, old.blob_id);
        assert!(
            r.phone.app.state.blobs.get(&old.blob_id).await.is_err(),
            "old blob deleted"
        );
        // Retaking the front does not undo the later back photo.
        assert!(r.case_row().await.progress.back_at.is_some());
    }

    pub async fn per_case_allowances_end_in_a_429(db: TestDb) {
        let r = ready(db).await;
        for _ in 0..10 {
            r.challenge().await;
        }
        let exhausted = r.challenge_at(SHANGHAI.0, SHANGHAI.1).await;
        assert_error(exhausted, 429, "liveness_attempts_exhausted").await;

        // Uploads count even when refused: ten tries, then no more for that kind.
        let id = CaseId::parse(&r.phone.case_id).expect("id");
        let row = r.case_row().await;
        assert!(row.progress.liveness_at.is_none());
        mark_liveness_done(&r, &id).await;
        for _ in 0..10 {
            let refused = r.put_photo("handheld", b"not a photo".to_vec()).await;
            assert_eq!(refused.status(), 422);
        }
        let over = r.put_photo("handheld", sample("handheld-sample.jpg")).await;
        let body = assert_error(over, 429, "upload_limit_reached").await;
        assert!(body["message_zh"]
            .as_str()
            .is_some_and(|m| m.contains("备案服务商")));
        assert!(r.case_row().await.progress.handheld_at.is_none());
    }

    pub async fn blobs_without_a_photo_row_are_swept_after_an_hour(db: TestDb) {
        let r = ready(db).await;
        r.pass_liveness().await;
        let services = &r.phone.app.state.services;
        // What a crash between writing a photo's blob and its row leaves behind.
        let orphan = heyan::blob::BlobId::new();
        services
            .blobs
            .put(&orphan, b"sealed ID photo")
            .await
            .expect("put");
        let sweep = heyan::flow::maintenance::sweep_orphan_blobs;
        assert_eq!(
            sweep(services).await.expect("sweep").blobs,
            0,
            "an upload may still be writing its row"
        );
        r.phone.clock.advance(chrono::Duration::minutes(61));
        assert_eq!(sweep(services).await.expect("sweep").blobs, 1);
        assert!(services.blobs.get(&orphan).await.is_err(), "orphan deleted");
        let liveness = r.case_row().await;
        let photos = services
            .store
            .list_photos(&liveness.id)
            .await
            .expect("photos");
        assert_eq!(photos.len(), 1);
        assert!(
            services.blobs.get(&photos[0].blob_id).await.is_ok(),
            "a photo's blob stays"
        );
        let audit = services
            .store
            .list_audit(None, 0, 1000)
            .await
            .expect("audit");
        assert!(audit
            .iter()
            .any(|e| e.entry.action == "blob.orphans_deleted"));
    }

    pub async fn a_busy_server_costs_no_upload_and_no_challenge(db: TestDb) {
        let r = ready(db).await;
        r.pass_liveness().await;
        // Every place in the CPU gate taken, as by other people's uploads.
        let gate = &r.phone.app.state.services.photo_gate;
        let held: Vec<_> = std::iter::from_fn(|| gate.admit().ok()).collect();
        assert!(!held.is_empty());

        // More busy answers than the allowance of uploads: none of them is counted.
        for _ in 0..(heyan::flow::photos::MAX_UPLOADS_PER_KIND + 2) {
            let busy = r.put_photo("handheld", sample("handheld-sample.jpg")).await;
            assert!(busy.headers().contains_key("retry-after"));
            assert_error(busy, 429, "photo_busy").await;
        }
        let challenge = r.challenge().await;
        let actions = actions_of(&challenge);
        let good = |a| samples::liveness_frames(a, 4);
        let busy = r.send_frames(&challenge, &actions, good).await;
        assert_error(busy, 429, "photo_busy").await;

        drop(held);
        let passed = r.send_frames(&challenge, &actions, good).await;
        assert_eq!(passed.status(), 200, "the same challenge still works");
        let stored = r.put_photo("handheld", sample("handheld-sample.jpg")).await;
        assert_eq!(stored.status(), 200, "the uploads were not used up");
    }
}

/// Consent on a phone that already has a session.
async fn ready_from(phone: Phone, token: String) -> Ready {
    let consent = json(phone.app.get("/app/v1/consent").await).await;
    let accepted = phone
        .app
        .request(Method::POST, "/app/v1/consent")
        .bearer_auth(&token)
        .json(&json!({ "version": consent["version"], "text_sha256": consent["text_sha256"] }))
        .send()
        .await
        .expect("sent");
    assert_eq!(accepted.status(), 200);
    Ready { phone, token }
}

/// Stores a liveness frame directly (the allowance test has used up its challenges).
async fn mark_liveness_done(r: &Ready, id: &CaseId) {
    let photo = heyan::flow::photos::FinishedPhoto {
        kind: heyan::domain::case::PhotoKind::Liveness,
        jpeg: crate::fixtures::jpeg(640, 480, 1),
        width: 640,
        height: 480,
        original_sha256: "0".repeat(64),
    };
    heyan::flow::photos::keep(&r.phone.app.state.services, id, photo)
        .await
        .expect("kept");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}
