//! The photo pipeline: every uploaded photo (handheld, ID front, ID back, liveness frame)
//! goes through [`process`], which turns untrusted bytes into a normalised, watermarked JPEG
//! or refuses them with a stable code and a retake hint.
//!
//! Stages, in order: sniff the format from the bytes and read the dimensions from the
//! headers (refusing bombs before any pixel is decoded); decode, for JPEG straight to about
//! the output size; apply the EXIF orientation; scale the long edge down to the limit;
//! check resolution, sharpness and exposure; stamp the "仅限备案使用" watermark and the
//! footer; encode a JPEG that carries no metadata at all. [`luma_preview`] stops after the
//! scaling, for face detection on liveness frames.
//!
//! JPEG decoding and encoding have two backends with one interface: pure Rust (zune-jpeg
//! and jpeg-encoder, `jpeg_rust.rs`) by default, and libjpeg-turbo (`jpeg_turbo.rs`, DCT-
//! domain scaling, SIMD) with the `turbojpeg` feature, which needs cmake and nasm to build.
//! Both give the same output sizes and refuse the same inputs with the same codes;
//! [`JPEG_BACKEND`] names the one compiled in.
//!
//! Pure and synchronous: no I/O, no clock other than stage timings, no logging of image
//! content. It must not know about cases, storage or HTTP; async callers go through
//! [`PhotoGate`], which bounds concurrency and stops work for a client that went away.
//! It depends on no other heyan module.

mod decode;
mod encode;
mod error;
// The one place that picks the JPEG backend; the rest of the pipeline calls `jpeg::`.
#[cfg(not(feature = "turbojpeg"))]
mod jpeg_rust;
#[cfg(feature = "turbojpeg")]
mod jpeg_turbo;
#[cfg(not(feature = "turbojpeg"))]
use jpeg_rust as jpeg;
#[cfg(feature = "turbojpeg")]
use jpeg_turbo as jpeg;
mod limits;
mod orient;
mod quality;
mod scale;
mod sniff;
#[doc(hidden)]
pub mod testdata;
mod watermark;

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use error::{PipelineError, SeenFormat};
pub use limits::{Admission, CancelFlag, PhotoGate};
pub use quality::{QualityReport, Region, Thresholds};
pub use sniff::Format;

/// The JPEG codec this build decodes and encodes with: pure Rust by default, libjpeg-turbo
/// with the `turbojpeg` feature.
pub const JPEG_BACKEND: &str = jpeg::NAME;

/// Long edge of [`Processed::luma`] at most: the copy the quality checks measure.
pub const LUMA_LONG_EDGE: u32 = quality::MEASURE_LONG_EDGE;

/// Which photo of the flow this is; the checks are tuned per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhotoKind {
    /// The principal holding the ID card.
    Handheld,
    /// The ID card's front (portrait side).
    Front,
    /// The ID card's back (national emblem side).
    Back,
    /// The best frame of a liveness action.
    Frame,
}

impl PhotoKind {
    /// Stable snake_case name, as used on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::Handheld => "handheld",
            PhotoKind::Front => "front",
            PhotoKind::Back => "back",
            PhotoKind::Frame => "frame",
        }
    }

    /// Parses the name given by [`PhotoKind::as_str`].
    pub fn parse(name: &str) -> Option<PhotoKind> {
        match name {
            "handheld" => Some(PhotoKind::Handheld),
            "front" => Some(PhotoKind::Front),
            "back" => Some(PhotoKind::Back),
            "frame" => Some(PhotoKind::Frame),
            _ => None,
        }
    }
}

/// Limits and output settings of one pipeline run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Longest edge of the output, in pixels; larger photos are scaled down (2048).
    pub max_long_edge: u32,
    /// Minimum width of the photo as shown (800). Checked against the longer edge, so a
    /// portrait photo of 600×800 passes as well as a landscape 800×600.
    pub min_width: u32,
    /// Minimum height of the photo as shown (600), checked against the shorter edge.
    pub min_height: u32,
    /// Most pixels a photo may declare; checked from the headers before decoding (40 MP).
    pub max_pixels: u64,
    /// Largest upload in bytes (10 MiB).
    pub max_bytes: usize,
    /// JPEG quality of the output, 1–100 (85).
    pub jpeg_quality: u8,
    /// The footer line: the date and a non-personal case reference, for example
    /// "2026-11-26 · 案件 3F9A21". Never a name, ID or phone number.
    pub footer: String,
    /// Quality-check thresholds; the defaults come from docs/photo-calibration.md.
    pub thresholds: Thresholds,
}

impl Options {
    /// The defaults for one kind: liveness frames come from the camera's video stream and
    /// may be as small as 480×360; photos of a person or a card need 800×600.
    pub fn for_kind(kind: PhotoKind) -> Self {
        let defaults = Self::default();
        match kind {
            PhotoKind::Frame => Options {
                min_width: 480,
                min_height: 360,
                ..defaults
            },
            _ => defaults,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_long_edge: 2048,
            min_width: 800,
            min_height: 600,
            max_pixels: 40_000_000,
            max_bytes: 10 * 1024 * 1024,
            jpeg_quality: 85,
            footer: String::new(),
            thresholds: Thresholds::default(),
        }
    }
}

/// How long each stage took. `decode` includes sniffing and hashing the original.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimings {
    /// Sniffing, header checks, SHA-256 of the original, decoding (with DCT scaling).
    pub decode: Duration,
    /// Applying the EXIF orientation.
    pub orient: Duration,
    /// Scaling the long edge down to the limit (zero when the DCT scaling sufficed).
    pub scale: Duration,
    /// Sharpness and exposure measures.
    pub checks: Duration,
    /// Stamping the watermark and the footer.
    pub watermark: Duration,
    /// Encoding the output JPEG.
    pub encode: Duration,
    /// The whole run.
    pub total: Duration,
}

