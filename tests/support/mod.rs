//! Shared test helpers, included by each test binary with `#[path]`: a fresh database
//! per test (SQLite file, or a uniquely named PostgreSQL database when
//! `TEST_POSTGRES_URL` is set), and settings for a server on a random port.
#![allow(dead_code)]

use std::sync::Arc;

use heyan::config::Settings;
use heyan::store::{self, Store};
use sqlx::Connection;
use tempfile::TempDir;

/// `REQUIRE_POSTGRES=1` turns a missing or unreachable PostgreSQL into a failure, so a
/// mistyped variable in CI cannot silently drop half the suite.
fn postgres_required() -> bool {
    std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A throwaway database, migrated on creation and removed on drop.
pub struct TestDb {
    url: String,
    store: Arc<dyn Store>,
    /// Holds the SQLite file (and anything else the test puts there).
    dir: TempDir,
    /// For PostgreSQL: the admin URL and the database to drop.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite database in a temporary folder.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("heyan.db").display());
        let store = open(&url).await;
        Self {
            url,
            store,
            dir,
            postgres: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a printed notice) when
    /// `TEST_POSTGRES_URL` is unset and PostgreSQL is not required.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
            assert!(
                !postgres_required(),
                "REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set"
            );
            announce_skip();
            return None;
        };
        let name = format!("heyan_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at TEST_POSTGRES_URL: {e}"));
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let store = open(&url).await;
        let dir = tempfile::tempdir().expect("temp dir");
        Some(Self {
            url,
            store,
            dir,
            postgres: Some((admin_url, name)),
        })
    }

    /// The store, shared.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Whether this is the PostgreSQL run.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A temporary folder that lives as long as the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs one SQL statement on its own connection, past the store (to tamper with rows
    /// as an intruder would); returns the rows affected.
    pub async fn execute_sql(&self, sql: &str) -> u64 {
        let done = if self.postgres.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .map(|r| r.rows_affected())
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .map(|r| r.rows_affected())
        };
        done.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Drops a PostgreSQL database now (to test how heyan copes with a lost database).
    pub async fn drop_postgres_now(&self) {
        if let Some((admin_url, name)) = &self.postgres {
            drop_database(admin_url, name).await;
        }
    }
}

/// Says once per test binary, past the output capture, that PostgreSQL runs are skipped.
fn announce_skip() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: TEST_POSTGRES_URL is not set: the PostgreSQL runs of this suite are SKIPPED \
             (they pass without testing anything). Set it, e.g. postgres://postgres@127.0.0.1:5432/postgres"
        );
    });
}

async fn open(url: &str) -> Arc<dyn Store> {
    let store = store::connect(url, 8)
        .await
        .expect("open the test database");
    store.migrate().await.expect("migrate the test database");
    store
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&mut admin)
            .await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a separate thread with its own runtime can
        // block on the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(drop_database(&admin_url, &name));
            }
        })
        .join();
    }
}

/// Settings for a test server: random port, the given database, a data folder of its own.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().expect("address");
    settings.data_dir = db.dir().join("data");
    settings.database.url = Some(db.url().to_owned().into());
    settings.database.max_connections = 4;
    settings
}

/// Instantiates each listed `async fn(TestDb)` twice: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_databases {
    ($cases:path => $($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    use $cases as cases;
                    let db = $crate::support::TestDb::sqlite().await;
                    cases::$case(db).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    use $cases as cases;
                    if let Some(db) = $crate::support::TestDb::postgres().await {
                        cases::$case(db).await
                    }
                }
            )+
        }
    };
}
