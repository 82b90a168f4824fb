//! The audit chain's hash: each entry's hash covers its content and the previous entry's
//! hash, so editing or deleting any row breaks every later link.

use sha2::{Digest, Sha256};

use super::records::NewAuditEntry;

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
