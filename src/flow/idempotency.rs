//! `Idempotency-Key` for the filing system's POSTs: the first answer is kept (for
//! `filing.idempotency_hours`) and replayed for the same request; the same key with a
//! different request is refused. The HTTP layer runs the request between [`begin`] and
//! [`keep`].

use chrono::Duration;
use sha2::{Digest, Sha256};

use super::{FlowError, Services};
use crate::domain::ids::ClientId;
use crate::error_code::ErrorCode;
use crate::store::{IdempotencyStart, IdempotencyState};

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// First time: run it, then [`keep`] the answer.
    Fresh,
    /// Seen before: answer with what was kept.
    Replay {
        /// The kept HTTP status.
        status: u16,
        /// The kept JSON body.
        body: String,
    },
}

/// Claims `key` for this client and request (`fingerprint`): `idempotency_key_reused` when
/// the key was used for another request, `idempotency_in_progress` while the first run of
/// it is still going.
pub async fn begin(
    svc: &Services,
    client: &ClientId,
    key: &str,
    fingerprint: &str,
) -> Result<Begun, FlowError> {
    let now = svc.clock.now();
    let start = IdempotencyStart {
        client_id: client.clone(),
        key: key.to_owned(),
        request_hash: hex::encode(Sha256::digest(fingerprint.as_bytes())),
        now,
        expires_at: now + Duration::hours(i64::from(svc.settings.filing.idempotency_hours)),
    };
    match svc.store.begin_idempotent(&start).await? {
        IdempotencyState::Fresh => Ok(Begun::Fresh),
        IdempotencyState::Replay { status, body } => Ok(Begun::Replay { status, body }),
        IdempotencyState::Mismatch => Err(ErrorCode::IdempotencyKeyReused.into()),
        IdempotencyState::InProgress => {
            Err(FlowError::retry_later(ErrorCode::IdempotencyInProgress, 1))
        }
    }
}

/// Keeps the answer to a fresh request (`Some((status, body))`), or releases the key
/// (`None`, after a server error) so a retry runs again.
pub async fn keep(
    svc: &Services,
    client: &ClientId,
    key: &str,
    answer: Option<(u16, &str)>,
) -> Result<(), FlowError> {
    match answer {
        Some((status, body)) => {
            svc.store
                .finish_idempotent(client, key, status, body, svc.clock.now())
                .await?;
        }
        None => svc.store.abandon_idempotent(client, key).await?,
    }
    Ok(())
}
