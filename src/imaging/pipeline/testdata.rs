//! Inputs for the benchmark, the calibration and the tests, made from the real sample
//! photographs in assets/samples: 12 MP phone-style JPEGs (upscaled, with sensor-like
//! noise, optionally stored sideways with an EXIF orientation) and the blurred, darkened,
//! overexposed and glared versions the quality thresholds are calibrated on.
//!
//! Not used by the service itself; public so that benches/pipeline.rs can reach it.

use fast_image_resize::images::Image;
use fast_image_resize::{PixelType, ResizeOptions, Resizer};

use super::Rgb;

/// A way to spoil a photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degradation {
    /// Defocus: three box blurs of this radius, in thousandths of the long edge (so the
    /// same blur on a 1600 px and a 4032 px photo).
    Blur(usize),
    /// Every sample times this gain, clipped: below 1 darkens, above 1 overexposes.
    Exposure(f32),
    /// A blown-out white ellipse covering this share of the photo, like a reflection on
    /// the card's laminate.
    Glare(f32),
    /// A veil of flare: every sample pulled towards white, keeping only this share of its
    /// distance from 255 (0.3 turns black into 178), so the photo loses its contrast
    /// without necessarily clipping.
    WashedOut(f32),
}

impl std::fmt::Display for Degradation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Degradation::Blur(r) => write!(f, "blur r={r}‰"),
            Degradation::Exposure(g) if *g < 1.0 => write!(f, "darken ×{g}"),
            Degradation::Exposure(g) => write!(f, "overexpose ×{g}"),
            Degradation::Glare(s) => write!(f, "glare {:.0}%", s * 100.0),
            Degradation::WashedOut(k) => write!(f, "washed out ×{k}"),
        }
    }
}

/// Decodes a JPEG (any size) to RGB; panics on a bad file, as befits test data. Always
/// zune-jpeg, whichever backend the pipeline uses, so that both see the same inputs.
pub(crate) fn decode(jpeg: &[u8]) -> Rgb {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;

    let options = DecoderOptions::default()
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let data = decoder.decode().expect("sample decodes");
    let (width, height) = decoder.dimensions().expect("headers decoded");
    Rgb {
        width: width as u32,
        height: height as u32,
        data,
    }
}

