//! Tencent Cloud SMS (API v3, `SendSms`), signed with TC3-HMAC-SHA256 (`tencent_sign`).
//! Timeouts and bounded retries on network errors and 5xx; Tencent's own error answers
//! (HTTP 200 with `Response.Error`, or a send status other than `Ok`) are refusals.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::tencent_sign::{sign, TencentRequest, CONTENT_TYPE};
use super::{classify, with_retries, SmsError, SmsSender};
use crate::domain::MobileNumber;

/// Account and template settings for Tencent Cloud SMS.
#[derive(Clone)]
pub struct TencentConfig {
    /// API endpoint, `https://sms.tencentcloudapi.com` in production.
    pub endpoint: String,
    /// SecretId.
    pub secret_id: String,
    /// SecretKey.
    pub secret_key: SecretString,
    /// Region, e.g. `ap-guangzhou`.
    pub region: String,
    /// SmsSdkAppId.
    pub sdk_app_id: String,
    /// Approved signature (签名), e.g. `上海备案`.
    pub sign_name: String,
    /// Approved template id; the template takes `{1}` = code and `{2}` = minutes.
    pub template_id: String,
}

/// Sends codes through Tencent Cloud SMS.
pub struct TencentSms {
    client: reqwest::Client,
    config: TencentConfig,
    host: String,
    retries: u32,
}

