//! The webhook outbox: events queued in the transaction of the change they report,
//! leased to one worker at a time, retried until delivered or given up.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::dialect::{Dialect, SqlStore, Ts};
use super::{backend, id_from_db, EventFailure, NewEvent, OutboxEvent, StoreError};
use crate::domain::ids::{ClientId, EventId};

/// The durable webhook outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues a webhook event.
    async fn insert_event(&self, event: &NewEvent) -> Result<(), StoreError>;

    /// Leases up to `limit` due, undelivered events until `lease_until`; an event leased by
    /// one worker is not handed to another before the lease ends.
    async fn claim_due_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// `claim_due_events` for one client's events only.
    async fn claim_due_events_of(
        &self,
        client: &ClientId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// The clients with events due and not leased at `now` (at most `limit`), so that each
    /// client's receiver can be served on its own.
    async fn clients_with_due_events(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClientId>, StoreError>;

    /// Records a successful delivery.
    async fn mark_event_delivered(
        &self,
        id: &EventId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records a failed try: the next one at `next_attempt_at`, or none when `give_up`.
    async fn mark_event_failed(&self, failure: &EventFailure) -> Result<(), StoreError>;

    /// An event by id (tests and operators).
    async fn get_event(&self, id: &EventId) -> Result<OutboxEvent, StoreError>;
}

/// An event waiting for a try at `$1`: undelivered, not given up, due, and not leased.
const DUE: &str = "delivered_at is null and gave_up_at is null and next_attempt_at <= $1
    and (locked_until is null or locked_until <= $1)";

const EVENT_COLUMNS: &str = "id, client_id, event_type, payload, attempts, next_attempt_at,
    delivered_at, gave_up_at, last_error, created_at";

#[derive(FromRow)]
struct EventRow {
    id: String,
    client_id: String,
    event_type: String,
    payload: String,
    attempts: i32,
    next_attempt_at: Ts,
    delivered_at: Option<Ts>,
    gave_up_at: Option<Ts>,
    last_error: Option<String>,
    created_at: Ts,
}

impl TryFrom<EventRow> for OutboxEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(OutboxEvent {
            id: id_from_db(&r.id, EventId::parse)?,
            client_id: id_from_db(&r.client_id, ClientId::parse)?,
            event_type: r.event_type,
            payload: r.payload,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at.into(),
            delivered_at: r.delivered_at.map(Into::into),
            gave_up_at: r.gave_up_at.map(Into::into),
            last_error: r.last_error,
            created_at: r.created_at.into(),
        })
    }
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl OutboxStore for SqlStore<$db> {
            async fn insert_event(&self, event: &NewEvent) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                Self::insert_event_in(&mut tx, event).await?;
                tx.commit().await.map_err(backend)
            }

            async fn claim_due_events(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                self.claim(None, now, lease_until, limit).await
            }

            async fn claim_due_events_of(
                &self,
                client: &ClientId,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                self.claim(Some(client), now, lease_until, limit).await
            }

            async fn clients_with_due_events(
                &self,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<ClientId>, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(&format!(
                    "select distinct client_id from webhook_outbox where {DUE} limit $2"
                ))
                .bind(Ts(now))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                rows.iter()
                    .map(|(id,)| id_from_db(id, ClientId::parse))
                    .collect()
            }

            async fn mark_event_delivered(
                &self,
                id: &EventId,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "update webhook_outbox set delivered_at = $1, attempts = attempts + 1, locked_until = null,
                         last_error = null, updated_at = $2
                     where id = $3",
                )
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn mark_event_failed(&self, f: &EventFailure) -> Result<(), StoreError> {
                let gave_up = f.give_up.then_some(f.now);
                sqlx::query(
                    "update webhook_outbox set attempts = $1, next_attempt_at = $2, gave_up_at = $3,
                         last_error = $4, locked_until = null, updated_at = $5
                     where id = $6",
                )
                .bind(f.attempts)
                .bind(Ts(f.next_attempt_at))
                .bind(gave_up.map(Ts))
                .bind(&f.error)
                .bind(Ts(f.now))
                .bind(f.id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn get_event(&self, id: &EventId) -> Result<OutboxEvent, StoreError> {
                let sql = format!("select {EVENT_COLUMNS} from webhook_outbox where id = $1");
                sqlx::query_as::<_, EventRow>(&sql)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }
        }
        impl SqlStore<$db> {
            /// Queues `event` inside the caller's transaction, so an event is queued
            /// exactly when the change it reports commits.
            pub(super) async fn insert_event_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                event: &NewEvent,
            ) -> Result<(), StoreError> {
                let at = Ts(event.created_at);
                sqlx::query(
                    "insert into webhook_outbox (id, client_id, event_type, payload, next_attempt_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $5, $5)",
                )
                .bind(event.id.as_str())
                .bind(event.client_id.as_str())
                .bind(&event.event_type)
                .bind(&event.payload)
                .bind(at)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
                Ok(())
            }

            /// Leases due events, of one client or of all.
            async fn claim(
                &self,
                client: Option<&ClientId>,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                let sql = format!(
                    "update webhook_outbox set locked_until = $2, updated_at = $1
                     where id in (
                         select id from webhook_outbox
                         where {DUE} and (cast($4 as text) is null or client_id = $4)
                         order by next_attempt_at limit $3
                         {skip_locked})
                     returning {EVENT_COLUMNS}",
                    skip_locked = <$db as Dialect>::SKIP_LOCKED,
                );
                sqlx::query_as::<_, EventRow>(&sql)
                    .bind(Ts(now))
                    .bind(Ts(lease_until))
                    .bind(i64::from(limit))
                    .bind(client.map(ClientId::as_str))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(OutboxEvent::try_from)
                    .collect()
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
