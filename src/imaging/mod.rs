//! Pure image work, synchronous and free of I/O: QR codes for the download landing page,
//! the photo pipeline (decode, orient, scale, check, watermark, encode), face detection,
//! the liveness judgement, the code as a PNG, and the demo's sample frames. Callers run
//! heavy work off the async workers (`pipeline::PhotoGate`).

pub mod code_image;
pub mod face;
pub mod liveness;
pub mod pipeline;
pub mod qr;
pub mod samples;
