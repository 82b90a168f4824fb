//! Pure image work, synchronous and free of I/O: QR codes for the download landing page and
//! the photo pipeline (decode, orient, scale, check, watermark, encode). Callers run heavy
//! work off the async workers (`telemetry::spawn_blocking_in_span`, `pipeline::PhotoGate`).

#[cfg(feature = "photo-pipeline")]
pub mod pipeline;
pub mod qr;
