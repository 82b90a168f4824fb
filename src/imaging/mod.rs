//! Pure image work, synchronous and free of I/O: QR codes for the download landing page.
//! Callers run heavy work through `telemetry::spawn_blocking_in_span`.

pub mod qr;
