//! QR download codes: renders a payload (the landing-page URL of a case) as PNG or SVG.
//!
//! Owns the look of the code: error-correction level, quiet zone, colours and the pixel
//! size bounds. Pure and synchronous: no I/O, no clock, no randomness, so one payload and
//! size always give the same bytes; async callers run it through
//! `telemetry::spawn_blocking_in_span`. It must not decide what the payload says (the URL
//! format is a domain type) and must not log or echo the payload, which carries the case's
//! access token: errors describe the payload only by its length.

use std::io::Cursor;

use image::{ImageFormat, Luma};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Smallest side in pixels a caller may ask for; below it phone cameras struggle.
pub const MIN_SIZE_PX: u32 = 128;
/// Largest side in pixels a caller may ask for; bounds memory and CPU per request.
pub const MAX_SIZE_PX: u32 = 2048;
/// Side in pixels when the caller does not ask for one.
pub const DEFAULT_SIZE_PX: u32 = 512;

// Level M restores about 15% of damaged codewords. The code carries no logo overlay and is
// shown on a screen or printed, where M suffices; Q would add a version for the usual
// ~60-byte landing URL (33 → 37 modules), so each module would be smaller at the same pixel
// size and harder for a phone camera to pick up from a monitor.
const EC_LEVEL: EcLevel = EcLevel::M;

const DARK: u8 = 0;
const LIGHT: u8 = 255;
const DARK_SVG: &str = "#000000";
const LIGHT_SVG: &str = "#ffffff";

/// Why a QR code could not be rendered.
///
/// Messages never contain the payload (it carries an access token).
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The requested side is outside [`MIN_SIZE_PX`]..=[`MAX_SIZE_PX`].
    #[error("QR code size must be between {min} and {max} pixels, got {requested}", min = MIN_SIZE_PX, max = MAX_SIZE_PX)]
    SizeOutOfRange {
        /// The side that was asked for, in pixels.
        requested: u32,
    },
    /// The payload is empty; a code that opens nothing is a caller bug.
    #[error("QR payload is empty")]
    EmptyPayload,
    /// The payload has a byte outside printable ASCII.
    #[error("QR payload must be printable ASCII (a URL)")]
    NonAsciiPayload,
    /// The payload does not fit in the largest QR version at the chosen error correction.
    #[error("QR payload of {bytes} bytes is too long for a QR code")]
    PayloadTooLong {
        /// Length of the payload in bytes.
        bytes: usize,
    },
    /// The QR encoder refused the payload for another reason.
    #[error("QR code could not be encoded")]
    Encode(#[source] qrcode::types::QrError),
    /// Writing the PNG failed.
    #[error("QR code PNG could not be written")]
    Png(#[source] image::ImageError),
}

impl QrError {
    /// A stable snake_case name for logs and tests. Clients see only a bad size, as the
    /// catalog's `qr_size_out_of_range`; the other failures are ours (`internal_error`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::SizeOutOfRange { .. } => "qr_size_out_of_range",
            Self::EmptyPayload => "qr_payload_empty",
            Self::NonAsciiPayload => "qr_payload_not_ascii",
            Self::PayloadTooLong { .. } => "qr_payload_too_long",
            Self::Encode(_) => "qr_encode_failed",
            Self::Png(_) => "qr_png_failed",
        }
    }
}

/// The side to render: [`DEFAULT_SIZE_PX`] when none was requested, the request itself
/// when it lies within [`MIN_SIZE_PX`]..=[`MAX_SIZE_PX`], otherwise
/// [`QrError::SizeOutOfRange`].
pub fn checked_size(requested: Option<u32>) -> Result<u32, QrError> {
    let size_px = requested.unwrap_or(DEFAULT_SIZE_PX);
    if (MIN_SIZE_PX..=MAX_SIZE_PX).contains(&size_px) {
        Ok(size_px)
    } else {
        Err(QrError::SizeOutOfRange { requested: size_px })
    }
}

/// Renders `payload` as a grayscale PNG: black modules on white, a quiet zone of 4 modules.
///
/// Every module is the same whole number of pixels so edges stay crisp; that number is
/// rounded up, so the square image is at least `size_px` wide and at most one pixel per
/// module (quiet zone included) wider, e.g. 533 px for 512 requested and a 41-module code.
/// `size_px` must pass [`checked_size`]; `payload` must be non-empty printable ASCII.
pub fn render_png(payload: &str, size_px: u32) -> Result<Vec<u8>, QrError> {
    let code = encode(payload, size_px)?;
    let image = code
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .dark_color(Luma([DARK]))
        .light_color(Luma([LIGHT]))
        .min_dimensions(size_px, size_px)
        .build();
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(QrError::Png)?;
    Ok(png)
}

