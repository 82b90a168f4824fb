//! The audit log: every photo access and every state change is written through `record`;
//! `verify` walks the hash chain (`heyan audit verify`). Reading entries for a case is the
//! store's `list_audit`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Actor, FlowError};
use crate::domain::case::Transition;
use crate::domain::ids::CaseId;
use crate::store::{
    audit_hash, AuditEntry, ChangeRecord, NewAuditEntry, NewEvent, Store, GENESIS_HASH,
};

/// Entries read per `list_audit` call while verifying.
const VERIFY_PAGE_SIZE: u32 = 1000;

/// Appends one entry. `details` must hold no raw personal data (masked forms only).
pub async fn record(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    case_id: Option<&CaseId>,
    details: Value,
    at: DateTime<Utc>,
) -> Result<(), FlowError> {
    store
        .append_audit(&entry(actor, action, case_id, details, at))
        .await?;
    Ok(())
}

/// An entry to append, for store methods that write it in the transaction of the change
/// it records (status changes). The same rule on `details` applies.
pub fn entry(
    actor: &Actor,
    action: &str,
    case_id: Option<&CaseId>,
    details: Value,
    at: DateTime<Utc>,
) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor_type: actor.kind.to_owned(),
        actor_id: actor.id.clone(),
        action: action.to_owned(),
        case_id: case_id.map(|c| c.to_string()),
        ip: actor.ip.clone(),
        details: details.to_string(),
    }
}

/// What goes with `transition` of a case: its audit entry (the transition's own action)
/// and the event for the filing system, written by the store in one transaction.
pub fn change(
    actor: &Actor,
    transition: Transition,
    case_id: &CaseId,
    details: Value,
    at: DateTime<Utc>,
    event: Option<NewEvent>,
) -> ChangeRecord {
    ChangeRecord {
        audit: entry(actor, transition.audit_action(), Some(case_id), details, at),
        event,
    }
}

/// The outcome of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Entries found intact: all of them when the chain holds, else those before the break.
    pub entries: u64,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLink>,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The sequence number at which the chain stops holding (for a gap: the first missing one).
    pub seq: i64,
    /// `gap` (a missing entry), `prev_hash_mismatch` (the link to the previous entry was
    /// altered) or `hash_mismatch` (the entry's content was altered).
    pub problem: &'static str,
    /// A human explanation (sequence numbers and hash prefixes, no personal data).
    pub detail: String,
}

/// Walks the whole audit chain, oldest first, and reports the first broken link: a gap in
/// the sequence 1, 2, 3, … (a deleted row), a `prev_hash` that is not the previous entry's
/// hash (`GENESIS_HASH` for entry 1), or a `hash` that is not `audit_hash` of the row (an
/// edited field).
///
/// What a chain alone cannot show: deleting the *last* entries leaves a shorter chain that
/// is intact, and someone able to write to the database can rewrite an entry and recompute
/// every later hash. Catching those needs the head (sequence number and hash) kept
/// somewhere the database's writers cannot change.
pub async fn verify(store: &dyn Store) -> Result<ChainReport, FlowError> {
    verify_in_pages(store, VERIFY_PAGE_SIZE).await
}

/// `verify`, reading `page_size` entries per store call (tests use small pages to cross
/// page boundaries).
#[tracing::instrument(skip(store))]
pub async fn verify_in_pages(store: &dyn Store, page_size: u32) -> Result<ChainReport, FlowError> {
    let page_size = page_size.max(1);
    let mut entries = 0;
    let mut last_seq = 0;
    let mut last_hash = GENESIS_HASH.to_owned();
    loop {
        let page = store.list_audit(None, last_seq, page_size).await?;
        for entry in &page {
            if let Err(broken) = check_link(last_seq, &last_hash, entry) {
                return Ok(ChainReport {
                    entries,
                    first_broken: Some(broken),
                });
            }
            entries += 1;
            last_seq = entry.seq;
            last_hash.clone_from(&entry.hash);
        }
        if page.len() < page_size as usize {
            return Ok(ChainReport {
                entries,
                first_broken: None,
            });
        }
    }
}

