//! The development provider: writes the code to the log (with the number masked) instead
//! of sending it. Production mode refuses it (`config`).

use async_trait::async_trait;

use super::{SmsError, SmsSender};
use crate::domain::MobileNumber;

/// Logs codes instead of sending them.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send_code(
        &self,
        to: &MobileNumber,
        code: &str,
        ttl_minutes: u32,
    ) -> Result<(), SmsError> {
        // Development only: the code itself is the point of this provider.
        tracing::warn!(sms.to = %to, sms.code = code, ttl_minutes, "development SMS (not sent)");
        Ok(())
    }

    fn name(&self) -> &'static str {
        "log"
    }
}
