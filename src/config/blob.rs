//! `[blob]`: where encrypted photos are kept: a local folder, or an S3-compatible
//! bucket that several instances share.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Which blob store holds the photos.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A local folder (`blob.dir`): one instance.
    #[default]
    Fs,
    /// An S3-compatible bucket (`blob.s3_*`): any number of instances.
    S3,
}

/// Blob store settings (`[blob]`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobSettings {
    /// `HEYAN_BLOB__BACKEND`: `fs` (default) or `s3`.
    pub backend: BlobBackend,
    /// `HEYAN_BLOB__DIR`: folder for encrypted photos. Default `{data_dir}/blobs`.
    pub dir: Option<PathBuf>,
    /// `HEYAN_BLOB__S3_ENDPOINT`: the S3 endpoint URL.
    pub s3_endpoint: Option<String>,
    /// `HEYAN_BLOB__S3_BUCKET`: the bucket.
    pub s3_bucket: Option<String>,
    /// `HEYAN_BLOB__S3_REGION`: the signing region. Default `us-east-1`.
    pub s3_region: Option<String>,
    /// `HEYAN_BLOB__S3_PATH_STYLE`: path-style requests (`endpoint/bucket/key`), as most
    /// self-hosted servers want. Default true.
    pub s3_path_style: Option<bool>,
    /// `HEYAN_BLOB__S3_PREFIX`: prepended to every key; empty or ending in `/`.
    pub s3_prefix: Option<String>,
    /// `HEYAN_BLOB__S3_ACCESS_KEY_ID`.
    pub s3_access_key_id: Option<String>,
    /// `HEYAN_BLOB__S3_SECRET_ACCESS_KEY`; never printed.
    #[serde(skip_serializing)]
    pub s3_secret_access_key: Option<SecretString>,
    /// `HEYAN_BLOB__S3_SECRET_ACCESS_KEY_FILE`: a file holding the secret key instead.
    pub s3_secret_access_key_file: Option<PathBuf>,
}

/// The settings reference's line for each `[blob]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("backend", "`fs`: photos in a local folder (one instance); `s3`: in an S3-compatible bucket that several instances share.").default_text("`fs`"),
    SettingDoc::new("dir", "Folder for the encrypted photos (`fs`).").default_text("`{data_dir}/blobs`"),
    SettingDoc::new("s3_endpoint", "The S3 endpoint URL (`s3`), e.g. `https://s3.example.com`; `http://` only for loopback tests."),
    SettingDoc::new("s3_bucket", "The bucket (`s3`); it must exist."),
    SettingDoc::new("s3_region", "The signing region (`s3`).").default_text("`us-east-1`"),
    SettingDoc::new("s3_path_style", "Path-style requests (`endpoint/bucket/key`) rather than virtual-hosted ones (`s3`).").default_text("`true`"),
    SettingDoc::new("s3_prefix", "Prepended to every object key (`s3`): empty, or ending in `/`.").default_text("empty"),
    SettingDoc::new("s3_access_key_id", "The access key id (`s3`)."),
    SettingDoc::new("s3_secret_access_key", "The secret access key (`s3`); or `s3_secret_access_key_file`.").secret(),
    SettingDoc::new("s3_secret_access_key_file", "A file holding the secret access key (`s3`)."),
];

impl std::fmt::Debug for BlobSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSettings")
            .field("backend", &self.backend)
            .field("dir", &self.dir)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_bucket", &self.s3_bucket)
            .finish_non_exhaustive()
    }
}

impl BlobSettings {
    /// With `backend = "s3"`: endpoint, bucket and both keys are required, the
    /// prefix must be empty or end in `/`.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        if self.backend != BlobBackend::S3 {
            return;
        }
        let required = [
            (
                "blob.s3_endpoint (HEYAN_BLOB__S3_ENDPOINT)",
                self.s3_endpoint.is_some(),
            ),
            (
                "blob.s3_bucket (HEYAN_BLOB__S3_BUCKET)",
                self.s3_bucket.is_some(),
            ),
            (
                "blob.s3_access_key_id (HEYAN_BLOB__S3_ACCESS_KEY_ID)",
                self.s3_access_key_id.is_some(),
            ),
            (
                "blob.s3_secret_access_key or blob.s3_secret_access_key_file",
                self.s3_secret_access_key.is_some() || self.s3_secret_access_key_file.is_some(),
            ),
        ];
        for (name, present) in required {
            if !present {
                problems.push(format!("{name}: required when blob.backend = \"s3\""));
            }
        }
        if let Some(Err(e)) = self.s3_endpoint.as_deref().map(super::check_base_url) {
            problems.push(format!("blob.s3_endpoint (HEYAN_BLOB__S3_ENDPOINT): {e}"));
        }
        if let Some(prefix) = &self.s3_prefix {
            if !prefix.is_empty() && (!prefix.ends_with('/') || prefix.starts_with('/')) {
                problems.push(format!(
                    "blob.s3_prefix (HEYAN_BLOB__S3_PREFIX): `{prefix}` must be empty or end in `/` (and not start with one)"
                ));
            }
        }
    }
}
