//! The `SmsSender` port: sends the App's verification code to a mainland mobile number.
//! Providers: `log` (development only: the code goes to the log), `http` (a generic
//! JSON webhook, HMAC-signed) and `tencent` (Tencent Cloud SMS API v3). Codes are
//! generated, hashed and rate-limited in `flow`, never here.

pub mod http;
pub mod log;
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

/// Whether a failed try deserves another: network errors, timeouts and 5xx do; 4xx do not.
pub(crate) fn retryable(err: &reqwest::Error) -> bool {
    err.is_timeout()
        || err.is_connect()
        || err.is_request()
        || err.status().is_some_and(|s| s.is_server_error())
}