/// A photo that passed: the stamped JPEG and what was measured on the way.
#[derive(Clone, PartialEq)]
pub struct Processed {
    /// The output JPEG: oriented, scaled, watermarked, without any metadata.
    pub jpeg: Vec<u8>,
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// SHA-256 of the original upload, lowercase hex, for the audit record.
    pub original_sha256: String,
    /// Format that was recognised.
    pub format: Format,
    /// Dimensions the original declared, before orientation.
    pub original_width: u32,
    /// Height the original declared, before orientation.
    pub original_height: u32,
    /// EXIF orientation that was applied (1 when there was none).
    pub orientation: u8,
    /// Sharpness and exposure measures.
    pub checks: QualityReport,
    /// The photo as the checks saw it, for face detection: after orientation and scaling,
    /// before the watermark and footer, as 8-bit luma reduced so that its long edge is at
    /// most [`LUMA_LONG_EDGE`] (1024 px; a 2016×1512 photo gives 1008×756).
    pub luma: LumaImage,
    /// Time spent per stage.
    pub timings: StageTimings,
}

/// An 8-bit grayscale image (BT.601 luma), row-major, `width * height` bytes without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct LumaImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Luma samples, row by row.
    pub pixels: Vec<u8>,
}

// A photo of a person: Debug shows the size, never the pixels.
impl std::fmt::Debug for LumaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LumaImage({}x{})", self.width, self.height)
    }
}

// Photos are personal data: Debug shows the shape, never the bytes.
impl std::fmt::Debug for Processed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processed")
            .field("jpeg_bytes", &self.jpeg.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("orientation", &self.orientation)
            .field("checks", &self.checks)
            .field("luma", &self.luma)
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

impl Processed {
    /// A multi-line, human-readable account of the run (for `heyan photo`): dimensions,
    /// checks against their thresholds, and stage timings.
    pub fn summary(&self, thresholds: &Thresholds) -> String {
        let t = &self.timings;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "format      {fmt} {ow}x{oh}, orientation {o}\n\
             output      {w}x{h}, {kb:.1} KiB JPEG\n\
             sha256      {sha}\n\
             {checks}\
             timings ms  decode {d:.1}  orient {or:.1}  scale {s:.1}  checks {ch:.1}  \
             watermark {wm:.1}  encode {e:.1}  total {tot:.1}\n\
             jpeg codec  {codec}\n",
            fmt = self.format.as_str(),
            ow = self.original_width,
            oh = self.original_height,
            o = self.orientation,
            w = self.width,
            h = self.height,
            kb = self.jpeg.len() as f64 / 1024.0,
            sha = self.original_sha256,
            checks = self.checks.summary(thresholds),
            d = ms(t.decode),
            or = ms(t.orient),
            s = ms(t.scale),
            ch = ms(t.checks),
            wm = ms(t.watermark),
            e = ms(t.encode),
            tot = ms(t.total),
            codec = JPEG_BACKEND,
        )
    }
}

/// An 8-bit RGB image, rows packed without padding.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Rgb {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Vec<u8>,
}

impl std::fmt::Debug for Rgb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rgb({}x{})", self.width, self.height)
    }
}

impl Rgb {
    pub(crate) fn stride(&self) -> usize {
        self.width as usize * 3
    }
}

/// Runs the whole pipeline on one upload. See the module documentation for the stages.
pub fn process(input: &[u8], kind: PhotoKind, opts: &Options) -> Result<Processed, PipelineError> {
    process_cancellable(input, kind, opts, &CancelFlag::new())
}

/// The checks' figures for an upload, without judging, stamping or encoding: what
/// `heyan photo` prints for a refused photo, and what the calibration reads.
pub fn inspect(input: &[u8], opts: &Options) -> Result<QualityReport, PipelineError> {
    let prepared = prepare(input, opts, &CancelFlag::new())?;
    Ok(quality::measure(&prepared.image))
}

/// [`process`], stopping with [`PipelineError::Cancelled`] at the next stage boundary once
/// `cancel` is set (the client went away).
pub fn process_cancellable(
    input: &[u8],
    kind: PhotoKind,
    opts: &Options,
    cancel: &CancelFlag,
) -> Result<Processed, PipelineError> {
    let started = Instant::now();
    let Prepared {
        header,
        mut image,
        original_sha256,
        mut timings,
    } = prepare(input, opts, cancel)?;

    let t = Instant::now();
    // The checks' grayscale copy doubles as the luma preview: taken before stamping.
    let luma = quality::reduced_gray(&image, quality::MEASURE_LONG_EDGE);
    let checks = quality::measure_gray(&luma);
    timings.checks = t.elapsed();
    quality::judge(&checks, kind, &opts.thresholds)?;
    cancel.check()?;

    let t = Instant::now();
    watermark::stamp(&mut image, &opts.footer);
    timings.watermark = t.elapsed();
    cancel.check()?;

    let t = Instant::now();
    let jpeg = encode::encode(&image, opts.jpeg_quality)?;
    timings.encode = t.elapsed();
    timings.total = started.elapsed();

    Ok(Processed {
        jpeg,
        width: image.width,
        height: image.height,
        original_sha256,
        format: header.format,
        original_width: header.width,
        original_height: header.height,
        orientation: header.orientation,
        checks,
        luma,
        timings,
    })
}

/// A grayscale preview of an upload for face detection, without judging, stamping or
/// encoding: sniff, limits, decode, orient, scale so that the long edge is at most
/// `max_long_edge` (never up), as 8-bit BT.601 luma. For liveness frames, of which only the
/// best is later stamped through [`process`].
///
/// Enforces `opts.max_bytes` and `opts.max_pixels` and refuses what cannot be decoded with
/// the usual codes (`unsupported_format`, `too_large`, `dimensions_too_large`, `corrupt`).
/// Unlike [`process`] it does **not** enforce `opts.min_width`/`opts.min_height`: liveness
/// frames may be small (640×480). JPEGs are decoded straight to about the preview size.
pub fn luma_preview(
    input: &[u8],
    opts: &Options,
    max_long_edge: u32,
) -> Result<LumaImage, PipelineError> {
    let max_long_edge = max_long_edge.max(1);
    let header = admit(input, opts)?;
    let image = decode::decode(input, &header, max_long_edge)?;
    let image = scale::fit_long_edge(image, max_long_edge)?;
    let image = orient::apply(image, header.orientation);
    Ok(quality::reduced_gray(&image, max_long_edge))
}

