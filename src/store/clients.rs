//! Filing-system clients and their API keys (only hashes are stored).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::dialect::{SqlStore, Ts};
use super::{
    backend, found, id_from_db, on_unique, Client, ClientKey, NewClient, NewClientKey, StoreError,
};
use crate::domain::ids::{ClientId, ClientKeyId};
use crate::error_code::ErrorCode;

/// Filing-system clients and their API keys.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts a client together with its first key, in one transaction.
    /// `Conflict(ClientNameTaken)` when the name is in use.
    async fn insert_client(&self, client: &NewClient, key: &NewClientKey)
        -> Result<(), StoreError>;

    /// The client and key for a key hash, when the key exists (revoked or not).
    async fn find_client_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(Client, ClientKey)>, StoreError>;

    /// The client with this id.
    async fn get_client(&self, id: &ClientId) -> Result<Client, StoreError>;

    /// All clients, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;

    /// Adds a key to a client (rotation); `Conflict(ClientKeyExists)` on a hash clash.
    async fn insert_client_key(&self, key: &NewClientKey) -> Result<(), StoreError>;

    /// A client's keys, oldest first.
    async fn list_client_keys(&self, client_id: &ClientId) -> Result<Vec<ClientKey>, StoreError>;

    /// Revokes one key; `NotFound` when it does not exist or is already revoked.
    async fn revoke_client_key(
        &self,
        key_id: &ClientKeyId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Revokes a client and with it every key; `NotFound` when absent or already revoked.
    async fn revoke_client(
        &self,
        client_id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

const KEY_COLUMNS: &str = "k.id as key_id, k.client_id as key_client_id, k.key_prefix,
    k.revoked_at as key_revoked_at, k.created_at as key_created_at";

const CLIENT_COLUMNS: &str =
    "c.id, c.name, c.webhook_url, c.webhook_secret_sealed, c.revoked_at, c.created_at";

#[derive(FromRow)]
struct ClientRow {
    id: String,
    name: String,
    webhook_url: Option<String>,
    webhook_secret_sealed: Option<String>,
    revoked_at: Option<Ts>,
    created_at: Ts,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: id_from_db(&row.id, ClientId::parse)?,
            name: row.name,
            webhook_url: row.webhook_url,
            webhook_secret_sealed: row.webhook_secret_sealed,
            revoked_at: row.revoked_at.map(Into::into),
            created_at: row.created_at.into(),
        })
    }
}

#[derive(FromRow)]
struct ClientKeyRow {
    key_id: String,
    key_client_id: String,
    key_prefix: String,
    key_revoked_at: Option<Ts>,
    key_created_at: Ts,
}

impl TryFrom<ClientKeyRow> for ClientKey {
    type Error = StoreError;
    fn try_from(row: ClientKeyRow) -> Result<Self, StoreError> {
        Ok(ClientKey {
            id: id_from_db(&row.key_id, ClientKeyId::parse)?,
            client_id: id_from_db(&row.key_client_id, ClientId::parse)?,
            key_prefix: row.key_prefix,
            revoked_at: row.key_revoked_at.map(Into::into),
            created_at: row.key_created_at.into(),
        })
    }
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl ClientStore for SqlStore<$db> {
            async fn insert_client(
                &self,
                client: &NewClient,
                key: &NewClientKey,
            ) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                sqlx::query(
                    "insert into clients (id, name, webhook_url, webhook_secret_sealed, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $5)",
                )
                .bind(client.id.as_str())
                .bind(&client.name)
                .bind(&client.webhook_url)
                .bind(&client.webhook_secret_sealed)
                .bind(Ts(client.created_at))
                .execute(&mut *tx)
                .await
                .map_err(on_unique(ErrorCode::ClientNameTaken))?;
                sqlx::query(
                    "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $5)",
                )
                .bind(key.id.as_str())
                .bind(key.client_id.as_str())
                .bind(&key.key_hash)
                .bind(&key.key_prefix)
                .bind(Ts(key.created_at))
                .execute(&mut *tx)
                .await
                .map_err(on_unique(ErrorCode::ClientKeyExists))?;
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

            async fn insert_client_key(&self, key: &NewClientKey) -> Result<(), StoreError> {
                let at = key.created_at;
                sqlx::query(
                    "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(key.id.as_str())
                .bind(key.client_id.as_str())
                .bind(&key.key_hash)
                .bind(&key.key_prefix)
                .bind(Ts(at))
                .bind(Ts(at))
                .execute(&self.pool)
                .await
                .map_err(on_unique(ErrorCode::ClientKeyExists))?;
                Ok(())
            }

            async fn list_client_keys(&self, client_id: &ClientId) -> Result<Vec<ClientKey>, StoreError> {
                let sql = format!("select {KEY_COLUMNS} from client_keys k where k.client_id = $1 order by k.created_at, k.id");
                sqlx::query_as::<_, ClientKeyRow>(&sql)
                    .bind(client_id.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(ClientKey::try_from)
                    .collect()
            }

            async fn revoke_client_key(
                &self,
                key_id: &ClientKeyId,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "update client_keys set revoked_at = $1, updated_at = $2 where id = $3 and revoked_at is null",
                )
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(key_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                found(done.rows_affected())
            }

            async fn revoke_client(
                &self,
                client_id: &ClientId,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let done = sqlx::query("update clients set revoked_at = $1, updated_at = $2 where id = $3 and revoked_at is null")
                    .bind(Ts(now))
                    .bind(Ts(now))
                    .bind(client_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                found(done.rows_affected())?;
                sqlx::query("update client_keys set revoked_at = $1, updated_at = $2 where client_id = $3 and revoked_at is null")
                    .bind(Ts(now))
                    .bind(Ts(now))
                    .bind(client_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
