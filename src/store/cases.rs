//! Cases and their websites: registration, look-ups, the QR scan count, submission and
//! cancellation, and what the App records on a case (consent, location, liveness summary).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::dialect::{SqlStore, Ts};
use super::{
    backend, corrupt, id_from_db, on_unique, status_from_db, CaseRecord, ChangeRecord, NewCase,
    Progress, StoreError, WebsiteRecord,
};
use crate::domain::case::{CaseStatus, Region, SubjectType, Transition};
use crate::domain::ids::{CaseId, ClientId};
use crate::error_code::ErrorCode;

/// Cases, their websites and what the App recorded on them.
#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Inserts a case with its websites; `Conflict(FilingIdTaken)` when the client
    /// registered this filing id before.
    async fn insert_case(&self, case: &NewCase) -> Result<(), StoreError>;

    /// The case with this id (any client's: callers check ownership).
    async fn get_case(&self, id: &CaseId) -> Result<CaseRecord, StoreError>;

    /// A client's case by the filing system's id.
    async fn find_case_by_filing_id(
        &self,
        client_id: &ClientId,
        filing_id: &str,
    ) -> Result<Option<CaseRecord>, StoreError>;

    /// The case whose QR code carries this download token.
    async fn find_case_by_download_token(
        &self,
        token: &str,
    ) -> Result<Option<CaseRecord>, StoreError>;

    /// A case's websites, in registered order.
    async fn list_websites(&self, case_id: &CaseId) -> Result<Vec<WebsiteRecord>, StoreError>;

    /// Counts one scan of the case's QR code.
    async fn record_scan(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Moves a redeemed case into review with its due time (`Transition::Submit`), with
    /// its audit entry and event in the same transaction.
    async fn submit_case(
        &self,
        case_id: &CaseId,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
        record: &ChangeRecord,
    ) -> Result<(), StoreError>;

    /// Cancels a case (`Transition::Cancel`) and voids its codes, with its audit entry and
    /// event in the same transaction. Photos are removed separately (`delete_photo`).
    async fn cancel_case(
        &self,
        case_id: &CaseId,
        now: DateTime<Utc>,
        record: &ChangeRecord,
    ) -> Result<(), StoreError>;

    /// Records the principal's consent (text version and hash) on the case.
    async fn record_consent(
        &self,
        case_id: &CaseId,
        version: &str,
        text_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records whether the App check happens in Shanghai (never the coordinates).
    async fn record_location(
        &self,
        case_id: &CaseId,
        in_shanghai: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records what a passed liveness check showed (JSON summary, no image data), only
    /// while the App may still take the step (`CaseStatus::check_capture`).
    async fn record_liveness(
        &self,
        case_id: &CaseId,
        result: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

pub(super) const CASE_COLUMNS: &str = "id, client_id, filing_id, region, subject_type, subject_name_sealed,
    subject_name_masked, eligible, ineligible_reason, status, download_token, scan_count,
    redeem_locked_until, consent_version, location_in_shanghai, liveness_result, phone_verified_at, consent_at, liveness_at, handheld_at, front_at,
    back_at, code_issued_at, redeemed_at, submitted_at, due_at, decided_at, cancelled_at,
    purged_at, last_activity_at, created_at, updated_at";

#[derive(FromRow)]
pub(super) struct CaseRow {
    id: String,
    client_id: String,
    filing_id: String,
    region: String,
    subject_type: String,
    subject_name_sealed: String,
    subject_name_masked: String,
    eligible: bool,
    ineligible_reason: Option<String>,
    status: String,
    download_token: String,
    scan_count: i64,
    redeem_locked_until: Option<Ts>,
    consent_version: Option<String>,
    location_in_shanghai: Option<bool>,
    liveness_result: Option<String>,
    phone_verified_at: Option<Ts>,
    consent_at: Option<Ts>,
    liveness_at: Option<Ts>,
    handheld_at: Option<Ts>,
    front_at: Option<Ts>,
    back_at: Option<Ts>,
    code_issued_at: Option<Ts>,
    redeemed_at: Option<Ts>,
    submitted_at: Option<Ts>,
    due_at: Option<Ts>,
    decided_at: Option<Ts>,
    cancelled_at: Option<Ts>,
    purged_at: Option<Ts>,
    last_activity_at: Ts,
    created_at: Ts,
    updated_at: Ts,
}

impl TryFrom<CaseRow> for CaseRecord {
    type Error = StoreError;
    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        Ok(CaseRecord {
            id: id_from_db(&r.id, CaseId::parse)?,
            client_id: id_from_db(&r.client_id, ClientId::parse)?,
            filing_id: r.filing_id,
            region: Region::parse(&r.region).ok_or_else(|| corrupt("region", &r.region))?,
            subject_type: SubjectType::parse(&r.subject_type)
                .ok_or_else(|| corrupt("subject type", &r.subject_type))?,
            subject_name_sealed: r.subject_name_sealed,
            subject_name_masked: r.subject_name_masked,
            eligible: r.eligible,
            ineligible_reason: r.ineligible_reason,
            status: status_from_db(&r.status)?,
            download_token: r.download_token,
            scan_count: r.scan_count,
            redeem_locked_until: r.redeem_locked_until.map(Into::into),
            consent_version: r.consent_version,
            location_in_shanghai: r.location_in_shanghai,
            liveness_result: r.liveness_result,
            progress: Progress {
                phone_verified_at: r.phone_verified_at.map(Into::into),
                consent_at: r.consent_at.map(Into::into),
                liveness_at: r.liveness_at.map(Into::into),
                handheld_at: r.handheld_at.map(Into::into),
                front_at: r.front_at.map(Into::into),
                back_at: r.back_at.map(Into::into),
                code_issued_at: r.code_issued_at.map(Into::into),
                redeemed_at: r.redeemed_at.map(Into::into),
                submitted_at: r.submitted_at.map(Into::into),
            },
            due_at: r.due_at.map(Into::into),
            decided_at: r.decided_at.map(Into::into),
            cancelled_at: r.cancelled_at.map(Into::into),
            purged_at: r.purged_at.map(Into::into),
            last_activity_at: r.last_activity_at.into(),
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
        })
    }
}

#[derive(FromRow)]
struct WebsiteRow {
    position: i32,
    domain: String,
    principal_name_sealed: String,
    principal_name_masked: String,
    id_type: String,
    id_number_sealed: String,
    id_number_masked: String,
    id_number_hmac: String,
    mobile_sealed: String,
    mobile_masked: String,
    mobile_hmac: String,
}

impl From<WebsiteRow> for WebsiteRecord {
    fn from(r: WebsiteRow) -> Self {
        WebsiteRecord {
            position: r.position,
            domain: r.domain,
            principal_name_sealed: r.principal_name_sealed,
            principal_name_masked: r.principal_name_masked,
            id_type: r.id_type,
            id_number_sealed: r.id_number_sealed,
            id_number_masked: r.id_number_masked,
            id_number_hmac: r.id_number_hmac,
            mobile_sealed: r.mobile_sealed,
            mobile_masked: r.mobile_masked,
            mobile_hmac: r.mobile_hmac,
        }
    }
}

/// The compare-and-set of a status change: the case moves to the transition's target only
/// from one of the sources the domain declares, and (but for a cancellation) only while
/// its photos were not purged. Binds: `$1` the time, `$2` the case id; `set` adds
/// assignments with placeholders from `$3` on.
pub(super) fn transition_sql(transition: Transition, set: &str) -> String {
    let unpurged = if transition == Transition::Cancel {
        ""
    } else {
        " and purged_at is null"
    };
    format!(
        "update cases set status = '{target}', last_activity_at = $1, updated_at = $1{set}
         where id = $2 and status in ({sources}){unpurged}",
        target = transition.target().as_str(),
        sources = status_list(transition.sources()),
    )
}

/// The conditional write of an App capture: marks the step's column (`step`) done at `$1`
/// on case `$2` only while the App may still take it, the rule of
/// `CaseStatus::check_capture` in SQL; `set` adds assignments from `$3` on.
pub(super) fn capture_sql(step: &str, set: &str) -> String {
    format!(
        "update cases set {step} = $1, last_activity_at = $1, updated_at = $1{set}
         where id = $2 and status in ({open}) and purged_at is null
           and (status <> '{rejected}' or {step} is null or decided_at is null
                or {step} > decided_at)",
        open = status_list(CaseStatus::OPEN_TO_APP),
        rejected = CaseStatus::Rejected.as_str(),
    )
}

/// Statuses as an SQL list (`'a', 'b'`), from the domain's own names.
pub(super) fn status_list(statuses: &[CaseStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a refused write read back to say why: the case's status, purge time, decision
/// time and (for a capture) the step's time.
#[derive(FromRow)]
pub(super) struct GuardRow {
    status: String,
    purged_at: Option<Ts>,
    decided_at: Option<Ts>,
    step_at: Option<Ts>,
}

impl GuardRow {
    /// The columns to select, with `step` (or `null`) as the step's time.
    pub(super) fn select(step: Option<&str>) -> String {
        format!(
            "select status, purged_at, decided_at, {} as step_at from cases where id = $1",
            step.unwrap_or("null")
        )
    }

    /// Why the write found no case to change; `transition` is `None` for a capture.
    pub(super) fn refusal(self, transition: Option<Transition>) -> StoreError {
        let from = match status_from_db(&self.status) {
            Ok(from) => from,
            Err(e) => return e,
        };
        let purged = self.purged_at.is_some();
        let checked = match transition {
            Some(t) => t.check_case(from, purged),
            None => from.check_capture(purged, self.step_at, self.decided_at),
        };
        match checked {
            Err(refused) => StoreError::Transition(refused),
            // The case allowed it after all: it changed between the write and this read.
            Ok(()) => StoreError::Conflict(ErrorCode::TransitionRaced),
        }
    }
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl CaseStore for SqlStore<$db> {
            async fn insert_case(&self, case: &NewCase) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let at = case.created_at;
                sqlx::query(
                    "insert into cases (id, client_id, filing_id, region, subject_type, subject_name_sealed,
                         subject_name_masked, eligible, ineligible_reason, status, download_token,
                         last_activity_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(case.id.as_str())
                .bind(case.client_id.as_str())
                .bind(&case.filing_id)
                .bind(case.region.as_str())
                .bind(case.subject_type.as_str())
                .bind(&case.subject_name_sealed)
                .bind(&case.subject_name_masked)
                .bind(case.eligible)
                .bind(&case.ineligible_reason)
                .bind(case.status.as_str())
                .bind(&case.download_token)
                .bind(Ts(at))
                .bind(Ts(at))
                .bind(Ts(at))
                .execute(&mut *tx)
                .await
                .map_err(on_unique(ErrorCode::FilingIdTaken))?;
                for w in &case.websites {
                    sqlx::query(
                        "insert into websites (case_id, position, domain, principal_name_sealed,
                             principal_name_masked, id_type, id_number_sealed, id_number_masked,
                             id_number_hmac, mobile_sealed, mobile_masked, mobile_hmac, created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    )
                    .bind(case.id.as_str())
                    .bind(w.position)
                    .bind(&w.domain)
                    .bind(&w.principal_name_sealed)
                    .bind(&w.principal_name_masked)
                    .bind(&w.id_type)
                    .bind(&w.id_number_sealed)
                    .bind(&w.id_number_masked)
                    .bind(&w.id_number_hmac)
                    .bind(&w.mobile_sealed)
                    .bind(&w.mobile_masked)
                    .bind(&w.mobile_hmac)
                    .bind(Ts(at))
                    .bind(Ts(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)
            }

            async fn get_case(&self, id: &CaseId) -> Result<CaseRecord, StoreError> {
                let sql = format!("select {CASE_COLUMNS} from cases where id = $1");
                sqlx::query_as::<_, CaseRow>(&sql)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            async fn find_case_by_filing_id(
                &self,
                client_id: &ClientId,
                filing_id: &str,
            ) -> Result<Option<CaseRecord>, StoreError> {
                let sql =
                    format!("select {CASE_COLUMNS} from cases where client_id = $1 and filing_id = $2");
                sqlx::query_as::<_, CaseRow>(&sql)
                    .bind(client_id.as_str())
                    .bind(filing_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(CaseRecord::try_from)
                    .transpose()
            }

            async fn find_case_by_download_token(
                &self,
                token: &str,
            ) -> Result<Option<CaseRecord>, StoreError> {
                let sql = format!("select {CASE_COLUMNS} from cases where download_token = $1");
                sqlx::query_as::<_, CaseRow>(&sql)
                    .bind(token)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(CaseRecord::try_from)
                    .transpose()
            }

            async fn list_websites(&self, case_id: &CaseId) -> Result<Vec<WebsiteRecord>, StoreError> {
                let rows = sqlx::query_as::<_, WebsiteRow>(
                    "select position, domain, principal_name_sealed, principal_name_masked, id_type,
                            id_number_sealed, id_number_masked, id_number_hmac, mobile_sealed,
                            mobile_masked, mobile_hmac
                     from websites where case_id = $1 order by position",
                )
                .bind(case_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                Ok(rows.into_iter().map(WebsiteRecord::from).collect())
            }

            async fn record_scan(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("update cases set scan_count = scan_count + 1, updated_at = $1 where id = $2")
                    .bind(Ts(now))
                    .bind(case_id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            async fn submit_case(
                &self,
                case_id: &CaseId,
                due_at: DateTime<Utc>,
                now: DateTime<Utc>,
                record: &ChangeRecord,
            ) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let sql = transition_sql(Transition::Submit, ", submitted_at = $1, due_at = $3");
                let query = sqlx::query(&sql)
                    .bind(Ts(now))
                    .bind(case_id.as_str())
                    .bind(Ts(due_at));
                Self::apply_transition_in(&mut tx, Transition::Submit, case_id, query).await?;
                Self::record_change_in(&mut tx, record).await?;
                tx.commit().await.map_err(backend)
            }

            async fn cancel_case(
                &self,
                case_id: &CaseId,
                now: DateTime<Utc>,
                record: &ChangeRecord,
            ) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let sql = transition_sql(Transition::Cancel, ", cancelled_at = $1, purged_at = $1");
                let query = sqlx::query(&sql).bind(Ts(now)).bind(case_id.as_str());
                Self::apply_transition_in(&mut tx, Transition::Cancel, case_id, query).await?;
                sqlx::query(
                    "update verification_codes set voided_at = $1, updated_at = $1
                     where case_id = $2 and voided_at is null",
                )
                .bind(Ts(now))
                .bind(case_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                Self::record_change_in(&mut tx, record).await?;
                tx.commit().await.map_err(backend)
            }

            async fn record_consent(
                &self,
                case_id: &CaseId,
                version: &str,
                text_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "update cases set consent_version = $1, consent_text_hash = $2, consent_at = $3,
                         last_activity_at = $4, updated_at = $5
                     where id = $6",
                )
                .bind(version)
                .bind(text_hash)
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(case_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn record_location(
                &self,
                case_id: &CaseId,
                in_shanghai: bool,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "update cases set location_in_shanghai = $1, last_activity_at = $2, updated_at = $3
                     where id = $4",
                )
                .bind(in_shanghai)
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(case_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn record_liveness(
                &self,
                case_id: &CaseId,
                result: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let sql = capture_sql("liveness_at", ", liveness_result = $3");
                let query = sqlx::query(&sql)
                    .bind(Ts(now))
                    .bind(case_id.as_str())
                    .bind(result);
                Self::guarded_in(&mut tx, None, Some("liveness_at"), case_id, query).await?;
                tx.commit().await.map_err(backend)
            }
        }
        impl SqlStore<$db> {
            /// Runs the compare-and-set `query` of `transition` (its SQL from
            /// `transition_sql`). When it moved nothing, the domain says why from the
            /// case's current status; `NotFound` when there is no such case.
            pub(super) async fn apply_transition_in<'q>(
                tx: &mut sqlx::Transaction<'_, $db>,
                transition: Transition,
                case_id: &CaseId,
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            ) -> Result<(), StoreError> {
                Self::guarded_in(tx, Some(transition), None, case_id, query).await
            }

            /// Runs a guarded write of one case row (a transition's, or with `transition`
            /// `None` a capture's of column `step`); when it changed nothing, reads the
            /// case back and lets the domain say why.
            pub(super) async fn guarded_in<'q>(
                tx: &mut sqlx::Transaction<'_, $db>,
                transition: Option<Transition>,
                step: Option<&str>,
                case_id: &CaseId,
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            ) -> Result<(), StoreError> {
                let done = query.execute(&mut **tx).await.map_err(backend)?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                let row = sqlx::query_as::<_, GuardRow>(&GuardRow::select(step))
                    .bind(case_id.as_str())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend)?;
                Err(row.ok_or(StoreError::NotFound)?.refusal(transition))
            }

            /// Writes what goes with a status change: its audit entry, then its event.
            pub(super) async fn record_change_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                record: &ChangeRecord,
            ) -> Result<(), StoreError> {
                Self::append_audit_in(tx, &record.audit).await?;
                if let Some(event) = &record.event {
                    Self::insert_event_in(tx, event).await?;
                }
                Ok(())
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
