//! `[sms]`: which provider sends SMS codes, and what each provider needs.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Which SMS provider sends codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProvider {
    /// Development only: the code is written to the log.
    Log,
    /// A generic JSON webhook gateway (`sms.http_url`, signed with `sms.http_secret`).
    Http,
    /// Tencent Cloud SMS API v3 (`sms.tencent_*`).
    Tencent,
}

impl SmsProvider {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Http => "http",
            Self::Tencent => "tencent",
        }
    }
}

/// SMS settings (`[sms]`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// `HEYAN_SMS__PROVIDER`: `log` (development only), `http` or `tencent`.
    pub provider: SmsProvider,
    /// `HEYAN_SMS__TIMEOUT_MS`: one try's timeout. Default 5000.
    pub timeout_ms: u64,
    /// `HEYAN_SMS__RETRIES`: retries after network errors and 5xx (never after 4xx). Default 2.
    pub retries: u32,
    /// `HEYAN_SMS__HTTP_URL`: the gateway URL for the `http` provider.
    pub http_url: Option<String>,
    /// `HEYAN_SMS__HTTP_SECRET`: signs gateway requests (`X-Heyan-Signature`).
    #[serde(skip_serializing)]
    pub http_secret: Option<SecretString>,
    /// `HEYAN_SMS__TENCENT_ENDPOINT`: default `https://sms.tencentcloudapi.com`.
    pub tencent_endpoint: String,
    /// `HEYAN_SMS__TENCENT_SECRET_ID`.
    pub tencent_secret_id: Option<String>,
    /// `HEYAN_SMS__TENCENT_SECRET_KEY`.
    #[serde(skip_serializing)]
    pub tencent_secret_key: Option<SecretString>,
    /// `HEYAN_SMS__TENCENT_REGION`: default `ap-guangzhou`.
    pub tencent_region: String,
    /// `HEYAN_SMS__TENCENT_SDK_APP_ID`: SmsSdkAppId.
    pub tencent_sdk_app_id: Option<String>,
    /// `HEYAN_SMS__TENCENT_SIGN_NAME`: the approved signature (签名).
    pub tencent_sign_name: Option<String>,
    /// `HEYAN_SMS__TENCENT_TEMPLATE_ID`: approved template taking {1}=code, {2}=minutes.
    pub tencent_template_id: Option<String>,
}

/// The settings reference's line for each `[sms]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("provider", "`log` (development only: codes go to the log), `http` (a signed JSON gateway) or `tencent` (Tencent Cloud SMS API v3)."),
    SettingDoc::new("timeout_ms", "Timeout of one try, in milliseconds."),
    SettingDoc::new("retries", "Retries after network errors and 5xx answers, never after 4xx."),
    SettingDoc::new("http_url", "The gateway URL; required by the `http` provider."),
    SettingDoc::new("http_secret", "Signs the gateway requests (`X-Heyan-Signature`); required by the `http` provider.").secret(),
    SettingDoc::new("tencent_endpoint", "Tencent Cloud SMS API endpoint."),
    SettingDoc::new("tencent_secret_id", "Tencent Cloud SecretId; required by the `tencent` provider."),
    SettingDoc::new("tencent_secret_key", "Tencent Cloud SecretKey; required by the `tencent` provider.").secret(),
    SettingDoc::new("tencent_region", "Tencent Cloud region."),
    SettingDoc::new("tencent_sdk_app_id", "SmsSdkAppId; required by the `tencent` provider."),
    SettingDoc::new("tencent_sign_name", "The approved SMS signature (签名); required by the `tencent` provider."),
    SettingDoc::new("tencent_template_id", "The approved template, taking `{1}` = code and `{2}` = minutes; required by the `tencent` provider."),
];

impl fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsSettings")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            provider: SmsProvider::Log,
            timeout_ms: 5_000,
            retries: 2,
            http_url: None,
            http_secret: None,
            tencent_endpoint: "https://sms.tencentcloudapi.com".into(),
            tencent_secret_id: None,
            tencent_secret_key: None,
            tencent_region: "ap-guangzhou".into(),
            tencent_sdk_app_id: None,
            tencent_sign_name: None,
            tencent_template_id: None,
        }
    }
}

impl SmsSettings {
    /// Settings the chosen provider needs but lacks.
    fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        match self.provider {
            SmsProvider::Log => {}
            SmsProvider::Http => {
                if self.http_url.is_none() {
                    missing.push("sms.http_url (HEYAN_SMS__HTTP_URL)");
                }
                if self.http_secret.is_none() {
                    missing.push("sms.http_secret (HEYAN_SMS__HTTP_SECRET)");
                }
            }
            SmsProvider::Tencent => {
                let fields = [
                    (
                        "sms.tencent_secret_id (HEYAN_SMS__TENCENT_SECRET_ID)",
                        self.tencent_secret_id.is_some(),
                    ),
                    (
                        "sms.tencent_secret_key (HEYAN_SMS__TENCENT_SECRET_KEY)",
                        self.tencent_secret_key.is_some(),
                    ),
                    (
                        "sms.tencent_sdk_app_id (HEYAN_SMS__TENCENT_SDK_APP_ID)",
                        self.tencent_sdk_app_id.is_some(),
                    ),
                    (
                        "sms.tencent_sign_name (HEYAN_SMS__TENCENT_SIGN_NAME)",
                        self.tencent_sign_name.is_some(),
                    ),
                    (
                        "sms.tencent_template_id (HEYAN_SMS__TENCENT_TEMPLATE_ID)",
                        self.tencent_template_id.is_some(),
                    ),
                ];
                missing.extend(
                    fields
                        .into_iter()
                        .filter(|(_, set)| !set)
                        .map(|(name, _)| name),
                );
            }
        }
        missing
    }
}

impl SmsSettings {
    /// The chosen provider has what it needs, and the gateway URL is an http(s) URL.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        for name in self.missing() {
            problems.push(format!(
                "{name} is required when sms.provider is `{}`",
                self.provider.as_str()
            ));
        }
        if let Some(url) = self.http_url.as_deref() {
            if let Err(e) = super::check_base_url(url) {
                problems.push(format!("sms.http_url (HEYAN_SMS__HTTP_URL): {e}"));
            }
        }
    }
}
