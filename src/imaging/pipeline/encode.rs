//! Encodes the final pixels as a baseline JPEG (4:2:0, through the build's JPEG backend:
//! jpeg-encoder, or libjpeg-turbo with the `turbojpeg` feature) that carries no metadata at
//! all: no EXIF, GPS, XMP, ICC profile, comment or maker note can survive, because nothing
//! from the input is copied, only pixels.

use super::error::PipelineError;
use super::jpeg;
use super::Rgb;

pub(crate) fn encode(image: &Rgb, quality: u8) -> Result<Vec<u8>, PipelineError> {
    jpeg::encode(image, quality.clamp(1, 100))
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
        // Odd sizes too: the 4:2:0 blocks do not divide them.
        for (w, h) in [(64u32, 48u32), (33, 17), (1, 1)] {
            let image = Rgb {
                width: w,
                height: h,
                data: vec![90; (w * h * 3) as usize],
            };
            for quality in [0, 1, 85, 100, 255] {
                let jpeg = encode(&image, quality).unwrap();
                assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "{w}x{h} q{quality}: SOI");
                assert_eq!(
                    &jpeg[jpeg.len() - 2..],
                    &[0xFF, 0xD9],
                    "{w}x{h} q{quality}: EOI"
                );
                let markers = header_markers(&jpeg);
                assert_eq!(
                    markers.first(),
                    Some(&0xE0),
                    "{w}x{h} q{quality}: JFIF first"
                );
                assert_eq!(markers.last(), Some(&0xDA), "{w}x{h} q{quality}");
                for m in markers {
                    // APP0 (JFIF), DQT, SOF0, DHT, SOS and nothing else: no APP1..APP15, no COM.
                    assert!(
                        matches!(m, 0xE0 | 0xDB | 0xC0 | 0xC4 | 0xDA),
                        "{w}x{h} q{quality}: marker {m:02X}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_output_decodes_to_the_same_picture() {
        let image = crate::imaging::pipeline::testkit::sample_rgb("cups.jpg");
        let jpeg = encode(&image, 85).unwrap();
        let back = crate::imaging::pipeline::testkit::decode_jpeg(&jpeg);
        assert_eq!((back.width, back.height), (image.width, image.height));
        let diff: u64 = back
            .data
            .iter()
            .zip(&image.data)
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        let mad = diff as f64 / image.data.len() as f64;
        assert!(mad < 3.0, "mean absolute difference {mad:.2}");
    }
}