/// Checks that `entry` follows the entry `(last_seq, last_hash)` (`0` and `GENESIS_HASH`
/// before the first) and that its hash matches its content.
fn check_link(last_seq: i64, last_hash: &str, entry: &AuditEntry) -> Result<(), BrokenLink> {
    let expected = last_seq + 1;
    if entry.seq != expected {
        return Err(BrokenLink {
            seq: expected,
            problem: "gap",
            detail: format!(
                "entry {expected} is missing; the next entry is {}",
                entry.seq
            ),
        });
    }
    if entry.prev_hash != last_hash {
        let previous = if last_seq == 0 {
            "the genesis hash".to_owned()
        } else {
            format!("entry {last_seq}'s hash {}", short(last_hash))
        };
        return Err(BrokenLink {
            seq: entry.seq,
            problem: "prev_hash_mismatch",
            detail: format!("prev_hash {} is not {previous}", short(&entry.prev_hash)),
        });
    }
    let recomputed = audit_hash(entry.seq, &entry.prev_hash, &entry.entry);
    if entry.hash != recomputed {
        return Err(BrokenLink {
            seq: entry.seq,
            problem: "hash_mismatch",
            detail: format!(
                "stored hash {} but the row's content hashes to {}",
                short(&entry.hash),
                short(&recomputed)
            ),
        });
    }
    Ok(())
}

/// The first 12 hex digits of a hash, enough to tell hashes apart in a message.
fn short(hash: &str) -> String {
    match hash.get(..12) {
        Some(prefix) if hash.len() > 12 => format!("{prefix}…"),
        _ => hash.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    /// A well-formed chain of `n` entries.
    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev_hash = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let entry = NewAuditEntry {
                    at: Utc::now(),
                    actor_type: "system".into(),
                    actor_id: "heyan".into(),
                    action: "test.appended".into(),
                    case_id: None,
                    ip: None,
                    details: "{}".into(),
                };
                let hash = audit_hash(seq, &prev_hash, &entry);
                AuditEntry {
                    seq,
                    entry,
                    prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                    hash,
                }
            })
            .collect()
    }

    /// Alters a chain as an intruder with write access would.
    type Tamper = fn(&mut Vec<AuditEntry>);

    /// Runs `check_link` along `entries` as `verify` does; the first break, if any.
    fn first_break(entries: &[AuditEntry]) -> Option<BrokenLink> {
        let (mut last_seq, mut last_hash) = (0, GENESIS_HASH.to_owned());
        for e in entries {
            if let Err(broken) = check_link(last_seq, &last_hash, e) {
                return Some(broken);
            }
            last_seq = e.seq;
            last_hash.clone_from(&e.hash);
        }
        None
    }

    #[test]
    fn an_intact_chain_has_no_broken_link() {
        assert_eq!(first_break(&chain(3)), None);
    }

    #[test]
    fn each_kind_of_tampering_is_named_at_its_entry() {
        let cases: [(&str, Tamper, i64, &str); 5] = [
            ("a deleted middle entry", |c| drop(c.remove(1)), 2, "gap"),
            ("a deleted first entry", |c| drop(c.remove(0)), 1, "gap"),
            (
                "an edited field",
                |c| c[1].entry.details = "{\"x\":1}".into(),
                2,
                "hash_mismatch",
            ),
            (
                "an edited prev_hash",
                |c| c[2].prev_hash = "1".repeat(64),
                3,
                "prev_hash_mismatch",
            ),
            (
                "a first entry not linked to genesis",
                |c| c[0].prev_hash = "1".repeat(64),
                1,
                "prev_hash_mismatch",
            ),
        ];
        for (description, tamper, seq, problem) in cases {
            let mut entries = chain(3);
            tamper(&mut entries);
            let broken =
                first_break(&entries).unwrap_or_else(|| panic!("{description}: not caught"));
            assert_eq!(
                (broken.seq, broken.problem),
                (seq, problem),
                "{description}: {broken:?}"
            );
        }
    }
}
