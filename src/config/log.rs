//! `[log]`: log format and filter.

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Text in development, JSON lines in production.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Log settings (`[log]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `HEYAN_LOG__FORMAT`: `auto` (default), `text` or `json`.
    pub format: LogFormat,
    /// `HEYAN_LOG__FILTER`: tracing filter directives. Default `info`. `RUST_LOG` wins when set.
    pub filter: String,
}

/// The settings reference's line for each `[log]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new(
        "format",
        "`auto` (text in development, JSON lines in production), `text` or `json`.",
    ),
    SettingDoc::new(
        "filter",
        "Tracing filter directives; `RUST_LOG` wins when set.",
    ),
];

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            filter: "info".into(),
        }
    }
}
