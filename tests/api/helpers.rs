//! `TestApp`: a running heyan and one helper per endpoint.

use heyan::http::state::AppState;
use heyan::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{test_settings, TestDb};

/// A heyan server running for one test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
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
pub async fn spawn_app_with(
    db: TestDb,
    tweak: impl FnOnce(&mut heyan::config::Settings),
) -> TestApp {
    heyan::telemetry::init_for_tests();
    let mut settings = test_settings(&db);
    tweak(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        state,
        db,
        client: reqwest::Client::new(),
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Any method on a path, without a body.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Stops the server the way SIGTERM would and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
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
