//! Cases from the filing system's side: register (with eligibility), read, submit for
//! review, cancel (purging photos at once).

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::json;

use super::{audit, photos, webhooks, Actor, FlowError, Services};
use crate::domain::case::{eligibility, CaseStatus, Registration, Transition, Website};
use crate::domain::ids::{CaseId, ClientId};
use crate::error_code::{ErrorCode, ErrorFacts};
use crate::imaging::qr;
use crate::pii;
use crate::secrets::Keyring;
use crate::store::{CaseRecord, NewCase, StoreError, WebsiteRecord};
use crate::telemetry::spawn_blocking_in_span;

/// HMAC purposes for lookups; fixed forever (changing one orphans stored values).
pub const MOBILE_PURPOSE: &str = "mobile";
/// HMAC purpose for ID numbers.
pub const ID_NUMBER_PURPOSE: &str = "id_number";

/// A case with its websites, as the filing system sees it.
#[derive(Debug, Clone)]
pub struct CaseView {
    /// The case.
    pub case: CaseRecord,
    /// Its websites in order.
    pub websites: Vec<WebsiteRecord>,
}

/// What registering did.
#[derive(Debug)]
pub struct Registered {
    /// The case (new or existing).
    pub view: CaseView,
    /// False when the filing id was registered before and the existing case is returned.
    pub created: bool,
}

/// Registers a case, or returns the client's existing case for the same filing id.
pub async fn register(
    svc: &Services,
    client: &ClientId,
    reg: Registration,
    actor: &Actor,
) -> Result<Registered, FlowError> {
    if let Some(existing) = svc
        .store
        .find_case_by_filing_id(client, reg.filing_id.as_str())
        .await?
    {
        return Ok(Registered {
            view: with_websites(svc, existing).await?,
            created: false,
        });
    }
    let now = svc.clock.now();
    let new_case = build_case(&svc.keys, client, &reg, now);
    match svc.store.insert_case(&new_case).await {
        Ok(()) => {}
        // Two registrations of one filing raced; the other one won.
        Err(StoreError::Conflict(ErrorCode::FilingIdTaken)) => {
            let existing = svc
                .store
                .find_case_by_filing_id(client, reg.filing_id.as_str())
                .await?
                .ok_or(FlowError::NotFound)?;
            return Ok(Registered {
                view: with_websites(svc, existing).await?,
                created: false,
            });
        }
        Err(e) => return Err(e.into()),
    }
    let details = json!({ "eligible": new_case.eligible, "reason": new_case.ineligible_reason, "websites": reg.websites.len() });
    audit::record(
        svc.store.as_ref(),
        actor,
        "case.registered",
        Some(&new_case.id),
        details,
        now,
    )
    .await?;
    tracing::info!(case.id = %new_case.id, eligible = new_case.eligible, "case registered");
    let case = svc.store.get_case(&new_case.id).await?;
    Ok(Registered {
        view: CaseView {
            case,
            websites: new_case.websites,
        },
        created: true,
    })
}

fn build_case(
    keys: &Keyring,
    client: &ClientId,
    reg: &Registration,
    now: DateTime<Utc>,
) -> NewCase {
    let id = CaseId::new();
    let verdict = eligibility(reg);
    let mut token = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut token);
    NewCase {
        subject_name_sealed: pii::seal(keys, &format!("{id}/subject_name"), &reg.subject_name),
        subject_name_masked: crate::domain::mask::mask_name(&reg.subject_name),
        websites: reg
            .websites
            .iter()
            .enumerate()
            .map(|(i, w)| website_record(keys, &id, i, w))
            .collect(),
        client_id: client.clone(),
        filing_id: reg.filing_id.as_str().to_owned(),
        region: reg.region.clone(),
        subject_type: reg.subject_type,
        eligible: verdict.is_ok(),
        ineligible_reason: verdict.err().map(|r| r.code().to_owned()),
        status: if verdict.is_ok() {
            CaseStatus::AwaitingApp
        } else {
            CaseStatus::Ineligible
        },
        download_token: hex::encode(token),
        created_at: now,
        id,
    }
}

fn website_record(keys: &Keyring, case: &CaseId, position: usize, w: &Website) -> WebsiteRecord {
    let p = &w.principal;
    let ctx = |field: &str| format!("{case}/website/{position}/{field}");
    WebsiteRecord {
        position: i32::try_from(position).unwrap_or(i32::MAX),
        domain: w.domain.as_str().to_owned(),
        principal_name_sealed: pii::seal(keys, &ctx("name"), p.name.as_str()),
        principal_name_masked: p.name.masked(),
        id_type: p.id_type.as_str().to_owned(),
        id_number_sealed: pii::seal(keys, &ctx("id_number"), p.id_number.as_str()),
        id_number_masked: p.id_number.masked(),
        id_number_hmac: pii::lookup_hmac(keys, ID_NUMBER_PURPOSE, p.id_number.as_str()),
        mobile_sealed: pii::seal(keys, &ctx("mobile"), p.mobile.as_str()),
        mobile_masked: p.mobile.masked(),
        mobile_hmac: pii::lookup_hmac(keys, MOBILE_PURPOSE, p.mobile.as_str()),
    }
}

async fn with_websites(svc: &Services, case: CaseRecord) -> Result<CaseView, FlowError> {
    let websites = svc.store.list_websites(&case.id).await?;
    Ok(CaseView { case, websites })
}

