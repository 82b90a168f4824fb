//! The image verification code as a PNG the App can show: large, dark on white, in two
//! groups of four so a person can copy it into the filing system without losing their
//! place.

use std::io::Cursor;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{GrayImage, ImageFormat, Luma};

/// The watermark font: a subset of Noto Sans CJK SC Bold that holds printable ASCII.
static FONT_DATA: &[u8] = include_bytes!("../../assets/fonts/watermark-sc-bold.otf");

const GLYPH_PX: f32 = 96.0;
const PADDING: u32 = 32;

fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_DATA).ok())
        .as_ref()
}

/// Renders `code` (ASCII) as a PNG, grouped in fours ("ABCD EFGH").
pub fn render_png(code: &str) -> anyhow::Result<Vec<u8>> {
    let font = font().ok_or_else(|| anyhow::anyhow!("the bundled font does not parse"))?;
    let text = grouped(code);
    let scaled = font.as_scaled(PxScale::from(GLYPH_PX));
    let advance: f32 = text
        .chars()
        .map(|c| scaled.h_advance(font.glyph_id(c)))
        .sum();
    let width = advance.ceil() as u32 + 2 * PADDING;
    let height = (scaled.ascent() - scaled.descent()).ceil() as u32 + 2 * PADDING;
    let mut canvas = GrayImage::from_pixel(width, height, Luma([255]));
    let mut x = PADDING as f32;
    let baseline = PADDING as f32 + scaled.ascent();
    for c in text.chars() {
        let glyph = scaled.scaled_glyph(c);
        let glyph_advance = scaled.h_advance(glyph.id);
        let positioned = ab_glyph::Glyph {
            position: ab_glyph::point(x, baseline),
            ..glyph
        };
        if let Some(outline) = font.outline_glyph(positioned) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + i64::from(gx);
                let py = bounds.min.y as i64 + i64::from(gy);
                if let (Ok(px), Ok(py)) = (u32::try_from(px), u32::try_from(py)) {
                    if px < width && py < height {
                        let ink = (coverage.clamp(0.0, 1.0) * 235.0) as u8;
                        let pixel = canvas.get_pixel_mut(px, py);
                        pixel.0[0] = pixel.0[0].min(255 - ink);
                    }
                }
            });
        }
        x += glyph_advance;
    }
    let mut png = Vec::new();
    canvas.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}

/// "ABCDEFGH" → "ABCD EFGH".
fn grouped(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_in_fours() {
        assert_eq!(grouped("ABCDEFGH"), "ABCD EFGH");
        assert_eq!(grouped("ABC"), "ABC");
    }

    #[test]
    fn the_png_decodes_and_carries_dark_ink_in_each_group() {
        let png = render_png("K7M2Q9XR").expect("rendered");
        let image = image::load_from_memory_with_format(&png, ImageFormat::Png)
            .expect("a PNG")
            .to_luma8();
        assert!(
            image.width() > image.height() * 2,
            "a wide strip: {}×{}",
            image.width(),
            image.height()
        );
        let dark_columns: Vec<u32> = (0..image.width())
            .filter(|&x| (0..image.height()).any(|y| image.get_pixel(x, y).0[0] < 80))
            .collect();
        let (first, last) = (dark_columns[0], *dark_columns.last().expect("ink"));
        assert!(first >= PADDING - 2 && last < image.width() - PADDING + 2);
        // The space between the groups leaves a run of blank columns near the middle.
        let middle = image.width() / 2;
        let blank_near_middle = (middle - 40..middle + 40)
            .filter(|x| !dark_columns.contains(x))
            .count();
        assert!(blank_near_middle >= 20, "{blank_near_middle} blank columns");
    }
}
