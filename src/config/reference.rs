//! The settings reference (docs/configuration.md): every setting's TOML key, `HEYAN_*`
//! environment variable, default and one line of description.
//!
//! Names and defaults come from `Settings` itself (its serialised defaults); only the
//! descriptions are written by hand, in a `DOCS` table beside each section's struct. The
//! tests below fail when a field has no line, a line names no field, or a documented
//! variable is not read from the environment.

use std::fmt::Write as _;

use super::Settings;

/// One setting's line in the reference.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    /// The key inside its section (`listen`), or the top-level key (`mode`).
    pub key: &'static str,
    /// What the setting does, one line.
    pub about: &'static str,
    /// The default as text, for settings whose default in code is "unset" and which then
    /// fall back to a value derived from other settings (`{data_dir}/blobs`).
    pub default_text: Option<&'static str>,
    /// Never serialised: the value is a secret (or may hold a password).
    pub secret: bool,
}

impl SettingDoc {
    /// A setting whose default is the value in `Settings::default()`.
    pub const fn new(key: &'static str, about: &'static str) -> Self {
        Self {
            key,
            about,
            default_text: None,
            secret: false,
        }
    }

    /// The default shown is `text` rather than the serialised default.
    pub const fn default_text(mut self, text: &'static str) -> Self {
        self.default_text = Some(text);
        self
    }

    /// The setting is a secret: it is not serialised, so its default is not read from code.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

/// One section of the reference: `[server]` and so on; the top level has an empty name.
#[derive(Debug, Clone, Copy)]
pub struct SectionDoc {
    /// The TOML table name (`server`), empty for top-level settings.
    pub name: &'static str,
    /// What the section is about, one line.
    pub about: &'static str,
    /// Its settings, in the order of the struct's fields.
    pub settings: &'static [SettingDoc],
}

/// Every section, in the order of `Settings`' fields.
pub const SECTIONS: &[SectionDoc] = &[
    SectionDoc {
        name: "",
        about: "Settings outside any table.",
        settings: super::DOCS,
    },
    SectionDoc {
        name: "server",
        about: "The HTTP listeners (public, and admin for metrics), the public URL, timeouts and body limits.",
        settings: super::server::DOCS,
    },
    SectionDoc {
        name: "database",
        about: "The database; SQLite and PostgreSQL are both supported.",
        settings: super::database::DOCS,
    },
    SectionDoc {
        name: "blob",
        about: "Where the encrypted photos are stored.",
        settings: super::blob::DOCS,
    },
    SectionDoc {
        name: "secrets",
        about: "The master secret: every encryption and HMAC key derives from it.",
        settings: super::secrets::DOCS,
    },
    SectionDoc {
        name: "sms",
        about: "The provider that sends SMS codes.",
        settings: super::sms::DOCS,
    },
    SectionDoc {
        name: "review",
        about: "The review desk: console cookies, leases, logins, sessions, photo retention.",
        settings: super::review::DOCS,
    },
    SectionDoc {
        name: "log",
        about: "Log output.",
        settings: super::log::DOCS,
    },
    SectionDoc {
        name: "filing",
        about: "Policies of the filing-system API.",
        settings: super::filing::DOCS,
    },
    SectionDoc {
        name: "download",
        about: "Where the QR landing page sends each phone platform.",
        settings: super::download::DOCS,
    },
    SectionDoc {
        name: "webhook",
        about: "Delivery of signed events to filing systems.",
        settings: super::webhook::DOCS,
    },
    SectionDoc {
        name: "calendar",
        about: "The business-day calendar.",
        settings: super::calendar::DOCS,
    },
    SectionDoc {
        name: "app",
        about: "Policies of the App API: SMS codes and sessions.",
        settings: super::app::DOCS,
    },
];

/// The dotted path of a setting (`server.listen`, `mode`).
pub fn path(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_owned()
    } else {
        format!("{section}.{key}")
    }
}

/// The environment variable that sets `path` (`HEYAN_SERVER__LISTEN`).
pub fn env_name(path: &str) -> String {
    format!("HEYAN_{}", path.to_ascii_uppercase().replace('.', "__"))
}

/// `Settings::default()` as JSON: the source of names and defaults.
fn serialized_defaults() -> serde_json::Value {
    serde_json::to_value(Settings::default()).expect("Settings serialise to JSON")
}

/// The default of one setting as Markdown.
fn default_of(defaults: &serde_json::Value, section: &str, doc: &SettingDoc) -> String {
    if let Some(text) = doc.default_text {
        return text.to_owned();
    }
    let value = if section.is_empty() {
        defaults.get(doc.key)
    } else {
        defaults.get(section).and_then(|s| s.get(doc.key))
    };
    match value {
        None | Some(serde_json::Value::Null) => "—".to_owned(),
        Some(serde_json::Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("`{other}`"),
    }
}

/// docs/configuration.md.
pub fn markdown() -> String {
    let defaults = serialized_defaults();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from `heyan::config` by `UPDATE_DOCS=1 cargo test --lib docs`; do not edit. -->\n\n\
         heyan reads its settings from three sources, later ones winning: the defaults in\n\
         code, an optional TOML file (`--config FILE` or `HEYAN_CONFIG`), and environment\n\
         variables. A setting's variable is `HEYAN_` followed by its path in capitals, with\n\
         `__` between levels: `server.listen` is `HEYAN_SERVER__LISTEN`. Lists are written\n\
         `[a,b]` in the environment. `heyan check-config` validates the result and prints it\n\
         with secrets redacted; an invalid setting stops start-up with a message naming it\n\
         (exit code 2). Production mode (`mode = \"production\"`) refuses development-only\n\
         choices: the `log` SMS provider, a generated master secret, and console cookies\n\
         without `Secure`. `heyan settings` prints this page for the binary at hand.\n",
    );
    for section in SECTIONS {
        let title = if section.name.is_empty() {
            "Top level".to_owned()
        } else {
            format!("`[{}]`", section.name)
        };
        let _ = write!(
            out,
            "\n## {title}\n\n{}\n\n| setting | environment | default | meaning |\n| --- | --- | --- | --- |\n",
            section.about
        );
        for doc in section.settings {
            let path = path(section.name, doc.key);
            let secret = if doc.secret { " *(secret)*" } else { "" };
            let _ = writeln!(
                out,
                "| `{path}` | `{}` | {}{secret} | {} |",
                env_name(&path),
                default_of(&defaults, section.name, doc),
                doc.about.replace('|', "\\|"),
            );
        }
    }
    out
}

