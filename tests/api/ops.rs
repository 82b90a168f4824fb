//! Operations endpoints, the error shape, request ids, metrics and the OpenAPI document.

use reqwest::StatusCode;

use crate::helpers::{assert_error_shape, json, spawn_app};
use crate::support::TestDb;

crate::on_both_databases!(crate::ops::cases =>
    healthz_answers_ok,
    readyz_is_ready_with_a_database_and_a_blob_store,
    readyz_is_503_when_the_blob_store_is_gone,
    unknown_paths_and_methods_get_the_json_error_shape,
    errors_carry_the_catalogs_status_code_and_messages,
    every_response_carries_a_request_id_and_keeps_the_callers,
    metrics_count_requests_by_route_and_status,
    metrics_and_readiness_details_are_served_only_on_the_admin_listener,
    every_documented_operation_is_served,
    stopping_lets_the_server_finish_cleanly,
);

#[tokio::test]
async fn readyz_is_503_when_postgres_is_gone() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let app = spawn_app(db).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.db.drop_postgres_now().await;
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let response = app.admin_get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response).await;
    assert_eq!(body["database"], "unavailable");
    assert_eq!(body["blob_store"], "ok");
}

pub mod cases {
    use super::*;

    pub async fn healthz_answers_ok(db: TestDb) {
        let app = spawn_app(db).await;
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json(response).await["status"], "ok");
    }

    pub async fn readyz_is_ready_with_a_database_and_a_blob_store(db: TestDb) {
        let app = spawn_app(db).await;
        let response = app.admin_get("/readyz").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = json(response).await;
        assert_eq!(body["status"], "ready");
        assert_eq!(body["database"], "ok");
        assert_eq!(body["blob_store"], "ok");
    }

    pub async fn readyz_is_503_when_the_blob_store_is_gone(db: TestDb) {
        let app = spawn_app(db).await;
        let blobs = app.state.settings.blob_dir();
        std::fs::remove_dir_all(&blobs).expect("remove the blob folder");
        // A file where the folder was: nothing can be written below it.
        std::fs::write(&blobs, b"not a folder").expect("write a file");
        let public = app.get("/readyz").await;
        assert_eq!(public.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            json(public).await,
            serde_json::json!({"status": "not_ready"}),
            "the public answer names no dependency"
        );
        let response = app.admin_get("/readyz").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = json(response).await;
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["blob_store"], "unavailable");
        assert_eq!(body["database"], "ok");
    }

    pub async fn unknown_paths_and_methods_get_the_json_error_shape(db: TestDb) {
        let app = spawn_app(db).await;
        let response = app.get("/no/such/path").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(assert_error_shape(&json(response).await), "route_not_found");

        let response = app.call(reqwest::Method::DELETE, "/healthz").await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            assert_error_shape(&json(response).await),
            "method_not_allowed"
        );
    }

    pub async fn errors_carry_the_catalogs_status_code_and_messages(db: TestDb) {
        use heyan::error_code::{ErrorCode, ErrorFacts};
        let app = spawn_app(db).await;
        let client = app.add_client("p", None).await;
        let case = app.eligible_case(&client, "BA-CAT").await;
        let path = format!("/filing/v1/cases/{case}");
        let cancel = || app.send_as(&client, reqwest::Method::DELETE, &path);
        assert_eq!(cancel().await.status(), StatusCode::OK);

        let cases = vec![
            (
                "an unknown route",
                app.get("/no/such/path").await,
                ErrorCode::RouteNotFound,
            ),
            (
                "a body that is not JSON",
                app.as_client(&client, reqwest::Method::POST, "/filing/v1/cases")
                    .header("content-type", "application/json")
                    .body("{not json")
                    .send()
                    .await
                    .expect("sent"),
                ErrorCode::MalformedJson,
            ),
            (
                "a JSON body with a mistyped field",
                app.as_client(&client, reqwest::Method::POST, "/filing/v1/cases")
                    .json(&serde_json::json!({"filing_id": "BA-X", "websites": "none"}))
                    .send()
                    .await
                    .expect("sent"),
                ErrorCode::InvalidJsonFields,
            ),
            (
                "cancelling a cancelled case",
                cancel().await,
                ErrorCode::CaseCancelled,
            ),
            (
                "redeeming on a cancelled case",
                app.redeem(&client, &case, "12345678").await,
                ErrorCode::CaseCancelled,
            ),
            (
                "the QR code of a cancelled case",
                app.send_as(
                    &client,
                    reqwest::Method::GET,
                    &format!("/filing/v1/cases/{case}/qr.svg"),
                )
                .await,
                ErrorCode::CaseCancelled,
            ),
        ];
        for (what, response, want) in cases {
            assert_eq!(
                response.status().as_u16(),
                want.status().as_u16(),
                "status for {what}"
            );
            let body = json(response).await;
            assert_eq!(assert_error_shape(&body), want.as_str(), "{what}: {body}");
            let facts = ErrorFacts::default();
            assert_eq!(body["message_zh"], want.message_zh(&facts), "{what}");
            assert_eq!(body["message_en"], want.message_en(&facts), "{what}");
        }
        assert_eq!(ErrorCode::CaseCancelled.status().as_u16(), 410);
    }

    pub async fn every_response_carries_a_request_id_and_keeps_the_callers(db: TestDb) {
        let app = spawn_app(db).await;
        let first = app.get("/healthz").await;
        let second = app.get("/no/such/path").await;
        let id = |r: &reqwest::Response| {
            r.headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .expect("x-request-id header")
        };
        assert_ne!(id(&first), id(&second), "each request gets its own id");

        let given = reqwest::Client::new()
            .get(format!("{}/healthz", app.address))
            .header("x-request-id", "filing-42")
            .send()
            .await
            .expect("sent");
        assert_eq!(id(&given), "filing-42");
    }

    pub async fn metrics_count_requests_by_route_and_status(db: TestDb) {
        let app = spawn_app(db).await;
        // The recorder is process-wide: compare before and after.
        let count = |text: &str| -> u64 {
            text.lines()
                .find(|l| {
                    l.starts_with(
                        r#"http_requests_total{method="GET",route="/version",status="200"}"#,
                    )
                })
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let before = count(&app.metrics_text().await);
        for _ in 0..3 {
            assert_eq!(app.get("/version").await.status(), StatusCode::OK);
        }
        let response = app.admin_get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let text = response.text().await.expect("text");
        assert!(
            count(&text) >= before + 3,
            "count went from {before}: {text}"
        );
        assert!(
            text.contains("# TYPE http_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/version",status="200",le="0.005"}"#),
            "latency buckets by route: {text}"
        );
        assert!(
            !text.contains("route=\"/no/such"),
            "raw paths never become labels"
        );

        // A method the client invents is counted, under `other`.
        let brew = reqwest::Method::from_bytes(b"BREW").expect("method");
        let answered = app.call(brew, "/version").await;
        assert_eq!(answered.status(), StatusCode::METHOD_NOT_ALLOWED);
        let text = app.metrics_text().await;
        assert!(!text.contains("BREW"), "{text}");
        assert!(
            text.contains(r#"http_requests_total{method="other",route="/version",status="405"}"#),
            "{text}"
        );
    }

    /// The public port answers health and a bare readiness status; metrics and the
    /// readiness details are for the admin listener only.
    pub async fn metrics_and_readiness_details_are_served_only_on_the_admin_listener(db: TestDb) {
        let app = spawn_app(db).await;
        assert_ne!(app.address, app.admin_address, "two listeners");

        let public = app.get("/metrics").await;
        assert_eq!(public.status(), StatusCode::NOT_FOUND);
        assert_eq!(assert_error_shape(&json(public).await), "route_not_found");

        let healthz = app.get("/healthz").await;
        assert_eq!(healthz.status(), StatusCode::OK);
        assert_eq!(json(healthz).await["status"], "ok");
        let readyz = app.get("/readyz").await;
        assert_eq!(readyz.status(), StatusCode::OK);
        assert_eq!(json(readyz).await, serde_json::json!({"status": "ready"}));

        let admin = app.admin_get("/metrics").await;
        assert_eq!(admin.status(), StatusCode::OK);
        let text = admin.text().await.expect("text");
        // The public requests above are counted, the refused /metrics as unmatched.
        for counter in [
            r#"http_requests_total{method="GET",route="/healthz",status="200"}"#,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#,
        ] {
            assert!(text.contains(counter), "{counter} in {text}");
        }
        assert_eq!(app.admin_get("/healthz").await.status(), StatusCode::OK);
        let details = json(app.admin_get("/readyz").await).await;
        assert_eq!(details["status"], "ready");
        assert_eq!(details["database"], "ok", "{details}");
        assert!(details["warnings"].is_array(), "{details}");
        // The admin listener is not a second public API.
        let other = app.admin_get("/version").await;
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }

    /// The spec and the routes come from one registration; this checks the other way too:
    /// every documented operation is answered by a real route, not the fallbacks, on its
    /// listener: `ops-admin` operations on the admin listener and only there.
    pub async fn every_documented_operation_is_served(db: TestDb) {
        let app = spawn_app(db).await;
        let spec = json(app.get("/openapi.json").await).await;
        let paths = spec["paths"].as_object().expect("paths object");
        for expected in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/version",
        ] {
            assert!(
                paths.contains_key(expected),
                "{expected} missing from the spec"
            );
        }
        let mut admin_operations = 0;
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().expect("operations") {
                let method =
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let concrete = path.replace(['{', '}'], "");
                let admin = operation["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|t| t == "ops-admin"));
                let response = if admin {
                    admin_operations += 1;
                    let public = app.call(method.clone(), &concrete).await;
                    assert_eq!(
                        public.status(),
                        StatusCode::NOT_FOUND,
                        "{method} {path} is for the admin listener only"
                    );
                    reqwest::Client::new()
                        .request(method.clone(), format!("{}{concrete}", app.admin_address))
                        .send()
                        .await
                        .expect("sent")
                } else {
                    app.call(method.clone(), &concrete).await
                };
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                // The spec itself names these codes, so look at the error code, not the text.
                let code = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                assert!(
                    code != "route_not_found" && code != "method_not_allowed",
                    "{method} {path} is documented but not routed ({status})"
                );
            }
        }
        assert!(admin_operations > 0, "the admin operations are documented");
    }

    pub async fn stopping_lets_the_server_finish_cleanly(db: TestDb) {
        let app = spawn_app(db).await;
        let address = app.address.clone();
        let admin_address = app.admin_address.clone();
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        assert_eq!(app.admin_get("/healthz").await.status(), StatusCode::OK);
        app.stop().await.expect("the server stops without error");
        for address in [address, admin_address] {
            let after = reqwest::Client::new()
                .get(format!("{address}/healthz"))
                .send()
                .await;
            assert!(after.is_err(), "{address} is closed after shutdown");
        }
    }
}