impl TencentSms {
    /// A sender with a per-try `timeout` and up to `retries` retries.
    pub fn new(config: TencentConfig, timeout: Duration, retries: u32) -> Result<Self, SmsError> {
        let url = url::Url::parse(&config.endpoint)
            .map_err(|e| SmsError::Rejected(format!("endpoint: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => return Err(SmsError::Rejected("endpoint has no host".into())),
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SmsError::Rejected(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            config,
            host,
            retries,
        })
    }

    fn payload(&self, to: &MobileNumber, code: &str, ttl_minutes: u32) -> String {
        json!({
            "PhoneNumberSet": [format!("+86{}", to.as_str())],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": self.config.template_id,
            "TemplateParamSet": [code, ttl_minutes.to_string()],
        })
        .to_string()
    }

    async fn try_once(&self, payload: &str) -> Result<Value, reqwest::Error> {
        let request = TencentRequest {
            host: &self.host,
            ..TencentRequest::send_sms(
                &self.config.secret_id,
                self.config.secret_key.expose_secret(),
                &self.config.region,
                chrono::Utc::now().timestamp(),
                payload,
            )
        };
        let headers = match sign(&request) {
            Ok(h) => h,
            // Only malformed configuration can fail here; report it as a refusal below.
            Err(_) => {
                return Ok(
                    json!({"Response": {"Error": {"Code": "heyan.SigningFailed", "Message": "invalid credentials in configuration"}}}),
                )
            }
        };
        let mut builder = self
            .client
            .post(&self.config.endpoint)
            .body(payload.to_owned());
        for (name, value) in headers.pairs() {
            if name != "Host" {
                builder = builder.header(name, value);
            }
        }
        builder
            .header("content-type", CONTENT_TYPE)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}

/// Reads Tencent's answer: `Ok` per number, or the error code it gave.
fn outcome(answer: &Value) -> Result<(), SmsError> {
    let response = &answer["Response"];
    if let Some(code) = response["Error"]["Code"].as_str() {
        return Err(SmsError::Rejected(format!("Tencent error {code}")));
    }
    match response["SendStatusSet"][0]["Code"].as_str() {
        Some("Ok") => Ok(()),
        Some(code) => Err(SmsError::Rejected(format!("Tencent send status {code}"))),
        None => Err(SmsError::Unavailable(
            "Tencent answer without a send status".into(),
        )),
    }
}

#[async_trait]
impl SmsSender for TencentSms {
    async fn send_code(
        &self,
        to: &MobileNumber,
        code: &str,
        ttl_minutes: u32,
    ) -> Result<(), SmsError> {
        let payload = self.payload(to, code, ttl_minutes);
        let answer = with_retries(self.retries, || self.try_once(&payload))
            .await
            .map_err(|e| classify("Tencent", &e))?;
        outcome(&answer)
    }

    fn name(&self) -> &'static str {
        "tencent"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::{Json, Router};

    use super::*;
    use crate::sms::tencent_sign::SMS_SERVICE;

    const KEY: &str = "test-secret-key";

    /// A local stand-in for Tencent that recomputes the signature from what it received.
    struct FakeTencent {
        answers: Mutex<Vec<(u16, Value)>>,
        seen: Mutex<Vec<Value>>,
    }

    async fn handle(
        State(fake): State<Arc<FakeTencent>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, Json<Value>) {
        let h = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let payload = String::from_utf8_lossy(&body).into_owned();
        let timestamp: i64 = h("x-tc-timestamp").parse().unwrap_or_default();
        let host = h("host");
        let expected = sign(&TencentRequest {
            secret_id: "AKIDtest",
            secret_key: KEY,
            service: SMS_SERVICE,
            host: &host,
            region: &h("x-tc-region"),
            action: &h("x-tc-action"),
            version: &h("x-tc-version"),
            timestamp,
            payload: &payload,
        })
        .expect("sign");
        if expected.authorization() != h("authorization") {
            return (
                StatusCode::OK,
                Json(json!({"Response": {"Error": {"Code": "AuthFailure.SignatureFailure"}}})),
            );
        }
        fake.seen
            .lock()
            .expect("lock")
            .push(serde_json::from_str(&payload).unwrap_or_default());
        let (status, answer) = fake
            .answers
            .lock()
            .expect("lock")
            .pop()
            .unwrap_or((200, ok_answer()));
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(answer),
        )
    }

    fn ok_answer() -> Value {
        json!({"Response": {"SendStatusSet": [{"Code": "Ok", "PhoneNumber": "+8613812345678"}], "RequestId": "r"}})
    }

    async fn fake(mut answers: Vec<(u16, Value)>) -> (String, Arc<FakeTencent>) {
        answers.reverse();
        let fake = Arc::new(FakeTencent {
            answers: Mutex::new(answers),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/", post(handle))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, fake)
    }

    fn sender(endpoint: String, key: &str) -> TencentSms {
        let config = TencentConfig {
            endpoint,
            secret_id: "AKIDtest".into(),
            secret_key: SecretString::from(key.to_owned()),
            region: "ap-guangzhou".into(),
            sdk_app_id: "1400000000".into(),
            sign_name: "上海备案".into(),
            template_id: "123456".into(),
        };
        TencentSms::new(config, Duration::from_secs(2), 2).expect("sender")
    }

    fn mobile() -> MobileNumber {
        MobileNumber::parse("13812345678").expect("mobile")
    }

    #[tokio::test]
    async fn a_signed_send_sms_reaches_tencent_with_the_template_parameters() {
        let (url, fake) = fake(vec![]).await;
        sender(url, KEY)
            .send_code(&mobile(), "654321", 5)
            .await
            .expect("sent");
        let seen = fake.seen.lock().expect("lock")[0].clone();
        assert_eq!(seen["PhoneNumberSet"], json!(["+8613812345678"]));
        assert_eq!(seen["TemplateParamSet"], json!(["654321", "5"]));
        assert_eq!(seen["SignName"], "上海备案");
        assert_eq!(seen["SmsSdkAppId"], "1400000000");
    }

    #[tokio::test]
    async fn a_wrong_key_fails_the_servers_signature_check() {
        let (url, fake) = fake(vec![]).await;
        let err = sender(url, "another-key")
            .send_code(&mobile(), "654321", 5)
            .await
            .expect_err("refused");
        assert!(
            matches!(err, SmsError::Rejected(ref m) if m.contains("AuthFailure")),
            "{err:?}"
        );
        assert!(fake.seen.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn tencent_refusals_and_outages_are_told_apart() {
        let limit = json!({"Response": {"SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit"}]}});
        let (url, _) = fake(vec![(200, limit)]).await;
        let err = sender(url, KEY)
            .send_code(&mobile(), "1", 5)
            .await
            .expect_err("limited");
        assert!(
            matches!(err, SmsError::Rejected(ref m) if m.contains("PhoneNumberDailyLimit")),
            "{err:?}"
        );

        let (url, fake) = fake(vec![(502, json!({})), (200, ok_answer())]).await;
        sender(url, KEY)
            .send_code(&mobile(), "1", 5)
            .await
            .expect("retried after a 502");
        assert_eq!(fake.seen.lock().expect("lock").len(), 2);

        let down = vec![(503, json!({})), (503, json!({})), (503, json!({}))];
        let (url, _) = self::fake(down).await;
        let err = sender(url, KEY)
            .send_code(&mobile(), "1", 5)
            .await
            .expect_err("down");
        assert!(matches!(err, SmsError::Unavailable(_)), "{err:?}");
    }
}