/// The client's case with this id; another client's case is `NotFound`, exactly like a
/// case that does not exist.
pub async fn owned_case(
    svc: &Services,
    client: &ClientId,
    id: &CaseId,
) -> Result<CaseRecord, FlowError> {
    let case = svc.store.get_case(id).await?;
    if &case.client_id != client {
        return Err(FlowError::NotFound);
    }
    Ok(case)
}

/// Reads a case by heyan's id.
pub async fn get(svc: &Services, client: &ClientId, id: &CaseId) -> Result<CaseView, FlowError> {
    let case = owned_case(svc, client, id).await?;
    with_websites(svc, case).await
}

/// Reads a case by the filing system's id.
pub async fn get_by_filing_id(
    svc: &Services,
    client: &ClientId,
    filing_id: &str,
) -> Result<CaseView, FlowError> {
    let case = svc
        .store
        .find_case_by_filing_id(client, filing_id)
        .await?
        .ok_or(FlowError::NotFound)?;
    with_websites(svc, case).await
}

/// Submits a redeemed case for review; it is due one business day later.
pub async fn submit(
    svc: &Services,
    client: &ClientId,
    id: &CaseId,
    actor: &Actor,
) -> Result<CaseView, FlowError> {
    let case = owned_case(svc, client, id).await?;
    Transition::Submit.check(case.status)?;
    let now = svc.clock.now();
    // A date past the shipped calendar is an operator's problem to see, never a guess.
    let due = svc.calendar.due_time(now).map_err(|e| {
        tracing::error!(error = %e, "business-day calendar cannot give a due time");
        anyhow::Error::new(e).context("computing the review due time")
    })?;
    let change = audit::change(
        actor,
        Transition::Submit,
        id,
        json!({ "due_at": due }),
        now,
        None,
    );
    svc.store.submit_case(id, due, now, &change).await?;
    get(svc, client, id).await
}

/// Cancels a case: it ends, its photos are purged from the blob store at once, and the
/// filing system hears `case.purged`.
pub async fn cancel(
    svc: &Services,
    client: &ClientId,
    id: &CaseId,
    actor: &Actor,
) -> Result<CaseView, FlowError> {
    let case = owned_case(svc, client, id).await?;
    Transition::Cancel.check(case.status)?;
    let now = svc.clock.now();
    let event = webhooks::case_event(
        svc,
        &case,
        "case.purged",
        json!({ "reason": "cancelled" }),
        now,
    )
    .await?;
    let queues_event = event.is_some();
    // The photos go right after the change commits; the entry says how many there were.
    let photos = svc.store.list_photos(id).await?.len();
    let change = audit::change(
        actor,
        Transition::Cancel,
        id,
        json!({ "photos_purged": photos }),
        now,
        event,
    );
    svc.store.cancel_case(id, now, &change).await?;
    let purged = photos::purge_case_photos(svc, id).await?;
    if queues_event {
        svc.outbox_wakeup.notify_one();
    }
    tracing::info!(case.id = %id, photos_purged = purged, "case cancelled");
    get(svc, client, id).await
}

/// The case a QR download token names, whatever its status; a token that is not 32 hex
/// digits is never looked up.
pub async fn case_of_download_token(
    svc: &Services,
    token: &str,
) -> Result<Option<CaseRecord>, FlowError> {
    let well_formed = token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Ok(None);
    }
    Ok(svc.store.find_case_by_download_token(token).await?)
}

/// The case behind a scanned QR token while its landing page is live (a malformed,
/// unknown or closed token gives `None`); counts the scan.
pub async fn scan_download_token(
    svc: &Services,
    token: &str,
) -> Result<Option<CaseRecord>, FlowError> {
    let case = case_of_download_token(svc, token).await?;
    let Some(case) = case.filter(CaseRecord::download_active) else {
        return Ok(None);
    };
    svc.store.record_scan(&case.id, svc.clock.now()).await?;
    Ok(Some(case))
}

/// The landing page a case's QR code points at: `{public_base_url}/d/{token}`.
pub fn download_page_url(settings: &crate::config::Settings, token: &str) -> String {
    format!("{}/d/{token}", settings.public_base_url())
}

/// The image format of a QR download code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrFormat {
    /// PNG.
    Png,
    /// SVG.
    Svg,
}

/// A rendered QR download code.
#[derive(Debug, Clone)]
pub struct QrImage {
    /// `image/png` or `image/svg+xml`.
    pub content_type: &'static str,
    /// The image.
    pub bytes: Vec<u8>,
}

/// The client's case's QR download code (`qr_size_out_of_range` for a size outside
/// 128–2048; not for cancelled or ineligible cases).
pub async fn qr_code(
    svc: &Services,
    client: &ClientId,
    id: &CaseId,
    size: Option<u32>,
    format: QrFormat,
) -> Result<QrImage, FlowError> {
    let size = qr::checked_size(size).map_err(|_| {
        let code = ErrorCode::QrSizeOutOfRange;
        FlowError::refused(
            code,
            ErrorFacts::default().with_field("size", code.as_str()),
        )
    })?;
    let case = owned_case(svc, client, id).await?;
    case.status.can_show_qr()?;
    let url = download_page_url(&svc.settings, &case.download_token);
    let rendered = spawn_blocking_in_span(move || match format {
        QrFormat::Png => qr::render_png(&url, size).map(|png| ("image/png", png)),
        QrFormat::Svg => qr::render_svg(&url, size).map(|svg| ("image/svg+xml", svg.into_bytes())),
    })
    .await
    .map_err(|e| anyhow::anyhow!("QR rendering stopped: {e}"))?;
    let (content_type, bytes) = rendered.map_err(anyhow::Error::new)?;
    Ok(QrImage {
        content_type,
        bytes,
    })
}
