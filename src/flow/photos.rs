//! Stored photos: the App's uploads (in order, checked, stamped, replacing a retake), the
//! App's preview, the filing system's pull (audited), and purging a case's photos.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::app_steps::{self, AppStep, Captured};
use super::quota::take_allowance;
use super::{audit, cases, Actor, FlowError, Services};
use crate::blob::{BlobError, BlobId};
use crate::domain::case::PhotoKind;
use crate::domain::ids::{CaseId, ClientId};
use crate::error_code::{ErrorCode, ErrorFacts};
use crate::imaging::face::detect_faces;
use crate::imaging::pipeline::{self, Admission, PipelineError, Processed};
use crate::store::{CaseRecord, PhotoRecord};

/// Uploads one case may make per photo kind (per round: a rejection starts a new one).
pub const MAX_UPLOADS_PER_KIND: u32 = 10;

/// Takes an ID photo from the App: in order (handheld, front, back, after liveness),
/// within the case's allowance, through the pipeline; the handheld photo must show a
/// face. A retake replaces the stored photo. Refusals store nothing. Answers with the
/// stored photo and the case as it is after it.
pub async fn upload(
    svc: &Services,
    case: &CaseRecord,
    kind: PhotoKind,
    bytes: Arc<[u8]>,
    actor: &Actor,
) -> Result<Captured<PhotoRecord>, FlowError> {
    if kind == PhotoKind::Liveness {
        // The liveness frame comes only from a passed challenge.
        return Err(FlowError::NotFound);
    }
    app_steps::ensure_can_capture(case, AppStep::of_photo(kind))?;
    // A place in the gate before the allowance: a busy server costs the person nothing.
    let admission = svc.photo_gate.admit().map_err(|e| gate_error(&e))?;
    let what = format!("upload_{}", kind.as_str());
    take_allowance(
        svc,
        case,
        &what,
        MAX_UPLOADS_PER_KIND,
        ErrorCode::UploadLimitReached,
    )
    .await?;
    let record = stamp_and_keep(svc, case, kind, bytes, admission).await?;
    audit::record(
        svc.store.as_ref(),
        actor,
        "photo.uploaded",
        Some(&case.id),
        json!({
            "kind": kind.as_str(),
            "sha256": record.sha256,
            "original_sha256": record.original_sha256,
        }),
        record.created_at,
    )
    .await?;
    app_steps::captured(svc, &case.id, record).await
}

/// Runs the pipeline on an upload (and the face check on a handheld photo) in the place
/// `admission` holds in the CPU gate, then keeps the stamped JPEG.
async fn stamp_and_keep(
    svc: &Services,
    case: &CaseRecord,
    kind: PhotoKind,
    bytes: Arc<[u8]>,
    admission: Admission,
) -> Result<PhotoRecord, FlowError> {
    let opts = Arc::new(options(svc, case, kind));
    let wants_face = kind == PhotoKind::Handheld;
    let (processed, has_face) = admission
        .process_then(bytes, pipeline_kind(kind), opts, move |p| {
            !wants_face || has_face(p)
        })
        .await
        .map_err(|e| refused(kind, &e))?;
    if !has_face {
        return Err(no_face());
    }
    keep(svc, &case.id, FinishedPhoto::of(kind, processed)).await
}

/// The pipeline's settings for a case's photo: the footer carries the date and a short,
/// non-personal case reference. Liveness frames may be smaller than ID photos.
pub fn options(svc: &Services, case: &CaseRecord, kind: PhotoKind) -> pipeline::Options {
    let today = svc
        .clock
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d");
    let reference = case_reference(&case.id);
    pipeline::Options {
        footer: format!("{today} · 仅限备案使用 · 案件 {reference}"),
        ..pipeline::Options::for_kind(pipeline_kind(kind))
    }
}

/// Settings for liveness frames: the App captures them from video, smaller than photos.
pub fn frame_options() -> pipeline::Options {
    pipeline::Options::for_kind(pipeline::PhotoKind::Frame)
}

/// The first 6 hex digits of the case id, upper case: enough for a reviewer to match a
/// printed photo with its case, and says nothing about the person.
pub fn case_reference(id: &CaseId) -> String {
    id.as_str()
        .trim_start_matches("case_")
        .chars()
        .take(6)
        .collect::<String>()
        .to_uppercase()
}

fn pipeline_kind(kind: PhotoKind) -> pipeline::PhotoKind {
    match kind {
        PhotoKind::Handheld => pipeline::PhotoKind::Handheld,
        PhotoKind::Front => pipeline::PhotoKind::Front,
        PhotoKind::Back => pipeline::PhotoKind::Back,
        PhotoKind::Liveness => pipeline::PhotoKind::Frame,
    }
}

/// Whether the processed photo shows a face (CPU-heavy: run it inside the gate).
fn has_face(processed: &Processed) -> bool {
    let luma = &processed.luma;
    !detect_faces(&luma.pixels, luma.width, luma.height).is_empty()
}

fn no_face() -> FlowError {
    let code = ErrorCode::NoFace;
    let facts = ErrorFacts::default().with_field("photo", code.as_str());
    FlowError::refused(code, facts)
}

/// A pipeline refusal as a retake hint; overload and faults are not the person's doing.
pub(super) fn refused(kind: PhotoKind, err: &PipelineError) -> FlowError {
    match err {
        e if e.is_refusal() => FlowError::refused(
            e.code(),
            e.facts().with_field(kind.as_str(), e.code().as_str()),
        ),
        e => gate_error(e),
    }
}

