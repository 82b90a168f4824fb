//! `Idempotency-Key` for the filing system's POSTs: the first answer is kept (for
//! `filing.idempotency_hours`) and replayed for the same request; the same key with a
//! different request is refused. The HTTP layer runs the request between [`begin`] and
//! [`Claim::keep`].
//!
//! A claim never outlives its request for long. A request is cut off after
//! `server.request_timeout_secs` (or when its client goes away): its handler future is
//! dropped, and the dropped [`Claim`] releases the key in a background task. Should that
//! not happen (the process was killed), the claim goes stale once no request could still be
//! running, request timeout plus [`CLAIM_MARGIN`], and the next request with the key runs.

use std::fmt;
use std::sync::Arc;

use chrono::Duration;
use sha2::{Digest, Sha256};

use super::{FlowError, Services};
use crate::domain::ids::ClientId;
use crate::error_code::ErrorCode;
use crate::store::{IdempotencyStart, IdempotencyState, Store};

/// How long past the request timeout a claim without an answer still holds its key: slack
/// for clocks of several instances and a slow release.
pub const CLAIM_MARGIN: Duration = Duration::seconds(60);

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begun {
    /// First time: run it, then [`Claim::keep`] the answer.
    Fresh(Claim),
    /// Seen before: answer with what was kept.
    Replay {
        /// The kept HTTP status.
        status: u16,
        /// The kept JSON body.
        body: String,
    },
}

/// A key claimed for one run of a request. [`Claim::keep`] settles it; dropped unsettled
/// (the handler was cut off), it releases the key in the background so a retry runs.
#[must_use = "a claim is settled with `keep`; dropping it releases the key"]
pub struct Claim {
    store: Arc<dyn Store>,
    client: ClientId,
    key: String,
    settled: bool,
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("client", &self.client)
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

/// Claims `key` for this client and request (`fingerprint`): `idempotency_key_reused` when
/// the key was used for another request, `idempotency_in_progress` while the first run of
/// it may still be going. A claim left by a run that can no longer be going is released
/// first.
pub async fn begin(
    svc: &Services,
    client: &ClientId,
    key: &str,
    fingerprint: &str,
) -> Result<Begun, FlowError> {
    let now = svc.clock.now();
    let stale_before = now - claim_lifetime(svc);
    if svc
        .store
        .release_stale_idempotent(client, key, stale_before)
        .await?
    {
        tracing::warn!(
            client.id = %client.as_str(),
            "released an idempotency key whose request died without an answer"
        );
    }
    let start = IdempotencyStart {
        client_id: client.clone(),
        key: key.to_owned(),
        request_hash: hex::encode(Sha256::digest(fingerprint.as_bytes())),
        now,
        expires_at: now + Duration::hours(i64::from(svc.settings.filing.idempotency_hours)),
    };
    match svc.store.begin_idempotent(&start).await? {
        IdempotencyState::Fresh => Ok(Begun::Fresh(Claim {
            store: svc.store.clone(),
            client: client.clone(),
            key: key.to_owned(),
            settled: false,
        })),
        IdempotencyState::Replay { status, body } => Ok(Begun::Replay { status, body }),
        IdempotencyState::Mismatch => Err(ErrorCode::IdempotencyKeyReused.into()),
        IdempotencyState::InProgress => {
            Err(FlowError::retry_later(ErrorCode::IdempotencyInProgress, 1))
        }
    }
}

/// How long a claim without an answer holds its key: no request runs past the request
/// timeout, so after that and [`CLAIM_MARGIN`] its run is gone.
fn claim_lifetime(svc: &Services) -> Duration {
    let timeout = i64::try_from(svc.settings.server.request_timeout_secs).unwrap_or(i64::MAX);
    Duration::try_seconds(timeout)
        .and_then(|t| t.checked_add(&CLAIM_MARGIN))
        .unwrap_or(Duration::MAX)
}

impl Claim {
    /// Keeps the answer to the request (`Some((status, body))`), or releases the key
    /// (`None`, after a server error) so a retry runs again. When storing fails, the
    /// dropped claim releases the key.
    pub async fn keep(
        mut self,
        svc: &Services,
        answer: Option<(u16, &str)>,
    ) -> Result<(), FlowError> {
        match answer {
            Some((status, body)) => {
                svc.store
                    .finish_idempotent(&self.client, &self.key, status, body, svc.clock.now())
                    .await?;
            }
            None => {
                svc.store
                    .abandon_idempotent(&self.client, &self.key)
                    .await?
            }
        }
        self.settled = true;
        Ok(())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Outside a runtime nothing can be spawned; the claim then goes stale instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let client = self.client.clone();
        let key = std::mem::take(&mut self.key);
        runtime.spawn(async move {
            match store.abandon_idempotent(&client, &key).await {
                Ok(()) => tracing::info!(
                    client.id = %client.as_str(),
                    "released the idempotency key of a request cut off before its answer"
                ),
                Err(e) => tracing::warn!(
                    client.id = %client.as_str(),
                    error = %e,
                    "could not release an idempotency key; it goes stale after the request timeout"
                ),
            }
        });
    }
}
