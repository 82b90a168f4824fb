//! `TestApp`: a running heyan and one helper per endpoint.

use std::sync::Arc;

use heyan::clock::{Clock, ManualClock, SystemClock};
use heyan::config::Settings;
use heyan::http::state::AppState;
use heyan::startup::Application;
use reqwest::{Method, RequestBuilder};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{test_settings, TestDb};

/// A valid resident ID number for tests (fictitious).
pub const ID_A: &str = "11010519491231002X";

/// A heyan server running for one test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The admin listener (metrics, readiness details): `http://127.0.0.1:PORT`.
    pub admin_address: String,
    /// The server's state (store, blobs, settings).
    pub state: AppState,
    /// The database (kept alive for the test).
    pub db: TestDb,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts heyan on a random port against `db`.
pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Starts heyan with settings adjusted by `tweak`.
pub async fn spawn_app_with(db: TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    start(db, None, tweak).await
}

/// Starts heyan with a clock the test moves.
pub async fn spawn_app_at(
    db: TestDb,
    clock: Arc<ManualClock>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    start(db, Some(clock), tweak).await
}

async fn start(
    db: TestDb,
    manual: Option<Arc<ManualClock>>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    heyan::telemetry::init_for_tests();
    let mut settings = test_settings(&db);
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("address");
    // Fast webhook retries so delivery tests finish quickly.
    settings.webhook.retry_base_ms = 50;
    settings.webhook.retry_max_ms = 200;
    settings.webhook.poll_ms = 50;
    settings.webhook.timeout_ms = 2_000;
    tweak(&mut settings);
    let clock: Arc<dyn Clock> = match &manual {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    let app = Application::build_with_clock(settings, clock)
        .await
        .expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = format!("http://127.0.0.1:{}", app.admin_port());
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        admin_address,
        state,
        db,
        client: reqwest::Client::new(),
        stop: Some(stop),
        server: Some(server),
    }
}

/// A filing-system client registered for a test.
#[derive(Clone)]
pub struct TestClient {
    /// Its id.
    pub id: heyan::domain::ids::ClientId,
    /// Its API key.
    pub key: String,
    /// Its webhook secret, when it has a webhook URL.
    pub webhook_secret: Option<String>,
}

/// A registration body with one website per ID number given.
pub fn registration(filing_id: &str, id_numbers: &[&str]) -> Value {
    let websites: Vec<Value> = id_numbers
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "domain": format!("site{i}.example.cn"),
                "principal": {"name": "张三", "id_type": "resident_id_card", "id_number": id, "mobile": "13812345678"}
            })
        })
        .collect();
    json!({
        "filing_id": filing_id,
        "region": "shanghai",
        "subject_type": if id_numbers.len() > 1 { "enterprise" } else { "individual" },
        "subject_name": "张三",
        "websites": websites,
    })
}

impl TestApp {
    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    /// GET a path on the admin listener.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.admin_address))
            .send()
            .await
            .expect("request sent")
    }

    /// The Prometheus text from the admin listener's `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let response = self.admin_get("/metrics").await;
        assert_eq!(response.status(), 200, "/metrics on the admin listener");
        response.text().await.expect("metrics text")
    }

    /// Any method on a path, without a body.
    pub async fn call(&self, method: Method, path: &str) -> reqwest::Response {
        self.request(method, path)
            .send()
            .await
            .expect("request sent")
    }

    /// A request builder for a path.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// A request authenticated as `client`.
    pub fn as_client(&self, client: &TestClient, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(&client.key)
    }

    /// Sends a body-less request as `client`.
    pub async fn send_as(
        &self,
        client: &TestClient,
        method: Method,
        path: &str,
    ) -> reqwest::Response {
        self.as_client(client, method, path)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a client the way `heyan client add` does.
    pub async fn add_client(&self, name: &str, webhook_url: Option<&str>) -> TestClient {
        let created = heyan::flow::accounts::add_client(
            self.state.store.as_ref(),
            &self.state.keys,
            name,
            webhook_url,
            self.state.clock.now(),
        )
        .await
        .expect("client created");
        TestClient {
            id: created.id,
            key: created.api_key.expose_secret().to_owned(),
            webhook_secret: created.webhook_secret.map(|s| s.expose_secret().to_owned()),
        }
    }

    /// POST /filing/v1/cases.
    pub async fn post_case(&self, client: &TestClient, body: &Value) -> reqwest::Response {
        self.as_client(client, Method::POST, "/filing/v1/cases")
            .json(body)
            .send()
            .await
            .expect("sent")
    }

    /// Registers an eligible single-website case and returns its id.
    pub async fn eligible_case(&self, client: &TestClient, filing_id: &str) -> String {
        let response = self
            .post_case(client, &registration(filing_id, &[ID_A]))
            .await;
        assert_eq!(response.status(), 201, "registration failed");
        json(response).await["case_id"]
            .as_str()
            .expect("case_id")
            .to_owned()
    }

    /// GET /filing/v1/cases/{id}.
    pub async fn get_case(&self, client: &TestClient, id: &str) -> reqwest::Response {
        self.as_client(client, Method::GET, &format!("/filing/v1/cases/{id}"))
            .send()
            .await
            .expect("sent")
    }

    /// POST /filing/v1/cases/{id}/redeem.
    pub async fn redeem(&self, client: &TestClient, id: &str, code: &str) -> reqwest::Response {
        self.as_client(
            client,
            Method::POST,
            &format!("/filing/v1/cases/{id}/redeem"),
        )
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("sent")
    }

    /// Stops the server the way SIGTERM would, waits for it, and hands back the database.
    pub async fn stop(mut self) -> anyhow::Result<TestDb> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task")?;
        }
        Ok(self.db)
    }
}

/// Reads a JSON body, failing with the text when it is not JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the shared error shape and returns the code.
pub fn assert_error_shape(body: &serde_json::Value) -> String {
    for field in ["code", "message_zh", "message_en"] {
        assert!(
            body[field].as_str().is_some_and(|s| !s.is_empty()),
            "error body lacks {field}: {body}"
        );
    }
    body["code"].as_str().unwrap_or_default().to_owned()
}

/// Asserts a status and an error code.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let got = response.status().as_u16();
    let body = json(response).await;
    assert_eq!(got, status, "status for {code}: {body}");
    assert_eq!(assert_error_shape(&body), code, "{body}");
    body
}
