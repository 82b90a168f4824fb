//! The development provider: writes the code to the log (with the number masked) instead
//! of sending it. Production mode refuses it (`config`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{SmsError, SmsSender};
use crate::domain::MobileNumber;

/// Logs codes instead of sending them; `heyan demo` also reads them from a mailbox.
#[derive(Debug, Default, Clone)]
pub struct LogSms {
    mailbox: Option<Mailbox>,
}

/// The codes a [`LogSms`] "sent", newest last (for `heyan demo`, which plays the App in
/// the same process).
#[derive(Debug, Default, Clone)]
pub struct Mailbox(Arc<Mutex<Vec<String>>>);

impl Mailbox {
    /// The newest code, if any.
    pub fn latest(&self) -> Option<String> {
        self.0.lock().ok().and_then(|codes| codes.last().cloned())
    }

    /// The codes after the first `seen`, oldest first.
    pub fn since(&self, seen: usize) -> Vec<String> {
        self.0
            .lock()
            .map(|codes| codes.iter().skip(seen).cloned().collect())
            .unwrap_or_default()
    }
}

impl LogSms {
    /// A provider that also drops every code into the returned mailbox.
    pub fn with_mailbox() -> (Self, Mailbox) {
        let mailbox = Mailbox::default();
        let sms = Self {
            mailbox: Some(mailbox.clone()),
        };
        (sms, mailbox)
    }
}

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
        if let Some(Mailbox(codes)) = &self.mailbox {
            if let Ok(mut codes) = codes.lock() {
                codes.push(code.to_owned());
            }
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "log"
    }
}