/// Encodes a baseline 4:2:0 JPEG, as phone cameras write them. Always jpeg-encoder,
/// whichever backend the pipeline uses.
pub(crate) fn encode(image: &Rgb, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    encoder
        .encode(
            &image.data,
            u16::try_from(image.width).expect("width fits a JPEG"),
            u16::try_from(image.height).expect("height fits a JPEG"),
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("encodes");
    out
}

/// Lanczos3 resize to exactly `width`×`height`, cropping the source to that aspect first.
pub(crate) fn cover(image: &Rgb, width: u32, height: u32) -> Rgb {
    let src = Image::from_vec_u8(
        image.width,
        image.height,
        image.data.clone(),
        PixelType::U8x3,
    )
    .expect("valid image");
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().fit_into_destination(Some((0.5, 0.5)));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("resizes");
    Rgb {
        width,
        height,
        data: dst.into_vec(),
    }
}

/// A phone-style JPEG from a sample photo: `width`×`height` as shown, luma noise of
/// standard deviation `noise` (a phone sensor's grain at base ISO is about 2–4), at JPEG
/// `quality`; with `orientation` 6 or 8 the pixels are stored sideways and tagged, as
/// phones held upright do.
pub fn phone_jpeg(
    sample: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    noise: f32,
    orientation: u8,
) -> Vec<u8> {
    let mut shown = cover(&decode(sample), width, height);
    add_noise(
        &mut shown,
        noise,
        0x5eed_u64 ^ u64::from(width) ^ u64::from(orientation),
    );
    let stored = match orientation {
        6 => super::orient::apply(shown, 8),
        8 => super::orient::apply(shown, 6),
        o => super::orient::apply(shown, o),
    };
    let jpeg = encode(&stored, quality);
    if orientation == 1 {
        jpeg
    } else {
        with_exif_orientation(&jpeg, orientation)
    }
}

/// The same photo spoilt by `how`, re-encoded at quality 92.
pub fn degrade(jpeg: &[u8], how: Degradation) -> Vec<u8> {
    let image = decode(jpeg);
    let spoilt = match how {
        Degradation::Blur(r) => {
            let long = image.width.max(image.height) as usize;
            blur(&image, (r * long / 1000).max(1))
        }
        Degradation::Exposure(g) => exposure(&image, g),
        Degradation::Glare(s) => glare(&image, s),
        Degradation::WashedOut(k) => washed_out(&image, k),
    };
    encode(&spoilt, 92)
}

/// Inserts a minimal EXIF APP1 carrying only the Orientation tag right after SOI.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut body = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    body.extend_from_slice(&[orientation, 0, 0, 0, 0, 0, 0, 0]);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Deterministic Gaussian-ish luma noise (sum of four uniforms), the same on every run.
fn add_noise(image: &mut Rgb, sigma: f32, seed: u64) {
    if sigma <= 0.0 {
        return;
    }
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    // Four uniforms on [0,1) have variance 4/12; scale to the wanted sigma.
    let k = sigma / (4.0f32 / 12.0).sqrt();
    for px in image.data.chunks_exact_mut(3) {
        let n = ((next() + next() + next() + next()) - 2.0) * k;
        for v in px {
            *v = (f32::from(*v) + n).round().clamp(0.0, 255.0) as u8;
        }
    }
}

pub(crate) fn blur(image: &Rgb, r: usize) -> Rgb {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut data = image.data.clone();
    for _ in 0..3 {
        data = box_pass(&data, w, h, r, true);
        data = box_pass(&data, w, h, r, false);
    }
    Rgb {
        width: image.width,
        height: image.height,
        data,
    }
}

fn box_pass(src: &[u8], w: usize, h: usize, r: usize, horizontal: bool) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    let (outer, inner) = if horizontal { (h, w) } else { (w, h) };
    let at = |o: usize, i: usize| {
        if horizontal {
            (o * w + i) * 3
        } else {
            (i * w + o) * 3
        }
    };
    let clamp = |i: isize| i.clamp(0, inner as isize - 1) as usize;
    let n = (2 * r + 1) as u32;
    for o in 0..outer {
        for c in 0..3 {
            let mut sum: u32 = (-(r as isize)..=r as isize)
                .map(|k| u32::from(src[at(o, clamp(k)) + c]))
                .sum();
            for i in 0..inner {
                out[at(o, i) + c] = ((sum + n / 2) / n) as u8;
                let add = clamp(i as isize + r as isize + 1);
                let sub = clamp(i as isize - r as isize);
                sum = sum + u32::from(src[at(o, add) + c]) - u32::from(src[at(o, sub) + c]);
            }
        }
    }
    out
}

pub(crate) fn exposure(image: &Rgb, gain: f32) -> Rgb {
    let data = image
        .data
        .iter()
        .map(|&v| (f32::from(v) * gain).round().min(255.0) as u8)
        .collect();
    Rgb {
        width: image.width,
        height: image.height,
        data,
    }
}

pub(crate) fn washed_out(image: &Rgb, keep: f32) -> Rgb {
    let data = image
        .data
        .iter()
        .map(|&v| (255.0 - (255.0 - f32::from(v)) * keep).round() as u8)
        .collect();
    Rgb {
        width: image.width,
        height: image.height,
        data,
    }
}