#[cfg(test)]
// figment's Jail closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use std::collections::BTreeSet;

    use figment::providers::Serialized;
    use figment::Figment;

    use super::*;

    /// Every leaf of the serialised defaults, as dotted paths.
    fn serialized_paths() -> BTreeSet<String> {
        let mut paths = BTreeSet::new();
        let defaults = serialized_defaults();
        for (key, value) in defaults.as_object().expect("Settings is a table") {
            match value.as_object() {
                Some(section) => paths.extend(section.keys().map(|k| format!("{key}.{k}"))),
                None => {
                    paths.insert(key.clone());
                }
            }
        }
        paths
    }

    fn documented() -> Vec<(String, SettingDoc)> {
        SECTIONS
            .iter()
            .flat_map(|s| s.settings.iter().map(|d| (path(s.name, d.key), *d)))
            .collect()
    }

    #[test]
    fn every_setting_has_exactly_one_line_in_the_reference() {
        let documented = documented();
        let names: BTreeSet<String> = documented.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            names.len(),
            documented.len(),
            "a setting is documented twice"
        );
        let serialized = serialized_paths();
        let undocumented: Vec<_> = serialized.difference(&names).collect();
        assert!(
            undocumented.is_empty(),
            "add a line to the section's DOCS table for {undocumented:?}"
        );
        for (path, doc) in &documented {
            assert!(
                serialized.contains(path) || doc.secret,
                "{path} is documented but is not a serialised setting; mark it .secret() if it is a skipped secret, or remove it"
            );
            assert!(!doc.about.is_empty(), "{path} has no description");
        }
    }

    /// Secrets are not serialised, so their names are checked against the struct: setting
    /// an unknown key fails with "unknown field".
    #[test]
    fn documented_secrets_are_real_fields() {
        let unknown = |key: &str| {
            Figment::from(Serialized::defaults(Settings::default()))
                .merge(Serialized::default(key, "x"))
                .extract::<Settings>()
                .err()
                .is_some_and(|e| {
                    e.into_iter()
                        .any(|e| matches!(e.kind, figment::error::Kind::UnknownField(..)))
                })
        };
        assert!(
            unknown("secrets.no_such_setting"),
            "the probe detects typos"
        );
        for (path, doc) in documented() {
            if doc.secret {
                assert!(!unknown(&path), "{path} is not a field of Settings");
            }
        }
    }

    /// Sections missing from `KNOWN_TOP_LEVEL` would have their environment variables
    /// silently ignored.
    #[test]
    fn the_environment_filter_knows_every_section_of_settings() {
        let defaults = serialized_defaults();
        let from_settings: BTreeSet<&str> = defaults
            .as_object()
            .expect("Settings is a table")
            .keys()
            .map(String::as_str)
            .collect();
        let known: BTreeSet<&str> = super::super::KNOWN_TOP_LEVEL.iter().copied().collect();
        assert_eq!(known, from_settings);
        let sections: BTreeSet<&str> = SECTIONS
            .iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| s.name)
            .collect();
        let tables: BTreeSet<&str> = defaults
            .as_object()
            .expect("Settings is a table")
            .iter()
            .filter(|(_, v)| v.is_object())
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(sections, tables, "the reference lists every table");
    }

    /// Each documented variable reaches its setting: a value of the wrong kind is refused
    /// naming the setting, or an accepted value shows up in the loaded settings.
    #[test]
    fn every_documented_environment_variable_is_read() {
        let probe = "zz-probe";
        for (path, doc) in documented() {
            let env = env_name(&path);
            figment::Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(&env, probe);
                match Settings::load(None) {
                    Err(e) => {
                        let all = e.problems.join("\n");
                        assert!(all.contains(&path), "{env}: {all}");
                    }
                    Ok(settings) if !doc.secret => {
                        let loaded = serde_json::to_value(&settings).expect("serialise");
                        let value = path
                            .split('.')
                            .fold(&loaded, |v, k| &v[k])
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        assert_eq!(value, probe, "{env} was ignored");
                    }
                    // A secret is not serialised; its section's other settings prove that
                    // the section's variables are read.
                    Ok(_) => {}
                }
                Ok(())
            });
        }
    }

    #[test]
    fn the_reference_shows_defaults_from_code_and_derived_ones() {
        let text = markdown();
        for line in [
            "| `server.listen` | `HEYAN_SERVER__LISTEN` | `127.0.0.1:8080` |",
            "| `app.sms_code_ttl_minutes` | `HEYAN_APP__SMS_CODE_TTL_MINUTES` | `5` |",
            "| `blob.dir` | `HEYAN_BLOB__DIR` | `{data_dir}/blobs` |",
            "| `review.cookie_secure` | `HEYAN_REVIEW__COOKIE_SECURE` | `false` |",
            "| `download.app_name` | `HEYAN_DOWNLOAD__APP_NAME` | `上海备案` |",
        ] {
            assert!(text.contains(line), "missing {line}");
        }
    }
}
