//! The `SmsSender` port: sends the App's verification code to a mainland mobile number.
//! Providers: `log` (development only: the code goes to the log), `http` (a generic
//! JSON webhook, HMAC-signed) and `tencent` (Tencent Cloud SMS API v3). Codes are
//! generated, hashed and rate-limited in `flow`, never here.

pub mod http;
pub mod log;
pub mod tencent;
pub mod tencent_sign;

use async_trait::async_trait;

use crate::domain::MobileNumber;

/// Why a code was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider could not be reached or failed on its side (after retries): the
    /// user is told to try again later and is not charged a send.
    #[error("SMS provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (4xx, bad configuration, blocked number).
    #[error("SMS provider refused the message: {0}")]
    Rejected(String),
}

/// Sends verification codes.
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// Sends `code`, valid for `ttl_minutes`, to `to`.
    async fn send_code(
        &self,
        to: &MobileNumber,
        code: &str,
        ttl_minutes: u32,
    ) -> Result<(), SmsError>;

    /// The provider's name, for logs and metrics.
    fn name(&self) -> &'static str;
}

/// The sender the settings ask for.
pub fn from_settings(
    settings: &crate::config::SmsSettings,
) -> Result<std::sync::Arc<dyn SmsSender>, SmsError> {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::config::SmsProvider;
    let timeout = Duration::from_millis(settings.timeout_ms);
    let missing = |what: &str| SmsError::Rejected(format!("{what} is not set"));
    Ok(match settings.provider {
        SmsProvider::Log => Arc::new(log::LogSms::default()),
        SmsProvider::Http => Arc::new(http::GatewaySms::new(
            settings
                .http_url
                .clone()
                .ok_or_else(|| missing("sms.http_url"))?,
            settings
                .http_secret
                .clone()
                .ok_or_else(|| missing("sms.http_secret"))?,
            timeout,
            settings.retries,
        )?),
        SmsProvider::Tencent => {
            let config = tencent::TencentConfig {
                endpoint: settings.tencent_endpoint.clone(),
                secret_id: settings
                    .tencent_secret_id
                    .clone()
                    .ok_or_else(|| missing("sms.tencent_secret_id"))?,
                secret_key: settings
                    .tencent_secret_key
                    .clone()
                    .ok_or_else(|| missing("sms.tencent_secret_key"))?,
                region: settings.tencent_region.clone(),
                sdk_app_id: settings
                    .tencent_sdk_app_id
                    .clone()
                    .ok_or_else(|| missing("sms.tencent_sdk_app_id"))?,
                sign_name: settings
                    .tencent_sign_name
                    .clone()
                    .ok_or_else(|| missing("sms.tencent_sign_name"))?,
                template_id: settings
                    .tencent_template_id
                    .clone()
                    .ok_or_else(|| missing("sms.tencent_template_id"))?,
            };
            Arc::new(tencent::TencentSms::new(config, timeout, settings.retries)?)
        }
    })
}

/// Runs `attempt` until it succeeds, fails for good, or has been retried `retries` times
/// after retryable failures (with a short, growing pause between tries).
pub(crate) async fn with_retries<T, F, Fut>(
    retries: u32,
    mut attempt: F,
) -> Result<T, reqwest::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, reqwest::Error>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(e) if retryable(&e) && tries <= retries => {
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(tries))).await;
            }
            done => return done,
        }
    }
}

/// Sorts a final transport failure into "try later" or "refused", describing it without
/// the URL (which may carry credentials).
pub(crate) fn classify(provider: &str, e: &reqwest::Error) -> SmsError {
    let what = match e.status() {
        Some(status) => format!("{provider} answered {status}"),
        None if e.is_timeout() => format!("{provider} timed out"),
        None => format!("{provider} unreachable"),
    };
    if retryable(e) {
        SmsError::Unavailable(what)
    } else {
        SmsError::Rejected(what)
    }
}

/// Whether a failed try deserves another: network errors, timeouts and 5xx do; 4xx do not.
pub(crate) fn retryable(err: &reqwest::Error) -> bool {
    err.is_timeout()
        || err.is_connect()
        || err.is_request()
        || err.status().is_some_and(|s| s.is_server_error())
}
