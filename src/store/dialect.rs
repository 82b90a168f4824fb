//! The few real differences between SQLite and PostgreSQL, and nothing else: how to
//! connect and migrate, how a timestamp is stored, and `for update skip locked`.
//!
//! Every query is written once, in the aggregate files beside this one, with `$N`
//! placeholders (sqlx's SQLite driver accepts them) and `Ts` for every point in time. A
//! `macro_rules!` in each aggregate file stamps its one body for both backends: a generic
//! impl over `sqlx::Database` would need a bound for every bound type and every executor,
//! and those bounds fight `async_trait`'s `Send` futures.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Database, Decode, Encode, Pool, Postgres, Sqlite, Type};

use super::{backend, Store, StoreError};
use crate::config::{redact_url, DatabaseKind};

/// A store on one sqlx database; `SqliteStore` and `PostgresStore` are the two there are.
#[derive(Debug, Clone)]
pub struct SqlStore<DB: Database> {
    pub(super) pool: Pool<DB>,
}

/// The default backend: one SQLite file in WAL mode, created and migrated on first start.
pub type SqliteStore = SqlStore<Sqlite>;

/// The backend for several heyan instances behind a load balancer.
pub type PostgresStore = SqlStore<Postgres>;

/// A point in time as the database keeps it: INTEGER milliseconds (UTC) on SQLite,
/// `timestamptz` on PostgreSQL. Rows and binds use it so one SQL text and one row struct
/// serve both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub DateTime<Utc>);

impl From<Ts> for DateTime<Utc> {
    fn from(ts: Ts) -> Self {
        ts.0
    }
}

/// The start of Unix time: the `window_start` that marks a cooldown row in `rate_counters`.
pub(super) const EPOCH: Ts = Ts(DateTime::UNIX_EPOCH);

impl Type<Sqlite> for Ts {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode(self.0.timestamp_millis(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let ms = <i64 as Decode<'r, Sqlite>>::decode(value)?;
        DateTime::from_timestamp_millis(ms)
            .map(Ts)
            .ok_or_else(|| format!("timestamp out of range: {ms} ms").into())
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Postgres> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<'r, Postgres>>::decode(value).map(Ts)
    }
}

/// What one backend spells differently.
pub trait Dialect {
    /// Appended to a `select` that claims rows for a worker: PostgreSQL skips rows another
    /// transaction holds; SQLite has one writer at a time and no such clause.
    const SKIP_LOCKED: &'static str;

    /// Starts a transaction that writes. SQLite takes the write lock at once (`immediate`):
    /// a deferred transaction that read first could not upgrade after another writer
    /// committed, and would fail instead of waiting.
    const BEGIN_WRITE: &'static str;

    /// Run in a transaction before it reads the audit log's head, so that two appends
    /// never read the same head: PostgreSQL takes a transaction-scoped advisory lock
    /// (released at commit, safe behind a transaction pooler); SQLite needs nothing,
    /// its write transactions already run one at a time.
    const LOCK_AUDIT_HEAD: Option<&'static str>;
}

impl Dialect for Sqlite {
    const SKIP_LOCKED: &'static str = "";
    const BEGIN_WRITE: &'static str = "begin immediate";
    const LOCK_AUDIT_HEAD: Option<&'static str> = None;
}

impl Dialect for Postgres {
    const SKIP_LOCKED: &'static str = "for update skip locked";
    const BEGIN_WRITE: &'static str = "begin";
    // The key is arbitrary and only has to differ from other advisory locks heyan takes.
    const LOCK_AUDIT_HEAD: Option<&'static str> = Some("select pg_advisory_xact_lock(7310001)");
}

impl<DB: Database + Dialect> SqlStore<DB> {
    /// Starts a transaction that will write (see `Dialect::BEGIN_WRITE`).
    pub(super) async fn begin_write(
        pool: &Pool<DB>,
    ) -> Result<sqlx::Transaction<'static, DB>, StoreError> {
        pool.begin_with(DB::BEGIN_WRITE).await.map_err(backend)
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file named by `url`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("database.url `{url}` is not a valid SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Writers queue on the file lock; wait for it rather than fail under bursts.
            .busy_timeout(Duration::from_secs(10));
        create_parent_dir(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the SQLite database at `{url}`"))?;
        Ok(Self { pool })
    }
}

fn create_parent_dir(file: &Path) -> anyhow::Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display())),
        _ => Ok(()),
    }
}

impl PostgresStore {
    /// Connects to the database named by `url`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse().with_context(|| {
            format!(
                "database.url `{}` is not a valid PostgreSQL URL",
                redact_url(url)
            )
        })?;
        // One direct connection first: a pool would hide the cause ("connection refused",
        // "database does not exist") behind a generic acquire timeout.
        let probe = options
            .connect()
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at `{}`", redact_url(url)))?;
        drop(probe.close().await);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.pool)
            .await
            .context("applying SQLite migrations")?;
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await
            .context("applying PostgreSQL migrations")?;
        Ok(())
    }
}
