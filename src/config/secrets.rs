//! `[secrets]`: the master secret every key derives from, and earlier ones kept for a
//! rotation. Never serialised.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Master secret settings (`[secrets]`). Every encryption and HMAC key derives from it.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretSettings {
    /// `HEYAN_SECRETS__MASTER_SECRET`: the master secret itself (base64 or hex, >= 32 bytes).
    #[serde(skip_serializing)]
    pub master_secret: Option<SecretString>,
    /// `HEYAN_SECRETS__MASTER_SECRET_FILE`: a file holding the master secret (mode 0600).
    pub master_secret_file: Option<PathBuf>,
    /// `HEYAN_SECRETS__PREVIOUS`: earlier master secrets, still accepted for decryption
    /// during a key rotation (TOML array; in the environment `[a,b]`).
    #[serde(skip_serializing)]
    pub previous: Vec<SecretString>,
}

/// The settings reference's line for each `[secrets]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("master_secret", "The master secret every encryption and HMAC key derives from: base64 or hex of at least 32 bytes.").secret(),
    SettingDoc::new("master_secret_file", "A file holding the master secret instead; its permissions must give group and others no access (e.g. 0600)."),
    SettingDoc::new("previous", "Earlier master secrets, still accepted for decryption during a rotation (TOML array; in the environment `[a,b]`).").default_text("`[]`").secret(),
];

impl SecretSettings {
    /// The secret comes from one place only.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        if self.master_secret.is_some() && self.master_secret_file.is_some() {
            problems.push(
                "secrets.master_secret and secrets.master_secret_file are both set; choose one"
                    .into(),
            );
        }
    }
}