/// Renders `payload` as a standalone SVG document with the same geometry as
/// [`render_png`]: `width`, `height` and `viewBox` give the side in pixels, and
/// `shape-rendering="crispEdges"` keeps module edges sharp when scaled.
pub fn render_svg(payload: &str, size_px: u32) -> Result<String, QrError> {
    let code = encode(payload, size_px)?;
    let svg = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .dark_color(svg::Color(DARK_SVG))
        .light_color(svg::Color(LIGHT_SVG))
        .min_dimensions(size_px, size_px)
        .build();
    Ok(svg)
}

/// Checks the inputs before any allocation, so an unchecked size cannot make a huge image.
fn encode(payload: &str, size_px: u32) -> Result<QrCode, QrError> {
    checked_size(Some(size_px))?;
    check_payload(payload)?;
    QrCode::with_error_correction_level(payload.as_bytes(), EC_LEVEL).map_err(|e| match e {
        qrcode::types::QrError::DataTooLong => QrError::PayloadTooLong {
            bytes: payload.len(),
        },
        other => QrError::Encode(other),
    })
}

// URLs are ASCII (IRIs are percent-encoded or punycoded first). Other bytes would be
// ambiguous: without an ECI header readers guess their charset, and the encoder may read
// UTF-8 byte pairs as Shift-JIS Kanji, so phones would decode a different string.
fn check_payload(payload: &str) -> Result<(), QrError> {
    if payload.is_empty() {
        return Err(QrError::EmptyPayload);
    }
    if !payload.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(QrError::NonAsciiPayload);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::GrayImage;
    use proptest::prelude::*;

    const LANDING_URL: &str = "https://heyan.example.com/d/0123456789abcdef0123456789abcdef";

    fn decode_png(png: &[u8]) -> GrayImage {
        image::load_from_memory_with_format(png, ImageFormat::Png)
            .expect("renderer writes a valid PNG")
            .to_luma8()
    }

    /// Reads every QR code in the image with an independent decoder.
    fn scan(image: GrayImage) -> Vec<String> {
        let mut prepared = rqrr::PreparedImage::prepare(image);
        prepared
            .detect_grids()
            .iter()
            .map(|grid| grid.decode().expect("detected grid decodes").1)
            .collect()
    }

    /// Modules across the code itself, without the quiet zone.
    fn modules(payload: &str) -> u32 {
        let code = QrCode::with_error_correction_level(payload, EC_LEVEL).expect("encodable");
        u32::try_from(code.width()).expect("small")
    }

    #[test]
    fn png_scans_back_to_the_exact_payload_at_default_min_and_max_size() {
        for size_px in [DEFAULT_SIZE_PX, MIN_SIZE_PX, MAX_SIZE_PX] {
            let png = render_png(LANDING_URL, size_px).expect("renders");

            let decoded = scan(decode_png(&png));

            assert_eq!(decoded, vec![LANDING_URL.to_owned()], "size {size_px}");
        }
    }

    #[test]
    fn png_is_square_with_whole_pixel_modules_at_least_the_requested_size() {
        let across = modules(LANDING_URL) + 8;
        for size_px in [MIN_SIZE_PX, 300, DEFAULT_SIZE_PX, 1000, MAX_SIZE_PX] {
            let image = decode_png(&render_png(LANDING_URL, size_px).expect("renders"));

            let side = image.width();
            assert_eq!(image.height(), side, "size {size_px}");
            assert_eq!(side % across, 0, "whole modules at size {size_px}");
            assert!(side >= size_px, "size {size_px}: side {side}");
            assert!(side < size_px + across, "size {size_px}: side {side}");
        }
    }

    #[test]
    fn png_is_pure_black_on_white() {
        let image = decode_png(&render_png(LANDING_URL, DEFAULT_SIZE_PX).expect("renders"));

        assert!(image.pixels().all(|p| p.0 == [DARK] || p.0 == [LIGHT]));
        assert!(image.pixels().any(|p| p.0 == [DARK]));
    }

    #[test]
    fn png_has_a_white_quiet_zone_of_four_modules() {
        let image = decode_png(&render_png(LANDING_URL, DEFAULT_SIZE_PX).expect("renders"));
        let side = image.width();
        let module_px = side / (modules(LANDING_URL) + 8);
        let band = 4 * module_px;

        for (x, y, pixel) in image.enumerate_pixels() {
            let in_band = x < band || y < band || x >= side - band || y >= side - band;
            if in_band {
                assert_eq!(pixel.0, [LIGHT], "quiet zone pixel ({x}, {y})");
            }
        }
        // The top-left finder pattern starts right after the quiet zone.
        assert_eq!(image.get_pixel(band, band).0, [DARK]);
    }

    #[test]
    fn svg_is_a_document_with_a_view_box_and_is_deterministic() {
        let first = render_svg(LANDING_URL, DEFAULT_SIZE_PX).expect("renders");
        let second = render_svg(LANDING_URL, DEFAULT_SIZE_PX).expect("renders");

        let side = (modules(LANDING_URL) + 8) * DEFAULT_SIZE_PX.div_ceil(modules(LANDING_URL) + 8);
        assert!(first.contains("<svg"));
        assert!(first.contains(&format!(r#"viewBox="0 0 {side} {side}""#)));
        assert!(first.contains(r##"fill="#000000""##));
        assert!(first.contains(r##"fill="#ffffff""##));
        assert!(first.ends_with("</svg>"));
        assert_eq!(first, second);
    }

    #[test]
    fn png_is_deterministic() {
        let first = render_png(LANDING_URL, MIN_SIZE_PX).expect("renders");
        let second = render_png(LANDING_URL, MIN_SIZE_PX).expect("renders");

        assert_eq!(first, second);
    }

    #[test]
    fn checked_size_defaults_and_accepts_the_bounds() {
        let cases = [
            ("nothing requested", None, DEFAULT_SIZE_PX),
            ("minimum", Some(MIN_SIZE_PX), MIN_SIZE_PX),
            ("maximum", Some(MAX_SIZE_PX), MAX_SIZE_PX),
            ("in between", Some(777), 777),
        ];
        for (description, requested, expected) in cases {
            assert_eq!(
                checked_size(requested).ok(),
                Some(expected),
                "{description}"
            );
        }
    }

    #[test]
    fn sizes_out_of_bounds_are_refused_naming_the_bounds() {
        for requested in [0, MIN_SIZE_PX - 1, MAX_SIZE_PX + 1, u32::MAX] {
            let results = [
                checked_size(Some(requested)).err(),
                render_png(LANDING_URL, requested).err(),
                render_svg(LANDING_URL, requested).err(),
            ];
            for error in results {
                let error = error.expect("refused");
                assert!(
                    matches!(error, QrError::SizeOutOfRange { requested: r } if r == requested),
                    "{requested}: {error:?}"
                );
                let message = error.to_string();
                assert!(
                    message.contains("128") && message.contains("2048"),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn unusable_payloads_are_refused_without_echoing_them() {
        let too_long = "a".repeat(3000);
        let cases = [
            ("empty", "", "qr_payload_empty"),
            (
                "Chinese text",
                "https://例子.cn/核验",
                "qr_payload_not_ascii",
            ),
            ("newline", "https://a.example/\n", "qr_payload_not_ascii"),
            ("3000 bytes", too_long.as_str(), "qr_payload_too_long"),
        ];
        for (description, payload, code) in cases {
            let png = render_png(payload, DEFAULT_SIZE_PX).expect_err(description);
            let svg = render_svg(payload, DEFAULT_SIZE_PX).expect_err(description);

            assert_eq!(png.code(), code, "{description}");
            assert_eq!(svg.code(), code, "{description}");
            if !payload.is_empty() {
                assert!(!png.to_string().contains(payload), "{description}");
            }
        }
    }

    #[test]
    fn error_codes_are_stable_snake_case_strings() {
        let cases = [
            (
                QrError::SizeOutOfRange { requested: 1 },
                "qr_size_out_of_range",
            ),
            (QrError::EmptyPayload, "qr_payload_empty"),
            (QrError::NonAsciiPayload, "qr_payload_not_ascii"),
            (QrError::PayloadTooLong { bytes: 1 }, "qr_payload_too_long"),
            (
                QrError::Encode(qrcode::types::QrError::InvalidVersion),
                "qr_encode_failed",
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "code of {error:?}");
            assert!(!error.to_string().contains('{'), "message of {error:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_printable_ascii_payload_scans_back_unchanged(payload in "[ -~]{1,150}") {
            let png = render_png(&payload, MIN_SIZE_PX).expect("renders");

            prop_assert_eq!(scan(decode_png(&png)), vec![payload]);
        }
    }
}