/// The calendar outlook on `/readyz`: quiet far from the end of the data, a warning in the
/// last 60 days, 503 once the data has run out.
#[tokio::test]
async fn readyz_warns_before_the_calendar_data_ends_and_fails_after() {
    use chrono::TimeZone;
    let at = |y, m, d| {
        chrono::Utc
            .with_ymd_and_hms(y, m, d, 4, 0, 0)
            .single()
            .expect("date")
    };
    let cases = [
        ("mid 2025", at(2025, 6, 1), 200, false),
        ("December 2026", at(2026, 12, 1), 200, true),
        ("past the data", at(2027, 1, 2), 503, true),
    ];
    for (what, now, status, warns) in cases {
        let clock = std::sync::Arc::new(heyan::clock::ManualClock::new(now));
        let app = crate::helpers::spawn_app_at(TestDb::sqlite().await, clock, |_| {}).await;
        let response = app.admin_get("/readyz").await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body = json(response).await;
        let warnings = body["warnings"].as_array().expect("warnings");
        assert_eq!(!warnings.is_empty(), warns, "{what}: {body}");
        if warns {
            assert!(
                warnings[0]
                    .as_str()
                    .is_some_and(|w| w.contains("2026-12-31")),
                "{what}: {body}"
            );
        }
        let metrics = app.metrics_text().await;
        assert!(metrics.contains("heyan_calendar_days_left"), "{what}");
    }
}
