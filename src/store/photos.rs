//! Photo rows: one per case and kind; the sealed image is a blob named by `blob_id`.

use async_trait::async_trait;
use sqlx::FromRow;

use super::cases::capture_sql;
use super::dialect::{SqlStore, Ts};
use super::{
    backend, corrupt, id_from_db, kind_from_db, placeholders, step_column, PhotoRecord, StoreError,
};
use crate::blob::BlobId;
use crate::domain::case::PhotoKind;
use crate::domain::ids::CaseId;

/// The rows of stored photos (the images themselves are blobs).
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// Stores a photo, replacing one of the same kind (a retake), and marks its step done
    /// in the same transaction, only while the App may still take the step
    /// (`CaseStatus::check_capture`, else `StoreError::Transition`); returns the replaced
    /// photo's blob id so its blob can be deleted.
    async fn upsert_photo(&self, photo: &PhotoRecord) -> Result<Option<BlobId>, StoreError>;

    /// A case's photos.
    async fn list_photos(&self, case_id: &CaseId) -> Result<Vec<PhotoRecord>, StoreError>;

    /// Which of these blobs a photo row names (the others are orphans).
    async fn referenced_blobs(&self, ids: &[BlobId]) -> Result<Vec<BlobId>, StoreError>;

    /// Removes a photo's row (after its blob is deleted).
    async fn delete_photo(&self, case_id: &CaseId, kind: PhotoKind) -> Result<(), StoreError>;
}

fn blob_from_db(raw: &str) -> Result<BlobId, StoreError> {
    BlobId::parse(raw).map_err(|_| corrupt("blob id", raw))
}

#[derive(FromRow)]
struct PhotoRow {
    case_id: String,
    kind: String,
    blob_id: String,
    width: i32,
    height: i32,
    size_bytes: i64,
    sha256: String,
    original_sha256: String,
    created_at: Ts,
}

impl TryFrom<PhotoRow> for PhotoRecord {
    type Error = StoreError;
    fn try_from(r: PhotoRow) -> Result<Self, StoreError> {
        Ok(PhotoRecord {
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            kind: kind_from_db(&r.kind)?,
            blob_id: blob_from_db(&r.blob_id)?,
            width: r.width,
            height: r.height,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            original_sha256: r.original_sha256,
            created_at: r.created_at.into(),
        })
    }
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl PhotoStore for SqlStore<$db> {
            async fn upsert_photo(&self, photo: &PhotoRecord) -> Result<Option<BlobId>, StoreError> {
                let at = photo.created_at;
                let step = step_column(photo.kind);
                let mut tx = Self::begin_write(&self.pool).await?;
                // The case row first: the step is marked done only while the App may still
                // take it, and on PostgreSQL its row lock queues concurrent uploads to one
                // case, so a retake never meets another on the (case, kind) key.
                let sql = capture_sql(step, "");
                let query = sqlx::query(&sql).bind(Ts(at)).bind(photo.case_id.as_str());
                Self::guarded_in(&mut tx, None, Some(step), &photo.case_id, query).await?;
                let replaced: Option<(String,)> =
                    sqlx::query_as("delete from photos where case_id = $1 and kind = $2 returning blob_id")
                        .bind(photo.case_id.as_str())
                        .bind(photo.kind.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                sqlx::query(
                    "insert into photos (case_id, kind, blob_id, width, height, size_bytes, sha256,
                         original_sha256, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(photo.case_id.as_str())
                .bind(photo.kind.as_str())
                .bind(photo.blob_id.as_str())
                .bind(photo.width)
                .bind(photo.height)
                .bind(photo.size_bytes)
                .bind(&photo.sha256)
                .bind(&photo.original_sha256)
                .bind(Ts(at))
                .bind(Ts(at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                replaced.map(|(blob,)| blob_from_db(&blob)).transpose()
            }

            async fn list_photos(&self, case_id: &CaseId) -> Result<Vec<PhotoRecord>, StoreError> {
                sqlx::query_as::<_, PhotoRow>(
                    "select case_id, kind, blob_id, width, height, size_bytes, sha256, original_sha256, created_at
                     from photos where case_id = $1 order by id",
                )
                .bind(case_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .into_iter()
                .map(PhotoRecord::try_from)
                .collect()
            }

            async fn referenced_blobs(&self, ids: &[BlobId]) -> Result<Vec<BlobId>, StoreError> {
                let mut found = Vec::new();
                // Bounded batches: both databases cap the parameters of one statement.
                for batch in ids.chunks(500) {
                    let sql = format!(
                        "select blob_id from photos where blob_id in ({})",
                        placeholders(batch.len())
                    );
                    let mut query = sqlx::query_as::<_, (String,)>(&sql);
                    for id in batch {
                        query = query.bind(id.as_str());
                    }
                    for (raw,) in query.fetch_all(&self.pool).await.map_err(backend)? {
                        found.push(blob_from_db(&raw)?);
                    }
                }
                Ok(found)
            }

            async fn delete_photo(&self, case_id: &CaseId, kind: PhotoKind) -> Result<(), StoreError> {
                sqlx::query("delete from photos where case_id = $1 and kind = $2")
                    .bind(case_id.as_str())
                    .bind(kind.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(())
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
