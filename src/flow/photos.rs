//! Stored photos: keeping a watermarked JPEG (replacing a retake), the filing system's
//! pull (audited), and purging a case's photos.

use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{audit, cases, Actor, FlowError, Services};
use crate::blob::{BlobError, BlobId};
use crate::domain::case::PhotoKind;
use crate::domain::ids::{CaseId, ClientId};
use crate::store::PhotoRecord;

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

/// Encrypts and stores a photo, replacing an earlier one of the same kind.
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
        blob_id: blob_id.as_str().to_owned(),
        width: i32::try_from(photo.width).unwrap_or(i32::MAX),
        height: i32::try_from(photo.height).unwrap_or(i32::MAX),
        size_bytes: i64::try_from(photo.jpeg.len()).unwrap_or(i64::MAX),
        sha256: hex::encode(Sha256::digest(&photo.jpeg)),
        original_sha256: photo.original_sha256,
        created_at: svc.clock.now(),
    };
    if let Some(old) = svc.store.upsert_photo(&record).await? {
        delete_blob(svc, &old).await;
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
    let photos = svc.store.list_photos(case_id).await?;
    let record = photos
        .into_iter()
        .find(|p| p.kind == kind)
        .ok_or(FlowError::NotFound)?;
    let blob_id = BlobId::parse(&record.blob_id).map_err(blob_error)?;
    let jpeg = svc.blobs.get(&blob_id).await.map_err(blob_error)?;
    let details = json!({ "kind": kind.as_str(), "sha256": record.sha256 });
    audit::record(
        svc.store.as_ref(),
        actor,
        "photo.pulled",
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
        let blob_id = BlobId::parse(&photo.blob_id).map_err(blob_error)?;
        svc.blobs.delete(&blob_id).await.map_err(blob_error)?;
        svc.store.delete_photo(case_id, photo.kind).await?;
    }
    Ok(photos.len())
}

async fn delete_blob(svc: &Services, raw: &str) {
    let Ok(id) = BlobId::parse(raw) else { return };
    if let Err(e) = svc.blobs.delete(&id).await {
        // The row is gone already; the orphan holds only ciphertext and is logged for operators.
        tracing::warn!(blob.id = %id, error = %e, at = %Utc::now(), "could not delete a replaced photo blob");
    }
}

fn blob_error(e: BlobError) -> FlowError {
    FlowError::Internal(anyhow::Error::new(e).context("blob store"))
}
