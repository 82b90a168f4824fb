//! `[blob]`: where encrypted photos are kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Blob store settings (`[blob]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobSettings {
    /// `HEYAN_BLOB__DIR`: folder for encrypted photos. Default `{data_dir}/blobs`.
    pub dir: Option<PathBuf>,
}

/// The settings reference's line for each `[blob]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] =
    &[SettingDoc::new("dir", "Folder for the encrypted photos.")
        .default_text("`{data_dir}/blobs`")];
