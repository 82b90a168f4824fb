//! Encodes the final pixels as a baseline JPEG (libjpeg-turbo, 4:2:0) that carries no
//! metadata at all: no EXIF, GPS, XMP, ICC profile, comment or maker note can survive,
//! because nothing from the input is copied, only pixels.

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use super::error::PipelineError;
use super::Rgb;

pub(crate) fn encode(image: &Rgb, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let fail = |e: turbojpeg::Error| PipelineError::Internal(format!("jpeg encoder: {e}"));
    let mut compressor = Compressor::new().map_err(fail)?;
    compressor
        .set_quality(i32::from(quality.clamp(1, 100)))
        .map_err(fail)?;
    compressor.set_subsamp(Subsamp::Sub2x2).map_err(fail)?;
    let view = Image {
        pixels: image.data.as_slice(),
        width: image.width as usize,
        pitch: image.stride(),
        height: image.height as usize,
        format: PixelFormat::RGB,
    };
    compressor.compress_to_vec(view).map_err(fail)
}

/// Marker codes of every segment before the first scan.
#[cfg(test)]
pub(crate) fn header_markers(jpeg: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        at += 2 + len;
    }
    markers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_has_only_jfif_tables_frame_and_scan() {
        let image = Rgb {
            width: 64,
            height: 48,
            data: vec![90; 64 * 48 * 3],
        };
        let jpeg = encode(&image, 85).unwrap();
        let markers = header_markers(&jpeg);
        assert_eq!(markers.last(), Some(&0xDA));
        for m in markers {
            // APP0 (JFIF), DQT, SOF0, DHT, SOS and nothing else: no APP1..APP15, no COM.
            assert!(
                matches!(m, 0xE0 | 0xDB | 0xC0 | 0xC4 | 0xDA),
                "marker {m:02X}"
            );
        }
    }
}
