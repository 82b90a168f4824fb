//! `[database]`: the database URL (its scheme picks the backend) and the pool;
//! redaction of passwords in URLs.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Database settings (`[database]`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `HEYAN_DATABASE__URL`: `sqlite:PATH` or `postgres://user:pass@host/db`. Default
    /// `sqlite:{data_dir}/heyan.db`. The scheme picks the backend.
    #[serde(skip_serializing)]
    pub url: Option<SecretString>,
    /// `HEYAN_DATABASE__MAX_CONNECTIONS`: connection pool size. Default 8.
    pub max_connections: u32,
    /// `HEYAN_DATABASE__MIGRATE_ON_START`: run migrations when `serve` starts. Default true.
    pub migrate_on_start: bool,
}

/// The settings reference's line for each `[database]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("url", "`sqlite:PATH` or `postgres://user:pass@host/db`; the scheme picks the backend. Printed with the password redacted.").default_text("`sqlite:{data_dir}/heyan.db`").secret(),
    SettingDoc::new("max_connections", "Connection pool size; at least 1."),
    SettingDoc::new("migrate_on_start", "`serve` applies pending migrations before it starts (`serve --no-migrate` skips them too)."),
];

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 8,
            migrate_on_start: true,
        }
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use secrecy::ExposeSecret;
        f.debug_struct("DatabaseSettings")
            .field(
                "url",
                &self.url.as_ref().map(|u| redact_url(u.expose_secret())),
            )
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The database backend named by the URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres:` and `postgresql:` URLs.
    Postgres,
}

/// The backend for a database URL, or a message naming the setting.
pub fn database_kind_of(url: &str) -> Result<DatabaseKind, String> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(DatabaseKind::Sqlite),
        "postgres" | "postgresql" => Ok(DatabaseKind::Postgres),
        _ => Err(format!(
            "database.url (HEYAN_DATABASE__URL): unknown scheme `{}` in `{}`; use `sqlite:PATH` or `postgres://…`",
            scheme,
            redact_url(url)
        )),
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    // libpq also takes secrets as parameters (`?password=…`, `sslpassword=…`).
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        ["password", "secret", "token", "key"]
            .iter()
            .any(|s| name.contains(s))
    };
    if parsed.query_pairs().any(|(name, _)| secret(&name)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if secret(&name) {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

impl DatabaseSettings {
    /// The pool needs at least one connection.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        if self.max_connections == 0 {
            problems.push(
                "database.max_connections (HEYAN_DATABASE__MAX_CONNECTIONS) must be at least 1"
                    .into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://heyan:s3cret@db:5432/heyan"),
            "postgres://heyan:***@db:5432/heyan"
        );
        assert_eq!(
            redact_url("postgres://heyan@db/heyan?sslmode=require&password=s3cret&sslpassword=k3y"),
            "postgres://heyan@db/heyan?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(
            redact_url("sqlite://data/heyan.db?mode=rwc"),
            "sqlite://data/heyan.db?mode=rwc"
        );
    }
}