struct Prepared {
    header: sniff::Header,
    image: Rgb,
    original_sha256: String,
    timings: StageTimings,
}

/// Byte limit, sniff, pixel limits: everything decided from the headers, before decoding.
fn admit(input: &[u8], opts: &Options) -> Result<sniff::Header, PipelineError> {
    if input.len() > opts.max_bytes {
        return Err(PipelineError::TooLarge {
            bytes: input.len(),
            max_bytes: opts.max_bytes,
        });
    }
    let header = sniff::read_header(input)?;
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > opts.max_pixels || header.width > MAX_SIDE || header.height > MAX_SIDE {
        return Err(PipelineError::DimensionsTooLarge {
            width: header.width,
            height: header.height,
            max_pixels: opts.max_pixels,
        });
    }
    Ok(header)
}

/// Sniff, size checks, hash, decode, scale, orient.
fn prepare(input: &[u8], opts: &Options, cancel: &CancelFlag) -> Result<Prepared, PipelineError> {
    let mut timings = StageTimings::default();
    let t = Instant::now();
    let header = admit(input, opts)?;
    check_min_size(header.width, header.height, opts)?;
    let original_sha256 = hex::encode(Sha256::digest(input));
    cancel.check()?;
    let image = decode::decode(input, &header, opts.max_long_edge)?;
    timings.decode = t.elapsed();
    cancel.check()?;

    // Scale before orienting: the same result, on fewer pixels.
    let t = Instant::now();
    let image = scale::fit_long_edge(image, opts.max_long_edge)?;
    timings.scale = t.elapsed();

    let t = Instant::now();
    let image = orient::apply(image, header.orientation);
    timings.orient = t.elapsed();
    cancel.check()?;
    Ok(Prepared {
        header,
        image,
        original_sha256,
        timings,
    })
}

// No format we accept goes past 65 535 px a side (JPEG's own limit; WebP's is 16 383), and a
// bound here keeps every later `u32 * u32` far from overflow.
const MAX_SIDE: u32 = 65_535;

fn check_min_size(width: u32, height: u32, opts: &Options) -> Result<(), PipelineError> {
    let (long, short) = (width.max(height), width.min(height));
    let (min_long, min_short) = (
        opts.min_width.max(opts.min_height),
        opts.min_width.min(opts.min_height),
    );
    if long < min_long || short < min_short {
        return Err(PipelineError::TooSmall {
            width,
            height,
            min_width: opts.min_width,
            min_height: opts.min_height,
        });
    }
    Ok(())
}

