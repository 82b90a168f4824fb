//! A generic HTTP SMS gateway: heyan POSTs `{"to", "code", "ttl_minutes"}` as JSON,
//! signed like webhooks (`X-Heyan-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`),
//! with an explicit timeout and bounded retries on network errors and 5xx (none on 4xx).

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{classify, with_retries, SmsError, SmsSender};
use crate::domain::MobileNumber;
use crate::flow::webhooks::signature;

/// A JSON webhook SMS gateway.
pub struct GatewaySms {
    client: reqwest::Client,
    url: String,
    secret: SecretString,
    retries: u32,
}

impl GatewaySms {
    /// A gateway at `url`, signing with `secret`, giving up on a try after `timeout`.
    pub fn new(
        url: String,
        secret: SecretString,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self, SmsError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SmsError::Rejected(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            url,
            secret,
            retries,
        })
    }

    async fn try_once(&self, body: &str) -> Result<(), reqwest::Error> {
        let t = chrono::Utc::now().timestamp();
        self.client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(
                "x-heyan-signature",
                signature(self.secret.expose_secret(), t, body),
            )
            .body(body.to_owned())
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

#[async_trait]
impl SmsSender for GatewaySms {
    async fn send_code(
        &self,
        to: &MobileNumber,
        code: &str,
        ttl_minutes: u32,
    ) -> Result<(), SmsError> {
        let body =
            json!({ "to": to.as_str(), "code": code, "ttl_minutes": ttl_minutes }).to_string();
        with_retries(self.retries, || self.try_once(&body))
            .await
            .map_err(|e| classify("gateway", &e))
    }

    fn name(&self) -> &'static str {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;

    use super::*;

    #[derive(Default)]
    struct Gateway {
        calls: AtomicUsize,
        answers: Mutex<Vec<u16>>,
        bodies: Mutex<Vec<(String, String)>>,
        delay_ms: u64,
    }

    async fn handle(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> StatusCode {
        gw.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(gw.delay_ms)).await;
        let sig = headers
            .get("x-heyan-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        gw.bodies
            .lock()
            .expect("lock")
            .push((sig, String::from_utf8_lossy(&body).into_owned()));
        let next = gw.answers.lock().expect("lock").pop().unwrap_or(200);
        StatusCode::from_u16(next).unwrap_or(StatusCode::OK)
    }

    /// A local gateway answering `answers` in order (then 200).
    async fn gateway(mut answers: Vec<u16>, delay_ms: u64) -> (String, Arc<Gateway>) {
        answers.reverse();
        let gw = Arc::new(Gateway {
            answers: Mutex::new(answers),
            delay_ms,
            ..Default::default()
        });
        let app = Router::new()
            .route("/sms", post(handle))
            .with_state(gw.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/sms", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, gw)
    }

    fn sender(url: String, timeout_ms: u64) -> GatewaySms {
        GatewaySms::new(
            url,
            SecretString::from("s3cret"),
            Duration::from_millis(timeout_ms),
            2,
        )
        .expect("client")
    }

    fn mobile() -> MobileNumber {
        MobileNumber::parse("13812345678").expect("mobile")
    }

    #[tokio::test]
    async fn a_code_is_posted_signed() {
        let (url, gw) = gateway(vec![], 0).await;
        sender(url, 2000)
            .send_code(&mobile(), "123456", 5)
            .await
            .expect("sent");
        let (sig, body) = gw.bodies.lock().expect("lock")[0].clone();
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            json,
            json!({"to": "13812345678", "code": "123456", "ttl_minutes": 5})
        );
        let t: i64 = sig
            .split(',')
            .next()
            .and_then(|p| p.strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .expect("t");
        assert_eq!(
            sig,
            signature("s3cret", t, &body),
            "the signature covers t and the body"
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_then_succeed() {
        let (url, gw) = gateway(vec![503, 502], 0).await;
        sender(url, 2000)
            .send_code(&mobile(), "123456", 5)
            .await
            .expect("sent on the third try");
        assert_eq!(gw.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn persistent_server_errors_are_unavailable_after_bounded_retries() {
        let (url, gw) = gateway(vec![500, 500, 500, 500], 0).await;
        let err = sender(url, 2000)
            .send_code(&mobile(), "123456", 5)
            .await
            .expect_err("down");
        assert!(matches!(err, SmsError::Unavailable(_)), "{err:?}");
        assert_eq!(
            gw.calls.load(Ordering::SeqCst),
            3,
            "one try and two retries"
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (url, gw) = gateway(vec![400], 0).await;
        let err = sender(url, 2000)
            .send_code(&mobile(), "123456", 5)
            .await
            .expect_err("refused");
        assert!(matches!(err, SmsError::Rejected(_)), "{err:?}");
        assert_eq!(gw.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_slow_gateway_times_out_as_unavailable() {
        let (url, _gw) = gateway(vec![], 1_000).await;
        let err = sender(url, 100)
            .send_code(&mobile(), "123456", 5)
            .await
            .expect_err("too slow");
        assert!(
            matches!(err, SmsError::Unavailable(ref m) if m.contains("timed out")),
            "{err:?}"
        );
    }
}