/// Overload asks the App to retry shortly; anything else is our fault.
pub(super) fn gate_error(err: &PipelineError) -> FlowError {
    match err {
        PipelineError::Busy => FlowError::retry_later(ErrorCode::PhotoBusy, 5),
        e => FlowError::Internal(anyhow::anyhow!("image work: {e}")),
    }
}

/// The App's preview of a stored photo (its own case only); audited.
pub async fn view(
    svc: &Services,
    case: &CaseRecord,
    kind: PhotoKind,
    actor: &Actor,
) -> Result<PulledPhoto, FlowError> {
    case.status.can_show_qr()?;
    fetch(svc, &case.id, kind, actor, "photo.viewed").await
}

/// A photo ready to store: the final (watermarked) JPEG and facts about the upload.
#[derive(Debug, Clone)]
pub struct FinishedPhoto {
    /// Which photo.
    pub kind: PhotoKind,
    /// The JPEG to keep.
    pub jpeg: Vec<u8>,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// SHA-256 (hex) of the original upload, for the audit record.
    pub original_sha256: String,
}

impl FinishedPhoto {
    /// The pipeline's result as a photo of `kind` to keep.
    pub fn of(kind: PhotoKind, processed: Processed) -> Self {
        FinishedPhoto {
            kind,
            width: processed.width,
            height: processed.height,
            original_sha256: processed.original_sha256,
            jpeg: processed.jpeg,
        }
    }
}

/// Encrypts and stores a photo, replacing an earlier one of the same kind, if the App may
/// still take its step when the row is written.
pub async fn keep(
    svc: &Services,
    case_id: &CaseId,
    photo: FinishedPhoto,
) -> Result<PhotoRecord, FlowError> {
    let blob_id = BlobId::new();
    svc.blobs
        .put(&blob_id, &photo.jpeg)
        .await
        .map_err(blob_error)?;
    let record = PhotoRecord {
        case_id: case_id.clone(),
        kind: photo.kind,
        blob_id,
        width: i32::try_from(photo.width).unwrap_or(i32::MAX),
        height: i32::try_from(photo.height).unwrap_or(i32::MAX),
        size_bytes: i64::try_from(photo.jpeg.len()).unwrap_or(i64::MAX),
        sha256: hex::encode(Sha256::digest(&photo.jpeg)),
        original_sha256: photo.original_sha256,
        created_at: svc.clock.now(),
    };
    match svc.store.upsert_photo(&record).await {
        Ok(Some(old)) => delete_blob(svc, &old).await,
        Ok(None) => {}
        Err(e) => {
            // Refused (the case moved on while the photo was processed) or failed: the new
            // blob has no row and goes at once.
            delete_blob(svc, &record.blob_id).await;
            return Err(e.into());
        }
    }
    Ok(record)
}

/// A photo the filing system pulls.
#[derive(Debug)]
pub struct PulledPhoto {
    /// The record (dimensions, hash).
    pub record: PhotoRecord,
    /// The watermarked JPEG.
    pub jpeg: Vec<u8>,
}

/// Returns a watermarked photo to the case's filing system, after redemption; audited.
pub async fn pull(
    svc: &Services,
    client: &ClientId,
    case_id: &CaseId,
    kind: PhotoKind,
    actor: &Actor,
) -> Result<PulledPhoto, FlowError> {
    let case = cases::owned_case(svc, client, case_id).await?;
    case.status.can_pull_photos()?;
    fetch(svc, case_id, kind, actor, "photo.pulled").await
}

/// Reads a stored photo and records who saw it.
pub(super) async fn fetch(
    svc: &Services,
    case_id: &CaseId,
    kind: PhotoKind,
    actor: &Actor,
    action: &str,
) -> Result<PulledPhoto, FlowError> {
    let photos = svc.store.list_photos(case_id).await?;
    let record = photos
        .into_iter()
        .find(|p| p.kind == kind)
        .ok_or(FlowError::NotFound)?;
    let jpeg = svc.blobs.get(&record.blob_id).await.map_err(blob_error)?;
    let details = json!({ "kind": kind.as_str(), "sha256": record.sha256 });
    audit::record(
        svc.store.as_ref(),
        actor,
        action,
        Some(case_id),
        details,
        svc.clock.now(),
    )
    .await?;
    Ok(PulledPhoto { record, jpeg })
}

/// Deletes every photo of a case: blob first, then its row, so an interrupted purge
/// leaves rows that a later purge finds again. Returns how many were purged.
pub async fn purge_case_photos(svc: &Services, case_id: &CaseId) -> Result<usize, FlowError> {
    let photos = svc.store.list_photos(case_id).await?;
    for photo in &photos {
        svc.blobs.delete(&photo.blob_id).await.map_err(blob_error)?;
        svc.store.delete_photo(case_id, photo.kind).await?;
    }
    Ok(photos.len())
}

async fn delete_blob(svc: &Services, id: &BlobId) {
    if let Err(e) = svc.blobs.delete(id).await {
        // The row is gone already; the orphan holds only ciphertext and is logged for operators.
        tracing::warn!(blob.id = %id, error = %e, at = %Utc::now(), "could not delete a replaced photo blob");
    }
}

pub(super) fn blob_error(e: BlobError) -> FlowError {
    FlowError::Internal(anyhow::Error::new(e).context("blob store"))
}
