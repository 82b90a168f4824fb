//! PostgreSQL implementation of `Store`: the backend for several heyan instances behind a
//! load balancer. Times are `timestamptz`.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, FromRow, PgPool};

use super::{
    backend, id_from_db, on_unique, roles_from_db, Client, ClientKey, ConsumeOutcome, NewClient,
    NewClientKey, NewReviewer, NewSingleUseToken, Reviewer, Store, StoreError,
};
use crate::config::{redact_url, DatabaseKind};
use crate::domain::ids::{ClientId, ClientKeyId, ReviewerId};
use crate::domain::role::Role;

/// PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
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

#[derive(FromRow)]
struct ClientRow {
    id: String,
    name: String,
    webhook_url: Option<String>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: id_from_db(&row.id, ClientId::parse)?,
            name: row.name,
            webhook_url: row.webhook_url,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
        })
    }
}

#[derive(FromRow)]
struct ClientKeyRow {
    key_id: String,
    key_client_id: String,
    key_prefix: String,
    key_revoked_at: Option<DateTime<Utc>>,
    key_created_at: DateTime<Utc>,
}

impl TryFrom<ClientKeyRow> for ClientKey {
    type Error = StoreError;
    fn try_from(row: ClientKeyRow) -> Result<Self, StoreError> {
        Ok(ClientKey {
            id: id_from_db(&row.key_id, ClientKeyId::parse)?,
            client_id: id_from_db(&row.key_client_id, ClientId::parse)?,
            key_prefix: row.key_prefix,
            revoked_at: row.key_revoked_at,
            created_at: row.key_created_at,
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
    disabled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
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
            disabled_at: row.disabled_at,
            created_at: row.created_at,
        })
    }
}

#[derive(FromRow)]
struct TokenStateRow {
    consumed_at: Option<DateTime<Utc>>,
}

const CLIENT_COLUMNS: &str = "c.id, c.name, c.webhook_url, c.revoked_at, c.created_at";

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

    async fn insert_client(
        &self,
        client: &NewClient,
        key: &NewClientKey,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "insert into clients (id, name, webhook_url, created_at, updated_at) values ($1, $2, $3, $4, $4)",
        )
        .bind(client.id.as_str())
        .bind(&client.name)
        .bind(&client.webhook_url)
        .bind(client.created_at)
        .execute(&mut *tx)
        .await
        .map_err(on_unique("client_name_taken"))?;
        sqlx::query(
            "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(key.id.as_str())
        .bind(key.client_id.as_str())
        .bind(&key.key_hash)
        .bind(&key.key_prefix)
        .bind(key.created_at)
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
             where k.key_hash = $1"
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
        let sql = format!("select {CLIENT_COLUMNS} from clients c where c.id = $1");
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
        sqlx::query(
            "insert into reviewers (id, username, display_name, password_hash, roles, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(reviewer.id.as_str())
        .bind(&reviewer.username)
        .bind(&reviewer.display_name)
        .bind(&reviewer.password_hash)
        .bind(Role::join(&reviewer.roles))
        .bind(reviewer.created_at)
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
             from reviewers where username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(Reviewer::try_from)
        .transpose()
    }

    async fn insert_single_use_token(&self, token: &NewSingleUseToken) -> Result<(), StoreError> {
        sqlx::query(
            "insert into single_use_tokens (purpose, token_hash, subject, expires_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&token.purpose)
        .bind(&token.token_hash)
        .bind(&token.subject)
        .bind(token.expires_at)
        .bind(token.created_at)
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
        // Under READ COMMITTED the losers of a race re-check `consumed_at is null` after the
        // winner commits, so exactly one caller gets the row back.
        let consumed: Option<(String,)> = sqlx::query_as(
            "update single_use_tokens set consumed_at = $1, updated_at = $1
             where purpose = $2 and token_hash = $3 and consumed_at is null and expires_at > $1
             returning subject",
        )
        .bind(now)
        .bind(purpose)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some((subject,)) = consumed {
            return Ok(ConsumeOutcome::Consumed { subject });
        }
        let state = sqlx::query_as::<_, TokenStateRow>(
            "select consumed_at from single_use_tokens where purpose = $1 and token_hash = $2",
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
             values ($1, $2, 1, $3, $4, $4)
             on conflict (counter_key, window_start)
             do update set count = rate_counters.count + 1, updated_at = excluded.updated_at
             returning count",
        )
        .bind(key)
        .bind(window_start)
        .bind(expires_at)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count)
    }

    async fn get_counter(&self, key: &str, window_start: DateTime<Utc>) -> Result<i64, StoreError> {
        let count: Option<(i64,)> = sqlx::query_as(
            "select count from rate_counters where counter_key = $1 and window_start = $2",
        )
        .bind(key)
        .bind(window_start)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count.map_or(0, |(c,)| c))
    }

    async fn delete_expired_counters(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from rate_counters where expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
