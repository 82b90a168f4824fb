//! Test support: the bundled sample photos, encoders for every input variant the tests
//! need (JPEG with an EXIF orientation, PNG of each colour type and depth, WebP), and the
//! degradations used to check the quality refusals (from `testdata`).

use std::io::Cursor;

use super::Rgb;

/// A sample photo from assets/samples (see its README for sources and licences).
pub(crate) fn sample(name: &str) -> Vec<u8> {
    match name {
        "boats.jpg" => include_bytes!("../../../assets/samples/boats.jpg").to_vec(),
        "forest.jpg" => include_bytes!("../../../assets/samples/forest.jpg").to_vec(),
        "cups.jpg" => include_bytes!("../../../assets/samples/cups.jpg").to_vec(),
        "dusk.jpg" => include_bytes!("../../../assets/samples/dusk.jpg").to_vec(),
        "pier-gray.jpg" => include_bytes!("../../../assets/samples/pier-gray.jpg").to_vec(),
        "astronaut.jpg" => include_bytes!("../../../assets/samples/astronaut.jpg").to_vec(),
        "coffee-small.jpg" => include_bytes!("../../../assets/samples/coffee-small.jpg").to_vec(),
        "id-front-sample.jpg" => {
            include_bytes!("../../../assets/samples/id-front-sample.jpg").to_vec()
        }
        "id-back-sample.jpg" => {
            include_bytes!("../../../assets/samples/id-back-sample.jpg").to_vec()
        }
        "handheld-sample.jpg" => {
            include_bytes!("../../../assets/samples/handheld-sample.jpg").to_vec()
        }
        other => panic!("no sample {other}"),
    }
}

pub(crate) use super::testdata::{
    blur, card_on_plain_desk, decode as decode_jpeg, encode as encode_jpeg, exposure, glare,
    handheld_on_white_wall,
};

pub(crate) fn sample_rgb(name: &str) -> Rgb {
    decode_jpeg(&sample(name))
}

/// Lanczos3 resize to `width`×`height` (cropping to that aspect first).
pub(crate) fn resized(image: &Rgb, width: u32, height: u32) -> Rgb {
    super::testdata::cover(image, width, height)
}

/// A minimal EXIF APP1 segment (little-endian TIFF, IFD0 with Orientation and a GPS
/// pointer-shaped tag so that stripping can be checked) inserted right after SOI.
pub(crate) fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&2u16.to_le_bytes());
    // Orientation, SHORT, 1 value.
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // Make (0x010F), ASCII, 4 bytes inline: "GPS\0" stands for the personal data to drop.
    tiff.extend_from_slice(&0x010Fu16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&4u32.to_le_bytes());
    tiff.extend_from_slice(b"GPS\0");
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut body = b"Exif\0\0".to_vec();
    body.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&body);
    // An XMP packet and a comment as well, which must not survive either.
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>secret</x:xmpmeta>";
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((xmp.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(xmp);
    out.extend_from_slice(&[0xFF, 0xFE, 0, 8]);
    out.extend_from_slice(b"secret");
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The stored pixels a camera would write for a scene that should display as `shown`
/// under `orientation`: the inverse transform of what a viewer applies.
pub(crate) fn stored_for(shown: &Rgb, orientation: u8) -> Rgb {
    let inverse = match orientation {
        6 => 8,
        8 => 6,
        o => o,
    };
    super::orient::apply(shown.clone(), inverse)
}

pub(crate) fn encode_png(image: &Rgb, color: png::ColorType, depth: png::BitDepth) -> Vec<u8> {
    let (w, h) = (image.width, image.height);
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(Cursor::new(&mut out), w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        let mut data = Vec::new();
        match (color, depth) {
            (png::ColorType::Indexed, _) => {
                // A 6×6×6 colour cube.
                let palette: Vec<u8> = (0..216u32)
                    .flat_map(|i| {
                        [
                            (i / 36 * 51) as u8,
                            (i / 6 % 6 * 51) as u8,
                            (i % 6 * 51) as u8,
                        ]
                    })
                    .collect();
                enc.set_palette(palette);
                data = image
                    .data
                    .chunks(3)
                    .map(|p| {
                        let q = |v: u8| (u32::from(v) + 25) / 51;
                        (q(p[0]) * 36 + q(p[1]) * 6 + q(p[2])) as u8
                    })
                    .collect();
            }
            (png::ColorType::Rgb, png::BitDepth::Sixteen) => {
                for &v in &image.data {
                    data.extend_from_slice(&(u16::from(v) * 257).to_be_bytes());
                }
            }
            (png::ColorType::Rgb, _) => data = image.data.clone(),
            (png::ColorType::Rgba, _) => {
                // Left half opaque, right half at alpha 96: flattened on white.
                for (i, p) in image.data.chunks(3).enumerate() {
                    let a = if (i as u32 % w) < w / 2 { 255 } else { 96 };
                    data.extend_from_slice(&[p[0], p[1], p[2], a]);
                }
            }
            (png::ColorType::Grayscale, png::BitDepth::Sixteen) => {
                for p in image.data.chunks(3) {
                    data.extend_from_slice(&(u16::from(p[1]) * 257).to_be_bytes());
                }
            }
            (png::ColorType::Grayscale, _) => data = image.data.chunks(3).map(|p| p[1]).collect(),
            (png::ColorType::GrayscaleAlpha, _) => {
                data = image.data.chunks(3).flat_map(|p| [p[1], 255]).collect()
            }
        }
        let mut writer = enc.write_header().expect("png header");
        writer.write_image_data(&data).expect("png data");
    }
    out
}

pub(crate) fn encode_webp(image: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(
            &image.data,
            image.width,
            image.height,
            image_webp::ColorType::Rgb8,
        )
        .expect("webp encodes");
    out
}
