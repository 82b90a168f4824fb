//! `[download]`: where the QR landing page sends each phone platform, and whether the web
//! flow is offered.

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// App download links for the QR landing page (`[download]`). A platform without a link
/// gets an explanation and the ordinary photo method as fallback.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadSettings {
    /// `HEYAN_DOWNLOAD__APP_NAME`: the App's name shown on the page.
    pub app_name: String,
    /// `HEYAN_DOWNLOAD__ANDROID_URL`: the Android download link.
    pub android_url: Option<String>,
    /// `HEYAN_DOWNLOAD__IOS_URL`: the App Store link.
    pub ios_url: Option<String>,
    /// `HEYAN_DOWNLOAD__HARMONY_URL`: the HarmonyOS AppGallery link.
    pub harmony_url: Option<String>,
    /// `HEYAN_DOWNLOAD__APP_SCHEME`: URL scheme that opens the installed App
    /// (e.g. `shbeian`); the page links `{scheme}://verify?t={token}`.
    pub app_scheme: Option<String>,
    /// `HEYAN_DOWNLOAD__WEB_FLOW`: serve the principal's flow as a web page (`/m/{token}`)
    /// and offer it first on the landing page; off, only the App remains.
    pub web_flow: bool,
}

/// The settings reference's line for each `[download]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("app_name", "The App's name shown on the QR landing page."),
    SettingDoc::new("android_url", "Android download link; a platform without a link gets an explanation and the ordinary photo method."),
    SettingDoc::new("ios_url", "App Store link."),
    SettingDoc::new("harmony_url", "HarmonyOS AppGallery link."),
    SettingDoc::new("app_scheme", "URL scheme that opens the installed App (e.g. `shbeian`); the page links `{scheme}://verify?t={token}`."),
    SettingDoc::new("web_flow", "Serve the principal's flow as a mobile web page (`/m/{token}`) and offer it first on the landing page, so nothing needs installing; off, `/m/` answers 404 and only the App remains."),
];

impl Default for DownloadSettings {
    fn default() -> Self {
        Self {
            app_name: "上海备案".into(),
            android_url: None,
            ios_url: None,
            harmony_url: None,
            app_scheme: None,
            web_flow: true,
        }
    }
}

impl DownloadSettings {
    /// Download links must be http(s) URLs and the App scheme a URL scheme.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        for (name, url) in [
            (
                "download.android_url (HEYAN_DOWNLOAD__ANDROID_URL)",
                &self.android_url,
            ),
            ("download.ios_url (HEYAN_DOWNLOAD__IOS_URL)", &self.ios_url),
            (
                "download.harmony_url (HEYAN_DOWNLOAD__HARMONY_URL)",
                &self.harmony_url,
            ),
        ] {
            if let Some(Err(e)) = url.as_deref().map(super::check_base_url) {
                problems.push(format!("{name}: {e}"));
            }
        }
        if let Some(scheme) = &self.app_scheme {
            let ok = !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if !ok {
                problems.push(format!("download.app_scheme (HEYAN_DOWNLOAD__APP_SCHEME): `{scheme}` is not a URL scheme"));
            }
        }
    }
}
