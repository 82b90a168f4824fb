//! The audit chain's hash: each entry's hash covers its content and the previous entry's
//! hash, so editing or deleting any row breaks every later link.

use sha2::{Digest, Sha256};

use super::records::NewAuditEntry;
use async_trait::async_trait;

use sqlx::FromRow;

use super::dialect::{Dialect, SqlStore, Ts};
use super::{backend, AuditEntry, StoreError};
use crate::domain::ids::CaseId;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 (hex) over the sequence number, the previous hash and every field, each
/// length-prefixed so no two different entries serialise alike.
pub fn audit_hash(seq: i64, prev_hash: &str, entry: &NewAuditEntry) -> String {
    let mut hasher = Sha256::new();
    let at = entry.at.timestamp_millis().to_string();
    let seq = seq.to_string();
    let fields: [&str; 9] = [
        &seq,
        prev_hash,
        &at,
        &entry.actor_type,
        &entry.actor_id,
        &entry.action,
        entry.case_id.as_deref().unwrap_or(""),
        entry.ip.as_deref().unwrap_or(""),
        &entry.details,
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn entry(details: &str) -> NewAuditEntry {
        NewAuditEntry {
            at: Utc::now(),
            actor_type: "client".into(),
            actor_id: "cli_1".into(),
            action: "photo.pulled".into(),
            case_id: Some("case_1".into()),
            ip: None,
            details: details.into(),
        }
    }

    #[test]
    fn every_field_and_the_link_change_the_hash() {
        let e = entry("{}");
        let base = audit_hash(1, GENESIS_HASH, &e);
        assert_eq!(base, audit_hash(1, GENESIS_HASH, &e));
        assert_ne!(base, audit_hash(2, GENESIS_HASH, &e));
        assert_ne!(base, audit_hash(1, &"1".repeat(64), &e));
        assert_ne!(base, audit_hash(1, GENESIS_HASH, &entry("{\"x\":1}")));
        let mut moved = e.clone();
        moved.case_id = None;
        moved.ip = Some("case_1".into());
        assert_ne!(
            base,
            audit_hash(1, GENESIS_HASH, &moved),
            "fields cannot shift into each other"
        );
    }
}

/// The append-only, hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends to the audit log, chaining the entry to the previous one. Concurrent
    /// writers never fork the chain: each sequence number is taken once.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Audit entries in order, optionally for one case, after sequence `after`.
    async fn list_audit(
        &self,
        case_id: Option<&CaseId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: Ts,
    actor_type: String,
    actor_id: String,
    action: String,
    case_id: Option<String>,
    ip: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            seq: r.seq,
            entry: NewAuditEntry {
                at: r.at.into(),
                actor_type: r.actor_type,
                actor_id: r.actor_id,
                action: r.action,
                case_id: r.case_id,
                ip: r.ip,
                details: r.details,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl AuditStore for SqlStore<$db> {
            async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let appended = Self::append_audit_in(&mut tx, entry).await?;
                tx.commit().await.map_err(backend)?;
                Ok(appended)
            }

            async fn list_audit(
                &self,
                case_id: Option<&CaseId>,
                after: i64,
                limit: u32,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                sqlx::query_as::<_, AuditRow>(
                    "select seq, at, actor_type, actor_id, action, case_id, ip, details, prev_hash, hash
                     from audit_log where seq > $1 and (cast($2 as text) is null or case_id = $3) order by seq limit $4",
                )
                .bind(after)
                .bind(case_id.map(CaseId::as_str))
                .bind(case_id.map(CaseId::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .into_iter()
                .map(AuditEntry::try_from)
                .collect()
            }
        }
        impl SqlStore<$db> {
            /// Appends `entry` inside the caller's write transaction, chained to the head
            /// read in that same transaction: the entry commits or vanishes with the change
            /// it records. Call it last in the transaction (it may serialise on the head).
            pub(super) async fn append_audit_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                entry: &NewAuditEntry,
            ) -> Result<AuditEntry, StoreError> {
                if let Some(lock) = <$db as Dialect>::LOCK_AUDIT_HEAD {
                    sqlx::query(lock).execute(&mut **tx).await.map_err(backend)?;
                }
                let head: Option<(i64, String)> =
                    sqlx::query_as("select seq, hash from audit_log order by seq desc limit 1")
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(backend)?;
                let (seq, prev_hash) = match head {
                    Some((seq, hash)) => (seq + 1, hash),
                    None => (1, GENESIS_HASH.to_owned()),
                };
                let hash = audit_hash(seq, &prev_hash, entry);
                let at = Ts(entry.at);
                sqlx::query(
                    "insert into audit_log (seq, at, actor_type, actor_id, action, case_id, ip, details,
                         prev_hash, hash, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $2, $2)",
                )
                .bind(seq)
                .bind(at)
                .bind(&entry.actor_type)
                .bind(&entry.actor_id)
                .bind(&entry.action)
                .bind(&entry.case_id)
                .bind(&entry.ip)
                .bind(&entry.details)
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
                Ok(AuditEntry {
                    seq,
                    entry: entry.clone(),
                    prev_hash,
                    hash,
                })
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
