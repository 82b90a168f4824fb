//! `[blob]`: where encrypted photos are kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Blob store settings (`[blob]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobSettings {
    /// `HEYAN_BLOB__DIR`: folder for encrypted photos. Default `{data_dir}/blobs`.
    pub dir: Option<PathBuf>,
}