#[cfg(test)]
mod testkit;

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::testdata::{degrade, Degradation};
    use super::testkit::*;
    use super::*;

    fn opts() -> Options {
        Options {
            footer: "2026-11-26 · 案件 3F9A21".into(),
            ..Options::default()
        }
    }

    fn code(input: &[u8]) -> &'static str {
        match process(input, PhotoKind::Front, &opts()) {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        }
    }

    /// Mean absolute difference per sample between two images of one size.
    fn mad(a: &Rgb, b: &Rgb) -> f64 {
        assert_eq!((a.width, a.height), (b.width, b.height));
        let sum: u64 = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        sum as f64 / a.data.len() as f64
    }

    #[test]
    fn a_real_photo_passes_with_its_hash_and_size() {
        let input = sample("boats.jpg");
        let out = process(&input, PhotoKind::Handheld, &opts()).unwrap();
        assert_eq!((out.width, out.height), (1600, 1200));
        assert_eq!(out.format, Format::Jpeg);
        assert_eq!(out.original_sha256, hex::encode(Sha256::digest(&input)));
        let back = decode_jpeg(&out.jpeg);
        assert_eq!((back.width, back.height), (1600, 1200));
        let summary = out.summary(&Thresholds::default());
        for line in [
            "format      jpeg 1600x1200",
            "sharpness",
            "whole photo mean luma",
            "subject     found",
            "p5 luma",
            "median luma",
            "timings ms",
        ] {
            assert!(summary.contains(line), "{line} missing from:\n{summary}");
        }
    }

    #[test]
    fn a_12_megapixel_jpeg_is_scaled_in_the_dct_domain_to_2016_px() {
        let big = resized(&sample_rgb("boats.jpg"), 4032, 3024);
        let out = process(&encode_jpeg(&big, 92), PhotoKind::Front, &opts()).unwrap();
        assert_eq!((out.width, out.height), (2016, 1512));
    }

    #[test]
    fn an_odd_size_jpeg_is_scaled_to_exactly_2048_px() {
        let big = resized(&sample_rgb("forest.jpg"), 3000, 2250);
        let out = process(&encode_jpeg(&big, 92), PhotoKind::Front, &opts()).unwrap();
        assert_eq!((out.width, out.height), (2048, 1536));
    }

    #[test]
    fn every_png_colour_type_and_depth_and_webp_are_accepted() {
        use png::{BitDepth, ColorType};
        let rgb = sample_rgb("cups.jpg");
        let cases = [
            (
                "png rgb8",
                encode_png(&rgb, ColorType::Rgb, BitDepth::Eight),
            ),
            (
                "png rgb16",
                encode_png(&rgb, ColorType::Rgb, BitDepth::Sixteen),
            ),
            (
                "png paletted",
                encode_png(&rgb, ColorType::Indexed, BitDepth::Eight),
            ),
            (
                "png rgba",
                encode_png(&rgb, ColorType::Rgba, BitDepth::Eight),
            ),
            (
                "png gray8",
                encode_png(&rgb, ColorType::Grayscale, BitDepth::Eight),
            ),
            (
                "png gray16",
                encode_png(&rgb, ColorType::Grayscale, BitDepth::Sixteen),
            ),
            (
                "png gray+alpha",
                encode_png(&rgb, ColorType::GrayscaleAlpha, BitDepth::Eight),
            ),
            ("webp lossless", encode_webp(&rgb)),
            ("grayscale jpeg", sample("pier-gray.jpg")),
            ("progressive jpeg", progressive_jpeg(&rgb)),
        ];
        for (what, input) in cases {
            let out = process(&input, PhotoKind::Front, &opts());
            let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!((out.width, out.height), (1600, 1200), "{what}");
        }
    }

    fn progressive_jpeg(image: &Rgb) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive(true);
        encoder
            .encode(
                &image.data,
                image.width as u16,
                image.height as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
        assert_eq!(
            encode::header_markers(&out)
                .iter()
                .filter(|&&m| m == 0xC2)
                .count(),
            1
        );
        out
    }

    #[test]
    fn alpha_is_flattened_on_white() {
        let rgb = sample_rgb("cups.jpg");
        let png = encode_png(&rgb, png::ColorType::Rgba, png::BitDepth::Eight);
        let header = sniff::read_header(&png).unwrap();
        let decoded = decode::decode(&png, &header, 2048).unwrap();
        let row = &decoded.data[600 * decoded.stride()..601 * decoded.stride()];
        let src = &rgb.data[600 * rgb.stride()..601 * rgb.stride()];
        assert_eq!(&row[..30], &src[..30], "opaque half unchanged");
        for (got, &v) in row[1200 * 3..].iter().zip(&src[1200 * 3..]) {
            let want = (u32::from(v) * 96 + 255 * 159 + 127) / 255;
            assert_eq!(
                u32::from(*got),
                want,
                "translucent half is blended on white"
            );
        }
    }

    #[test]
    fn cmyk_and_ycck_jpegs_come_out_in_the_right_colours() {
        let rgb = resized(&sample_rgb("cups.jpg"), 1000, 750);
        // Adobe's inverted inks as stored: R = C·K/255 with K the brightest channel.
        let stored: Vec<u8> = rgb
            .data
            .chunks(3)
            .flat_map(|p| {
                let k = p.iter().copied().max().unwrap().max(1);
                let inv = |v: u8| ((u32::from(v) * 255 + u32::from(k) / 2) / u32::from(k)) as u8;
                [inv(p[0]), inv(p[1]), inv(p[2]), k]
            })
            .collect();
        // jpeg-encoder takes ink amounts (0 = none) and stores them inverted, with an
        // Adobe APP14 segment (transform 0 for CMYK, 2 for YCCK).
        let inks: Vec<u8> = stored.iter().map(|&v| 255 - v).collect();
        for (what, color) in [
            ("cmyk", jpeg_encoder::ColorType::Cmyk),
            ("ycck", jpeg_encoder::ColorType::CmykAsYcck),
        ] {
            let mut jpeg = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 95);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
            encoder.encode(&inks, 1000, 750, color).unwrap();
            assert!(
                encode::header_markers(&jpeg).contains(&0xEE),
                "{what}: Adobe APP14"
            );
            let header = sniff::read_header(&jpeg).unwrap();
            let decoded = decode::decode(&jpeg, &header, 2048).unwrap();
            let diff = mad(&decoded, &rgb);
            assert!(diff < 4.0, "{what}: mad {diff:.2}");
        }
    }

    #[test]
    fn the_grayscale_sample_decodes_to_equal_channels() {
        let input = sample("pier-gray.jpg");
        let header = sniff::read_header(&input).unwrap();
        let decoded = decode::decode(&input, &header, 2048).unwrap();
        assert_eq!(
            (decoded.width, decoded.height),
            (header.width, header.height)
        );
        assert!(decoded.data.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
        let mean =
            decoded.data.iter().map(|&v| f64::from(v)).sum::<f64>() / decoded.data.len() as f64;
        assert!(
            (20.0..235.0).contains(&mean),
            "a photo, not a flat fill: {mean:.1}"
        );
    }

    #[test]
    fn other_formats_are_refused_naming_what_was_seen() {
        let cases: [(&str, Vec<u8>, SeenFormat); 6] = [
            (
                "gif",
                b"GIF89a\x10\x00\x10\x00\x80\x00\x00".to_vec(),
                SeenFormat::Gif,
            ),
            (
                "pdf",
                b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n".to_vec(),
                SeenFormat::Pdf,
            ),
            (
                "svg",
                br#"<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="3000"/>"#.to_vec(),
                SeenFormat::Svg,
            ),
            (
                "heic",
                b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\0".to_vec(),
                SeenFormat::Heic,
            ),
            (
                "text renamed .jpg",
                "身份证照片.jpg\n".as_bytes().to_vec(),
                SeenFormat::Text,
            ),
            (
                "random bytes",
                vec![0x13, 0x37, 0x00, 0xAB, 0xCD, 0xEF, 0x01],
                SeenFormat::Unknown,
            ),
        ];
        for (what, input, seen) in cases {
            let err = process(&input, PhotoKind::Front, &opts()).unwrap_err();
            assert_eq!(
                (err.code().as_str(), err.seen()),
                ("unsupported_format", Some(seen)),
                "{what}"
            );
        }
    }

    #[test]
    fn decompression_bombs_are_refused_in_milliseconds() {
        // PNG, JPEG and WebP headers declaring huge frames, with a little data after them.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&50_000u32.to_be_bytes());
        png.extend_from_slice(&50_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        png.extend_from_slice(&[0u8; 1000]);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0xC3, 0x50, 0xC3, 0x50, 3];
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg.extend_from_slice(&[0u8; 1000]);
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend_from_slice(&[0xFE, 0x3F, 0x00, 0xFE, 0x3F, 0x00]);
        for (what, input) in [("png", png), ("jpeg", jpeg), ("webp", webp)] {
            let started = Instant::now();
            let err = process(&input, PhotoKind::Front, &opts()).unwrap_err();
            assert_eq!(err.code(), "dimensions_too_large", "{what}");
            assert!(
                started.elapsed() < Duration::from_millis(50),
                "{what}: {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn truncated_and_damaged_files_are_corrupt() {
        let jpeg = sample("forest.jpg");
        let png = encode_png(
            &sample_rgb("forest.jpg"),
            png::ColorType::Rgb,
            png::BitDepth::Eight,
        );
        let webp = encode_webp(&sample_rgb("forest.jpg"));
        for (what, data) in [("jpeg", &jpeg), ("png", &png), ("webp", &webp)] {
            for keep in [data.len() / 2, data.len() - 100] {
                assert_eq!(code(&data[..keep]), "corrupt", "{what} cut to {keep}");
            }
        }
        // A JPEG cut within its last bytes, or only its end marker lost.
        for cut in [20, 8, 5, 2] {
            let keep = jpeg.len() - cut;
            assert_eq!(code(&jpeg[..keep]), "corrupt", "jpeg cut to {keep}");
        }
        // Data after the end marker is left alone.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"bytes some phones append after the image");
        assert_eq!(code(&trailing), "ok");
        // Noise over part of the entropy-coded data: bad Huffman codes, stray markers.
        let mut scrambled = jpeg.clone();
        let mid = scrambled.len() / 2;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for b in &mut scrambled[mid..mid + 4000] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = (state >> 56) as u8;
        }
        assert_eq!(code(&scrambled), "corrupt");
    }

    #[test]
    fn all_eight_exif_orientations_are_applied() {
        let shown = resized(&sample_rgb("boats.jpg"), 1200, 900);
        let upright = process(&encode_jpeg(&shown, 95), PhotoKind::Front, &opts()).unwrap();
        let upright = decode_jpeg(&upright.jpeg);
        for orientation in 1..=8u8 {
            let stored = stored_for(&shown, orientation);
            let input = with_exif(&encode_jpeg(&stored, 95), u16::from(orientation));
            let out = process(&input, PhotoKind::Front, &opts()).unwrap();
            assert_eq!(out.orientation, orientation);
            let got = decode_jpeg(&out.jpeg);
            assert_eq!(
                (got.width, got.height),
                (1200, 900),
                "orientation {orientation}"
            );
            let diff = mad(&got, &upright);
            assert!(
                diff < 3.0,
                "orientation {orientation}: differs from upright by {diff:.2}"
            );
        }
    }

    #[test]
    fn the_output_carries_no_metadata_at_all() {
        let input = with_exif(&sample("boats.jpg"), 1);
        assert!(input.windows(4).any(|w| w == b"Exif"));
        let out = process(&input, PhotoKind::Front, &opts()).unwrap();
        for marker in encode::header_markers(&out.jpeg) {
            assert!(
                matches!(marker, 0xE0 | 0xDB | 0xC0 | 0xC4 | 0xDA),
                "marker {marker:02X}"
            );
        }
        for needle in [
            &b"Exif"[..],
            b"GPS",
            b"secret",
            b"http://ns.adobe.com",
            b"ICC_PROFILE",
        ] {
            assert!(
                !out.jpeg.windows(needle.len()).any(|w| w == needle),
                "{needle:?} survived"
            );
        }
    }

    #[test]
    fn size_limits_are_enforced() {
        assert_eq!(code(&sample("coffee-small.jpg")), "too_small");
        let tiny = Options {
            max_bytes: 1000,
            ..opts()
        };
        let err = process(&sample("boats.jpg"), PhotoKind::Front, &tiny).unwrap_err();
        assert_eq!(err.code(), "too_large");
        // A portrait 600×800 photo meets "at least 800×600".
        let portrait = resized(&sample_rgb("forest.jpg"), 600, 800);
        assert_eq!(code(&encode_jpeg(&portrait, 92)), "ok");
    }

    #[test]
    fn blurred_dark_overexposed_and_glared_versions_are_refused() {
        for name in ["boats.jpg", "forest.jpg", "cups.jpg", "astronaut.jpg"] {
            let rgb = sample_rgb(name);
            let rgb = if rgb.width < 800 {
                resized(&rgb, 1024, 1024)
            } else {
                rgb
            };
            assert_eq!(code(&encode_jpeg(&rgb, 92)), "ok", "{name} as is");
            // Overexposed: every photo lifted until its mean would reach 250.
            let mean = rgb.data.iter().map(|&v| f64::from(v)).sum::<f64>() / rgb.data.len() as f64;
            let cases = [
                ("blurred", blur(&rgb, 4), "too_blurry"),
                ("darkened", exposure(&rgb, 0.2), "too_dark"),
                (
                    "overexposed",
                    exposure(&rgb, (250.0 / mean) as f32),
                    "too_bright",
                ),
                ("glare", glare(&rgb, 0.15), "glare"),
            ];
            for (what, degraded, want) in cases {
                let input = encode_jpeg(&degraded, 92);
                let r = inspect(&input, &opts()).unwrap();
                assert_eq!(code(&input), want, "{name} {what}: {r:?}");
            }
        }
    }

    fn verdict(input: &[u8], kind: PhotoKind) -> &'static str {
        match process(input, kind, &opts()) {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        }
    }

    /// The drawn card of each side on a plain light desk, 2000×1500 (the card covers 38 %).
    fn cards_on_light_desks() -> Vec<(String, PhotoKind, Vec<u8>)> {
        let mut scenes = Vec::new();
        for (kind, name) in [
            (PhotoKind::Front, "id-front-sample.jpg"),
            (PhotoKind::Back, "id-back-sample.jpg"),
        ] {
            for desk in [225u8, 235, 245] {
                let input = card_on_plain_desk(&sample(name), desk, 2000, 1500);
                scenes.push((format!("{name} on a {desk} desk"), kind, input));
            }
        }
        scenes
    }

    #[test]
    fn a_well_exposed_card_on_a_white_or_light_grey_desk_is_accepted() {
        for (what, kind, input) in cards_on_light_desks() {
            let r = inspect(&input, &opts()).unwrap();
            // The case of the complaint: a bright scene, nothing blown out.
            assert!(
                r.median_luma > 180.0,
                "{what}: frame median {}",
                r.median_luma
            );
            assert!(
                r.clipped_fraction < 0.001,
                "{what}: clipped {}",
                r.clipped_fraction
            );
            assert_eq!(verdict(&input, kind), "ok", "{what}: {r:?}");
        }
    }

    #[test]
    fn a_handheld_photo_against_a_white_wall_is_accepted() {
        for wall in [235u8, 242] {
            let input = handheld_on_white_wall(&sample("handheld-sample.jpg"), wall);
            let r = inspect(&input, &opts()).unwrap();
            assert!(
                r.median_luma > 180.0,
                "wall {wall}: frame median {}",
                r.median_luma
            );
            assert!(
                r.clipped_fraction < 0.01,
                "wall {wall}: clipped {}",
                r.clipped_fraction
            );
            assert_eq!(
                verdict(&input, PhotoKind::Handheld),
                "ok",
                "wall {wall}: {r:?}"
            );
        }
    }

    #[test]
    fn an_overexposed_or_washed_out_card_on_a_light_desk_is_still_too_bright() {
        let card = card_on_plain_desk(&sample("id-front-sample.jpg"), 235, 2000, 1500);
        let wall = handheld_on_white_wall(&sample("handheld-sample.jpg"), 235);
        let cases = [
            (
                "card ×1.6",
                &card,
                PhotoKind::Front,
                Degradation::Exposure(1.6),
            ),
            (
                "card ×2.2",
                &card,
                PhotoKind::Front,
                Degradation::Exposure(2.2),
            ),
            (
                "card washed out ×0.3",
                &card,
                PhotoKind::Front,
                Degradation::WashedOut(0.3),
            ),
            (
                "handheld ×2.2",
                &wall,
                PhotoKind::Handheld,
                Degradation::Exposure(2.2),
            ),
            (
                "handheld washed out ×0.3",
                &wall,
                PhotoKind::Handheld,
                Degradation::WashedOut(0.3),
            ),
        ];
        for (what, input, kind, how) in cases {
            let spoilt = degrade(input, how);
            let r = inspect(&spoilt, &opts()).unwrap();
            assert_eq!(verdict(&spoilt, kind), "too_bright", "{what}: {r:?}");
        }
    }

    #[test]
    fn an_underexposed_card_on_a_light_desk_is_still_too_dark() {
        let card = card_on_plain_desk(&sample("id-back-sample.jpg"), 245, 2000, 1500);
        let wall = handheld_on_white_wall(&sample("handheld-sample.jpg"), 242);
        for (what, input, kind) in [
            ("card", &card, PhotoKind::Back),
            ("handheld", &wall, PhotoKind::Handheld),
        ] {
            let spoilt = degrade(input, Degradation::Exposure(0.1));
            let r = inspect(&spoilt, &opts()).unwrap();
            assert_eq!(verdict(&spoilt, kind), "too_dark", "{what} ×0.1: {r:?}");
        }
    }

    #[test]
    fn the_watermark_reaches_every_cell_of_a_grid_over_the_image() {
        for (w, h) in [
            (2016, 1512),
            (1512, 2016),
            (800, 600),
            (2048, 2048),
            (2048, 900),
        ] {
            let mut image = Rgb {
                width: w,
                height: h,
                data: vec![128; (w * h * 3) as usize],
            };
            watermark::stamp(&mut image, "");
            const GRID: u32 = 8;
            for gy in 0..GRID {
                for gx in 0..GRID {
                    let (x0, x1) = (gx * w / GRID, (gx + 1) * w / GRID);
                    let (y0, y1) = (gy * h / GRID, (gy + 1) * h / GRID);
                    let (mut darker, mut lighter) = (0, 0);
                    for y in y0..y1 {
                        for x in x0..x1 {
                            let v = image.data[((y * w + x) * 3) as usize];
                            darker += usize::from(v < 100);
                            lighter += usize::from(v > 150);
                        }
                    }
                    let cell = ((x1 - x0) * (y1 - y0)) as usize;
                    assert!(
                        darker * 400 > cell,
                        "{w}x{h} cell ({gx},{gy}): ink on {darker} of {cell}"
                    );
                    assert!(
                        lighter * 400 > cell,
                        "{w}x{h} cell ({gx},{gy}): halo on {lighter} of {cell}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_footer_darkens_a_band_and_writes_light_text_on_it() {
        let (w, h) = (1600u32, 1200u32);
        let mut image = Rgb {
            width: w,
            height: h,
            data: vec![200; (w * h * 3) as usize],
        };
        watermark::stamp(&mut image, "2026-11-26 · 案件 3F9A21");
        let bottom = &image.data[((h - 10) * w * 3) as usize..((h - 9) * w * 3) as usize];
        assert!(
            bottom.iter().filter(|&&v| v < 100).count() > bottom.len() / 2,
            "band is dark"
        );
        let band_top = h - (w.min(h) / 40) * 16 / 10;
        let text_rows = &image.data[((band_top + 5) * w * 3) as usize..((h - 5) * w * 3) as usize];
        assert!(text_rows.iter().any(|&v| v > 220), "footer text is light");
    }

    #[test]
    fn the_watermark_is_legible_to_ocr() {
        if std::process::Command::new("tesseract")
            .arg("--list-langs")
            .output()
            .map_or(true, |o| {
                !String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == "chi_sim")
            })
        {
            println!("skipped: tesseract with chi_sim not installed (apt-get install tesseract-ocr tesseract-ocr-chi-sim)");
            return;
        }
        // The stamp on a light, card-like background, turned back by 30° as a reader would.
        let (w, h) = (2016u32, 1512u32);
        let mut image = Rgb {
            width: w,
            height: h,
            data: vec![225; (w * h * 3) as usize],
        };
        watermark::stamp(&mut image, "");
        let level = rotate_gray(&image, 30.0);
        let dir = std::env::temp_dir().join(format!("heyan-ocr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stamp.png");
        let mut file = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut file, level.0, level.1);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header()
                .unwrap()
                .write_image_data(&level.2)
                .unwrap();
        }
        std::fs::write(&path, file).unwrap();
        let out = std::process::Command::new("tesseract")
            .arg(&path)
            .arg("stdout")
            .args(["-l", "chi_sim", "--psm", "6"])
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text: String = String::from_utf8_lossy(&out.stdout)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let found = text.matches(watermark::WATERMARK_TEXT).count();
        println!("OCR: {text}");
        assert!(
            found >= 3,
            "OCR found the watermark {found} times in: {text}"
        );
    }

    fn mean(pixels: &[u8]) -> f64 {
        pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / pixels.len() as f64
    }

    #[test]
    fn processed_luma_is_the_oriented_scaled_photo_before_stamping() {
        // 4032×3024 stored sideways with orientation 6: shown 3024×4032, output 1512×2016.
        let stored = stored_for(&resized(&sample_rgb("boats.jpg"), 3024, 4032), 6);
        let input = with_exif(&encode_jpeg(&stored, 92), 6);
        let stamped = process(&input, PhotoKind::Front, &opts()).unwrap();
        assert_eq!((stamped.width, stamped.height), (1512, 2016));
        let luma = &stamped.luma;
        assert_eq!((luma.width, luma.height), (756, 1008));
        assert_eq!(luma.pixels.len(), 756 * 1008);
        assert!(luma.width.max(luma.height) <= LUMA_LONG_EDGE);
        assert_eq!(format!("{luma:?}"), "LumaImage(756x1008)");

        // The footer darkens a band along the bottom of the output, not of the luma.
        let bare = process(
            &input,
            PhotoKind::Front,
            &Options {
                footer: String::new(),
                ..opts()
            },
        )
        .unwrap();
        let long_footer = Options {
            footer: "2026-11-26 · 案件 3F9A21 · 2026-11-26 · 案件 3F9A21".into(),
            ..opts()
        };
        let footed = process(&input, PhotoKind::Front, &long_footer).unwrap();
        assert_eq!(mean(&bare.luma.pixels), mean(&footed.luma.pixels));
        assert_eq!(bare.luma, footed.luma);
        // The lowest 0.5 %, below the footer text: band only.
        let band = |pixels: &[u8], w: u32, h: u32| {
            let rows = h / 200;
            mean(&pixels[((h - rows) * w) as usize..])
        };
        let out = decode_jpeg(&footed.jpeg);
        let out_gray: Vec<u8> = out
            .data
            .chunks(3)
            .map(|p| {
                ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8)
                    as u8
            })
            .collect();
        let (in_band, out_band) = (
            band(&footed.luma.pixels, luma.width, luma.height),
            band(&out_gray, out.width, out.height),
        );
        assert!(
            out_band < in_band * 0.7,
            "footer band: output {out_band:.1}, luma {in_band:.1}"
        );
    }

    #[test]
    fn luma_preview_keeps_the_aspect_and_applies_the_orientation() {
        let shown = resized(&sample_rgb("forest.jpg"), 4032, 3024);
        let cases = [
            ("landscape", encode_jpeg(&shown, 92), (640, 480)),
            (
                "stored sideways, orientation 6",
                with_exif(&encode_jpeg(&stored_for(&shown, 6), 92), 6),
                (640, 480),
            ),
            (
                "png",
                encode_png(
                    &resized(&shown, 1000, 750),
                    png::ColorType::Rgb,
                    png::BitDepth::Eight,
                ),
                (640, 480),
            ),
            ("webp", encode_webp(&resized(&shown, 1000, 750)), (640, 480)),
        ];
        for (what, input, want) in cases {
            let luma = luma_preview(&input, &opts(), 640).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!((luma.width, luma.height), want, "{what}");
            assert_eq!(luma.pixels.len(), (want.0 * want.1) as usize, "{what}");
        }
        // Upright, the portrait comes out tall; as seen, it matches the landscape's content.
        let tall = resized(&shown, 1200, 1600);
        let luma = luma_preview(&encode_jpeg(&tall, 92), &opts(), 640).unwrap();
        assert_eq!((luma.width, luma.height), (480, 640));
        let tall_stored = with_exif(&encode_jpeg(&stored_for(&tall, 8), 92), 8);
        let turned = luma_preview(&tall_stored, &opts(), 640).unwrap();
        assert_eq!((turned.width, turned.height), (480, 640));
        let diff = turned
            .pixels
            .iter()
            .zip(&luma.pixels)
            .map(|(&a, &b)| f64::from(a.abs_diff(b)))
            .sum::<f64>()
            / luma.pixels.len() as f64;
        assert!(
            diff < 3.0,
            "orientation 8 differs from upright by {diff:.2}"
        );
    }

    #[test]
    fn luma_preview_never_scales_up_and_accepts_small_frames() {
        // 640×480 is below the photo minimum, but fine for a liveness frame.
        let frame = encode_jpeg(&resized(&sample_rgb("astronaut.jpg"), 640, 480), 90);
        assert_eq!(code(&frame), "too_small");
        let luma = luma_preview(&frame, &opts(), 1024).unwrap();
        assert_eq!((luma.width, luma.height), (640, 480));
        let small = sample("coffee-small.jpg");
        let header = sniff::read_header(&small).unwrap();
        let luma = luma_preview(&small, &opts(), 4096).unwrap();
        assert_eq!((luma.width, luma.height), (header.width, header.height));
    }

    #[test]
    fn luma_preview_of_a_dark_photo_is_dark() {
        let rgb = resized(&sample_rgb("boats.jpg"), 1280, 960);
        let bright = luma_preview(&encode_jpeg(&rgb, 92), &opts(), 640).unwrap();
        let dark = luma_preview(&encode_jpeg(&exposure(&rgb, 0.15), 92), &opts(), 640).unwrap();
        let (bright, dark) = (mean(&bright.pixels), mean(&dark.pixels));
        assert!(bright > 60.0, "original mean {bright:.1}");
        assert!(dark < 20.0, "darkened mean {dark:.1}");
        assert!(
            (dark - bright * 0.15).abs() < 4.0,
            "{dark:.1} vs 0.15 × {bright:.1}"
        );
    }

    #[test]
    fn luma_preview_matches_the_processed_luma() {
        let input = encode_jpeg(&resized(&sample_rgb("cups.jpg"), 2048, 1536), 92);
        let processed = process(&input, PhotoKind::Handheld, &opts()).unwrap();
        let preview = luma_preview(&input, &opts(), LUMA_LONG_EDGE).unwrap();
        assert_eq!(
            (preview.width, preview.height),
            (processed.luma.width, processed.luma.height)
        );
        let (a, b) = (mean(&preview.pixels), mean(&processed.luma.pixels));
        assert!((a - b).abs() < 1.0, "preview {a:.2}, processed {b:.2}");
    }

    #[test]
    fn luma_preview_enforces_the_limits_and_refuses_undecodable_data() {
        let boats = sample("boats.jpg");
        let tiny_bytes = Options {
            max_bytes: 1000,
            ..opts()
        };
        let few_pixels = Options {
            max_pixels: 1_000_000,
            ..opts()
        };
        let cases: [(&str, &[u8], &Options, &str); 5] = [
            ("too many bytes", &boats, &tiny_bytes, "too_large"),
            (
                "too many pixels",
                &boats,
                &few_pixels,
                "dimensions_too_large",
            ),
            ("text", "不是照片".as_bytes(), &opts(), "unsupported_format"),
            ("truncated", &boats[..boats.len() / 2], &opts(), "corrupt"),
            ("empty", b"", &opts(), "unsupported_format"),
        ];
        for (what, input, opts, want) in cases {
            let err = luma_preview(input, opts, 640).unwrap_err();
            assert_eq!(err.code(), want, "{what}");
        }
    }

    /// Small valid inputs of each accepted format, just above the minimum size, for the
    /// property tests to mutate.
    fn seeds() -> Vec<Vec<u8>> {
        let rgb = resized(&sample_rgb("boats.jpg"), 820, 615);
        vec![
            encode_jpeg(&rgb, 85),
            with_exif(&encode_jpeg(&rgb, 85), 6),
            encode_png(&rgb, png::ColorType::Rgb, png::BitDepth::Eight),
            encode_png(&rgb, png::ColorType::Indexed, png::BitDepth::Eight),
            encode_webp(&rgb),
        ]
    }

    fn seeds_cached() -> &'static [Vec<u8>] {
        static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        SEEDS.get_or_init(seeds)
    }

    /// Whatever comes back, a success must be a decodable JPEG within the limits.
    fn check_outcome(input: &[u8]) {
        if let Ok(out) = process(input, PhotoKind::Frame, &opts()) {
            assert!(out.width.max(out.height) <= 2048);
            let back = decode_jpeg(&out.jpeg);
            assert_eq!((back.width, back.height), (out.width, out.height));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        #[test]
        fn random_bytes_are_refused_without_panicking(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            check_outcome(&data);
        }

        #[test]
        fn random_bytes_behind_a_real_magic_number_are_refused_without_panicking(
            magic in 0usize..3,
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        ) {
            let mut input = [&b"\xFF\xD8\xFF"[..], b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP"][magic].to_vec();
            input.extend_from_slice(&data);
            check_outcome(&input);
        }
    }

    proptest::proptest! {
        // Each case decodes a real photo; a few dozen keep the suite quick in debug builds.
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 40, ..Default::default() })]

        #[test]
        fn mutated_photos_never_panic_hang_or_overrun(
            seed in 0usize..5,
            edits in proptest::collection::vec((0.0f64..1.0, proptest::prelude::any::<u8>(), 0u8..4), 1..12),
            headers_only in proptest::prelude::any::<bool>(),
        ) {
            let mut input = seeds_cached()[seed].clone();
            for (at, byte, op) in edits {
                // Headers are where the size and layout live: aim there half the time.
                let span = if headers_only { input.len().min(600) } else { input.len() };
                let i = ((at * span as f64) as usize).min(input.len().saturating_sub(1));
                match op {
                    0 => input[i] = byte,
                    1 => input[i] ^= 1 << (byte % 8),
                    2 => input.insert(i, byte),
                    _ => input.truncate(i.max(1)),
                }
            }
            let started = Instant::now();
            check_outcome(&input);
            proptest::prop_assert!(started.elapsed() < Duration::from_secs(20));
        }
    }

    /// Grayscale copy rotated by `deg` counter-clockwise as seen, bilinear, cropped to the
    /// central part that stays inside the image.
    fn rotate_gray(image: &Rgb, deg: f32) -> (u32, u32, Vec<u8>) {
        let (w, h) = (image.width as f32, image.height as f32);
        let (ow, oh) = ((w * 0.6) as u32, (h * 0.6) as u32);
        let (sin, cos) = deg.to_radians().sin_cos();
        let mut out = vec![255u8; (ow * oh) as usize];
        for y in 0..oh {
            for x in 0..ow {
                let (dx, dy) = (x as f32 - ow as f32 / 2.0, y as f32 - oh as f32 / 2.0);
                // Source point: rotate the output point back by −deg (y down).
                let sx = dx * cos + dy * sin + w / 2.0;
                let sy = -dx * sin + dy * cos + h / 2.0;
                let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
                if x0 < 0 || y0 < 0 || x0 + 1 >= w as i64 || y0 + 1 >= h as i64 {
                    continue;
                }
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let at = |x: i64, y: i64| f32::from(image.data[((y * w as i64 + x) * 3) as usize]);
                let v = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + at(x0 + 1, y0) * fx * (1.0 - fy)
                    + at(x0, y0 + 1) * (1.0 - fx) * fy
                    + at(x0 + 1, y0 + 1) * fx * fy;
                out[(y * ow + x) as usize] = v.round() as u8;
            }
        }
        (ow, oh, out)
    }
}
