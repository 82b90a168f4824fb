//! Fuzzes the photo pipeline's entry point: no input may panic, hang or exhaust memory.
//! Every outcome is fine as long as it is an answer; a success must be a JPEG within the
//! limits.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run pipeline -- -max_total_time=600 -rss_limit_mb=512
#![no_main]

use heyan::imaging::pipeline::{process, Options, PhotoKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run cheap, so the fuzzer explores more inputs per second, and
    // let tiny seeds reach the decoders instead of stopping at the size check.
    let opts = Options {
        min_width: 1,
        min_height: 1,
        max_long_edge: 256,
        max_pixels: 4_000_000,
        footer: "2026-11-26 · 案件 3F9A21".into(),
        ..Options::default()
    };
    // Frame skips the glare check, so more inputs reach the watermark and the encoder.
    if let Ok(out) = process(data, PhotoKind::Frame, &opts) {
        assert!(out.width.max(out.height) <= opts.max_long_edge);
        assert!(out.jpeg.starts_with(&[0xFF, 0xD8]));
    }
});
