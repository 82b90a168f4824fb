//! One instance at a time for periodic jobs: before a housekeeping pass, an instance
//! claims the tick. On PostgreSQL the claim is `pg_try_advisory_xact_lock` inside a
//! transaction held for the pass (released when the lease drops, also through a
//! connection pooler, and by the server if the instance dies); the other instances skip
//! that pass. SQLite serves one instance, so its claim always succeeds. Every sweep is
//! idempotent anyway: the lease saves work, it does not guard correctness.

use async_trait::async_trait;

use super::dialect::SqlStore;
use super::{backend, StoreError};

/// Held while a periodic job runs; [`TickLease::release`] (or dropping it) lets the next
/// instance in.
pub struct TickLease {
    // On PostgreSQL, the transaction holding the advisory lock; rolled back on drop.
    held: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

impl TickLease {
    /// Ends the lease now (a dropped lease ends when its connection is next used).
    pub async fn release(self) -> Result<(), StoreError> {
        match self.held {
            Some(tx) => tx.rollback().await.map_err(backend),
            None => Ok(()),
        }
    }
}

/// Claims of periodic jobs.
#[async_trait]
pub trait TickStore: Send + Sync {
    /// The lease for `job` when no other instance holds it, else `None`.
    async fn claim_tick(&self, job: &str) -> Result<Option<TickLease>, StoreError>;
}

#[async_trait]
impl TickStore for SqlStore<sqlx::Sqlite> {
    async fn claim_tick(&self, _job: &str) -> Result<Option<TickLease>, StoreError> {
        Ok(Some(TickLease { held: None }))
    }
}

#[async_trait]
impl TickStore for SqlStore<sqlx::Postgres> {
    async fn claim_tick(&self, job: &str) -> Result<Option<TickLease>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // hashtext() turns the job's name into the lock's key; one key per job.
        let (claimed,): (bool,) = sqlx::query_as("select pg_try_advisory_xact_lock(hashtext($1))")
            .bind(format!("heyan:{job}"))
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        Ok(claimed.then_some(TickLease { held: Some(tx) }))
    }
}
