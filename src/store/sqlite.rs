//! SQLite implementation of `Store` (the default backend): one file, WAL mode, created
//! and migrated on first start. Times are stored as INTEGER milliseconds (UTC).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};

use super::{
    backend, id_from_db, on_unique, roles_from_db, Client, ClientKey, ConsumeOutcome, NewClient,
    NewClientKey, NewReviewer, NewSingleUseToken, Reviewer, Store, StoreError,
};
use crate::config::DatabaseKind;
use crate::domain::ids::{ClientId, ClientKeyId, ReviewerId};
use crate::domain::role::Role;

/// SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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

fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("timestamp out of range: {ms}")))
}

fn opt_from_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(from_ms).transpose()
}

#[derive(FromRow)]
struct ClientRow {
    id: String,
    name: String,
    webhook_url: Option<String>,
    revoked_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: id_from_db(&row.id, ClientId::parse)?,
            name: row.name,
            webhook_url: row.webhook_url,
            revoked_at: opt_from_ms(row.revoked_at)?,
            created_at: from_ms(row.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct ClientKeyRow {
    key_id: String,
    key_client_id: String,
    key_prefix: String,
    key_revoked_at: Option<i64>,
    key_created_at: i64,
}

impl TryFrom<ClientKeyRow> for ClientKey {
    type Error = StoreError;
    fn try_from(row: ClientKeyRow) -> Result<Self, StoreError> {
        Ok(ClientKey {
            id: id_from_db(&row.key_id, ClientKeyId::parse)?,
            client_id: id_from_db(&row.key_client_id, ClientId::parse)?,
            key_prefix: row.key_prefix,
            revoked_at: opt_from_ms(row.key_revoked_at)?,
            created_at: from_ms(row.key_created_at)?,
        })
    }
}

#[derive(FromRow)]
struct ReviewerRow {
    id: String,
    username: String,
    display_name: String,
    password_hash: String,
    roles: String,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<ReviewerRow> for Reviewer {
    type Error = StoreError;
    fn try_from(row: ReviewerRow) -> Result<Self, StoreError> {
        Ok(Reviewer {
            id: id_from_db(&row.id, ReviewerId::parse)?,
            username: row.username,
            display_name: row.display_name,
            password_hash: row.password_hash,
            roles: roles_from_db(&row.roles)?,
            disabled_at: opt_from_ms(row.disabled_at)?,
            created_at: from_ms(row.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct TokenStateRow {
    consumed_at: Option<i64>,
}

const CLIENT_COLUMNS: &str = "c.id, c.name, c.webhook_url, c.revoked_at, c.created_at";

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

    async fn insert_client(
        &self,
        client: &NewClient,
        key: &NewClientKey,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let at = to_ms(client.created_at);
        sqlx::query(
            "insert into clients (id, name, webhook_url, created_at, updated_at) values (?, ?, ?, ?, ?)",
        )
        .bind(client.id.as_str())
        .bind(&client.name)
        .bind(&client.webhook_url)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(on_unique("client_name_taken"))?;
        sqlx::query(
            "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.as_str())
        .bind(key.client_id.as_str())
        .bind(&key.key_hash)
        .bind(&key.key_prefix)
        .bind(to_ms(key.created_at))
        .bind(to_ms(key.created_at))
        .execute(&mut *tx)
        .await
        .map_err(on_unique("client_key_exists"))?;
        tx.commit().await.map_err(backend)
    }

    async fn find_client_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(Client, ClientKey)>, StoreError> {
        let sql = format!(
            "select {CLIENT_COLUMNS}, k.id as key_id, k.client_id as key_client_id,
                    k.key_prefix, k.revoked_at as key_revoked_at, k.created_at as key_created_at
             from client_keys k join clients c on c.id = k.client_id
             where k.key_hash = ?"
        );
        let row = sqlx::query(&sql)
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let client = Client::try_from(ClientRow::from_row(&row).map_err(backend)?)?;
        let key = ClientKey::try_from(ClientKeyRow::from_row(&row).map_err(backend)?)?;
        Ok(Some((client, key)))
    }

    async fn get_client(&self, id: &ClientId) -> Result<Client, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS} from clients c where c.id = ?");
        sqlx::query_as::<_, ClientRow>(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS} from clients c order by c.created_at, c.id");
        sqlx::query_as::<_, ClientRow>(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .into_iter()
            .map(Client::try_from)
            .collect()
    }

    async fn insert_reviewer(&self, reviewer: &NewReviewer) -> Result<(), StoreError> {
        let at = to_ms(reviewer.created_at);
        sqlx::query(
            "insert into reviewers (id, username, display_name, password_hash, roles, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(reviewer.id.as_str())
        .bind(&reviewer.username)
        .bind(&reviewer.display_name)
        .bind(&reviewer.password_hash)
        .bind(Role::join(&reviewer.roles))
        .bind(at)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(on_unique("reviewer_username_taken"))?;
        Ok(())
    }

    async fn find_reviewer_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Reviewer>, StoreError> {
        sqlx::query_as::<_, ReviewerRow>(
            "select id, username, display_name, password_hash, roles, disabled_at, created_at
             from reviewers where username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(Reviewer::try_from)
        .transpose()
    }

    async fn insert_single_use_token(&self, token: &NewSingleUseToken) -> Result<(), StoreError> {
        let at = to_ms(token.created_at);
        sqlx::query(
            "insert into single_use_tokens (purpose, token_hash, subject, expires_at, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.purpose)
        .bind(&token.token_hash)
        .bind(&token.subject)
        .bind(to_ms(token.expires_at))
        .bind(at)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(on_unique("token_exists"))?;
        Ok(())
    }

    async fn consume_single_use_token(
        &self,
        purpose: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ConsumeOutcome, StoreError> {
        // The conditional update is the whole guarantee: only one caller can flip
        // consumed_at from null.
        let consumed: Option<(String,)> = sqlx::query_as(
            "update single_use_tokens set consumed_at = ?, updated_at = ?
             where purpose = ? and token_hash = ? and consumed_at is null and expires_at > ?
             returning subject",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(purpose)
        .bind(token_hash)
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some((subject,)) = consumed {
            return Ok(ConsumeOutcome::Consumed { subject });
        }
        let state = sqlx::query_as::<_, TokenStateRow>(
            "select consumed_at from single_use_tokens where purpose = ? and token_hash = ?",
        )
        .bind(purpose)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(match state {
            None => ConsumeOutcome::Unknown,
            Some(TokenStateRow {
                consumed_at: Some(_),
            }) => ConsumeOutcome::AlreadyUsed,
            Some(TokenStateRow { consumed_at: None }) => ConsumeOutcome::Expired,
        })
    }

    async fn increment_counter(
        &self,
        key: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(
            "insert into rate_counters (counter_key, window_start, count, expires_at, created_at, updated_at)
             values (?, ?, 1, ?, ?, ?)
             on conflict (counter_key, window_start)
             do update set count = rate_counters.count + 1, updated_at = excluded.updated_at
             returning count",
        )
        .bind(key)
        .bind(to_ms(window_start))
        .bind(to_ms(expires_at))
        .bind(to_ms(now))
        .bind(to_ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count)
    }

    async fn get_counter(&self, key: &str, window_start: DateTime<Utc>) -> Result<i64, StoreError> {
        let count: Option<(i64,)> = sqlx::query_as(
            "select count from rate_counters where counter_key = ? and window_start = ?",
        )
        .bind(key)
        .bind(to_ms(window_start))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count.map_or(0, |(c,)| c))
    }

    async fn delete_expired_counters(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from rate_counters where expires_at < ?")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
