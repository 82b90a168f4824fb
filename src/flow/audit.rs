//! Writing the audit log: every photo access and every state change goes through `record`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Actor, FlowError};
use crate::domain::ids::CaseId;
use crate::store::{NewAuditEntry, Store};

/// Appends one entry. `details` must hold no raw personal data (masked forms only).
pub async fn record(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    case_id: Option<&CaseId>,
    details: Value,
    at: DateTime<Utc>,
) -> Result<(), FlowError> {
    let entry = NewAuditEntry {
        at,
        actor_type: actor.kind.to_owned(),
        actor_id: actor.id.clone(),
        action: action.to_owned(),
        case_id: case_id.map(|c| c.to_string()),
        ip: actor.ip.clone(),
        details: details.to_string(),
    };
    store.append_audit(&entry).await?;
    Ok(())
}