/// The card of `id_photo` (assets/samples/id-front-sample.jpg or id-back-sample.jpg: a card
/// of 1340×845 px with rounded corners lying at (124, 168) on a wooden desk) moved onto a
/// plain desk of luma `desk` in a `width`×`height` photo, centred, with sensor-like noise
/// σ = 1.5, as a JPEG of quality 92. A white or light-grey desk makes the photo's median
/// luma the desk's, with no pixel blown out.
pub fn card_on_plain_desk(id_photo: &[u8], desk: u8, width: u32, height: u32) -> Vec<u8> {
    const CARD: (usize, usize, usize, usize) = (124, 168, 1340, 845);
    const RADIUS: f32 = 50.0;
    let src = decode(id_photo);
    let (cx, cy, cw, ch) = CARD;
    assert!(
        width as usize >= cw && height as usize >= ch,
        "the photo holds the card"
    );
    let mut scene = Rgb {
        width,
        height,
        data: vec![desk; width as usize * height as usize * 3],
    };
    let (ox, oy) = ((width as usize - cw) / 2, (height as usize - ch) / 2);
    for y in 0..ch {
        for x in 0..cw {
            // Outside the rounded corners is the old desk: leave the new one there.
            let dx = (RADIUS - (x as f32 + 0.5)).max(x as f32 + 0.5 - (cw as f32 - RADIUS));
            let dy = (RADIUS - (y as f32 + 0.5)).max(y as f32 + 0.5 - (ch as f32 - RADIUS));
            if dx > 0.0 && dy > 0.0 && dx * dx + dy * dy > RADIUS * RADIUS {
                continue;
            }
            let from = ((cy + y) * src.width as usize + cx + x) * 3;
            let to = ((oy + y) * width as usize + ox + x) * 3;
            scene.data[to..to + 3].copy_from_slice(&src.data[from..from + 3]);
        }
    }
    add_noise(&mut scene, 1.5, 0xdec0 ^ u64::from(desk));
    encode(&scene, 92)
}

/// assets/samples/handheld-sample.jpg (the principal holding the card in front of a
/// mid-grey wall, luma about 140–180) with the wall repainted near-white (luma about
/// `wall`), as the white wall other filing platforms ask for: pixels close to the drawn
/// wall's known colour are lifted by the difference, the person and the card stay as they
/// are. A JPEG of quality 92.
pub fn handheld_on_white_wall(handheld_photo: &[u8], wall: u8) -> Vec<u8> {
    let mut image = decode(handheld_photo);
    let (w, h) = (image.width as f32, image.height as f32);
    let luma =
        |p: &[u8]| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
    for (i, px) in image.data.chunks_exact_mut(3).enumerate() {
        let (x, y) = (
            (i % image.width as usize) as f32,
            (i / image.width as usize) as f32,
        );
        // The wall as examples/draw_samples.rs paints it.
        let shade = 178.0 - 40.0 * y / h - 14.0 * (x / w - 0.5).abs();
        let old = [shade + 4.0, shade, shade - 9.0];
        let old_luma = 0.299 * old[0] + 0.587 * old[1] + 0.114 * old[2];
        let near = (1.0 - (luma(px) - old_luma).abs() / 24.0).clamp(0.0, 1.0);
        let lift = (f32::from(wall) - old_luma) * near;
        for v in px.iter_mut() {
            *v = (f32::from(*v) + lift).round().clamp(0.0, 255.0) as u8;
        }
    }
    encode(&image, 92)
}

pub(crate) fn glare(image: &Rgb, share: f32) -> Rgb {
    let mut out = image.clone();
    let (w, h) = (image.width as f32, image.height as f32);
    // An ellipse with semi-axes k·w/2 and k·h/2 covers π·k²/4 of the image.
    let k = (share * 4.0 / std::f32::consts::PI).sqrt();
    let (cx, cy, a, b) = (w * 0.55, h * 0.45, k * w / 2.0, k * h / 2.0);
    for y in 0..image.height as usize {
        for x in 0..image.width as usize {
            let (dx, dy) = ((x as f32 - cx) / a, (y as f32 - cy) / b);
            if dx * dx + dy * dy <= 1.0 {
                out.data[(y * image.width as usize + x) * 3..][..3].fill(255);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_jpegs_have_the_asked_size_and_orientation() {
        let sample = crate::imaging::pipeline::testkit::sample("astronaut.jpg");
        let jpeg = phone_jpeg(&sample, 1200, 900, 92, 3.0, 6);
        let header = crate::imaging::pipeline::sniff::read_header(&jpeg).unwrap();
        assert_eq!(
            (header.width, header.height, header.orientation),
            (900, 1200, 6)
        );
    }
}
