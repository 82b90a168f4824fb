-- The orphan sweep asks which blobs a photo row names.
create index photos_blob_id on photos (blob_id);
