//! `[calendar]`: business-day calendar data beyond the shipped years.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Business-day calendar (`[calendar]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarSettings {
    /// `HEYAN_CALENDAR__EXTRA_FILES`: more year files (same format as
    /// `assets/calendar/*.toml`) loaded after the shipped ones; a year given again
    /// replaces the shipped one. Lets operators add a newly published year without a release.
    pub extra_files: Vec<PathBuf>,
}

/// The settings reference's line for each `[calendar]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("extra_files", "More year files (the format of `assets/calendar/*.toml`) loaded after the shipped ones; a year given again replaces the shipped one."),
];
