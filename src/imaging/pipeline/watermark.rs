//! Stamps "仅限备案使用" across the whole photo and a footer line along its bottom edge.
//!
//! The text is drawn dark with a light halo, so it reads on a white card as well as on
//! dark hair, semi-transparent, at about 1/12 of the short edge, in rows rising at 30°
//! (the usual −30° of a diagonal stamp) that cover the image edge to edge, so no crop keeps
//! a clean ID card. The pattern is periodic: it is rendered once per text size into a
//! small tile of coverage (alpha + premultiplied ink), cached, and blended row by row.
//!
//! The font is a subset of Noto Sans CJK SC Bold (SIL OFL), assets/fonts/; its script
//! lists which characters it holds. Footer characters outside it are drawn as '?'.

use std::sync::{Arc, Mutex, OnceLock};

use ab_glyph::{Font, FontRef, OutlineCurve, Point, ScaleFont};
use ab_glyph_rasterizer::Rasterizer;

use super::Rgb;

/// The words every stored photo carries.
pub const WATERMARK_TEXT: &str = "仅限备案使用";

static FONT_DATA: &[u8] = include_bytes!("../../../assets/fonts/watermark-sc-bold.otf");

/// Text height as a share of the short edge.
const SIZE_DIVISOR: u32 = 12;
/// Angle of the text rows, degrees, counter-clockwise as seen (rising to the right).
const ANGLE_DEG: f32 = 30.0;
/// Space between two stamps along a row, in text heights. Rows lie (text + gap)·cos 30°/3
/// apart, about 2.2 text heights, each shifted by a sixth of a step from the last, so the
/// gaps never line up into a clean channel a crop could follow.
const ROW_GAP_EM: f32 = 1.5;
/// Opacity of the dark ink and of the light halo around it.
const INK_OPACITY: f32 = 0.42;
const HALO_OPACITY: f32 = 0.30;
/// Ink grey level (0 black, 255 white) and halo level.
const INK_LEVEL: f32 = 20.0;
const HALO_LEVEL: f32 = 255.0;
/// Tiles kept for reuse; photos come in a handful of sizes.
const CACHE_TILES: usize = 6;

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(FONT_DATA).expect("the bundled watermark font parses (tested)")
    })
}

/// Coverage of one periodic tile of the pattern.
struct Tile {
    text_px: u32,
    width: usize,
    height: usize,
    /// Blend weight per pixel, 0–255.
    alpha: Vec<u8>,
    /// Ink already multiplied by its weight, 0–255.
    premul: Vec<u8>,
}

/// Stamps the watermark and, when `footer` is not empty, the footer line.
pub(crate) fn stamp(image: &mut Rgb, footer: &str) {
    let tile = tile_for(text_px(image.width, image.height));
    blend_tile(image, &tile);
    if !footer.is_empty() {
        draw_footer(image, footer);
    }
}

pub(crate) fn text_px(width: u32, height: u32) -> u32 {
    (width.min(height) / SIZE_DIVISOR).max(12)
}

fn tile_for(text_px: u32) -> Arc<Tile> {
    static CACHE: OnceLock<Mutex<Vec<Arc<Tile>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    // A poisoned lock only means another render panicked; the tiles are still valid.
    let mut tiles = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = tiles.iter().position(|t| t.text_px == text_px) {
        let tile = tiles.remove(i);
        tiles.push(Arc::clone(&tile));
        return tile;
    }
    let tile = Arc::new(render_tile(text_px));
    if tiles.len() >= CACHE_TILES {
        tiles.remove(0);
    }
    tiles.push(Arc::clone(&tile));
    tile
}

/// A coverage bitmap of text, with the position of the text's centre in it.
struct Glyphs {
    width: usize,
    height: usize,
    coverage: Vec<f32>,
    centre: (f32, f32),
}

/// Rasterises `text` with an em of `px` pixels (a CJK character is `px` wide), rotated by `angle_deg` (counter-clockwise as seen), with
/// `margin` pixels of room on every side. Characters missing from the font become '?'.
fn rasterize(text: &str, px: f32, angle_deg: f32, margin: f32) -> Glyphs {
    let font = font();
    // ab_glyph scales by line height (ascent − descent, 1.448 em in Noto CJK); the em
    // is what reads as the text size.
    let em = font.units_per_em().unwrap_or(1000.0);
    let scaled = font.as_scaled(px * font.height_unscaled() / em);
    let (sx, sy) = (scaled.h_scale_factor(), scaled.v_scale_factor());
    let ids: Vec<_> = text
        .chars()
        .map(|c| match font.glyph_id(c) {
            id if id.0 == 0 => font.glyph_id('?'),
            id => id,
        })
        .collect();
    let advance: f32 = ids.iter().map(|&id| scaled.h_advance(id)).sum();
    let (ascent, descent) = (scaled.ascent(), scaled.descent());
    // Layout space: x to the right, y down, baseline at 0.
    let centre = (advance / 2.0, -(ascent + descent) / 2.0);
    let (sin, cos) = (-angle_deg.to_radians()).sin_cos();
    let rotate = |x: f32, y: f32| {
        let (dx, dy) = (x - centre.0, y - centre.1);
        (dx * cos - dy * sin, dx * sin + dy * cos)
    };
    let corners = [
        (0.0, -ascent),
        (advance, -ascent),
        (0.0, -descent),
        (advance, -descent),
    ]
    .map(|(x, y)| rotate(x, y));
    let min_x = corners.iter().map(|c| c.0).fold(f32::MAX, f32::min) - margin;
    let max_x = corners.iter().map(|c| c.0).fold(f32::MIN, f32::max) + margin;
    let min_y = corners.iter().map(|c| c.1).fold(f32::MAX, f32::min) - margin;
    let max_y = corners.iter().map(|c| c.1).fold(f32::MIN, f32::max) + margin;
    let (width, height) = (
        (max_x - min_x).ceil() as usize + 1,
        (max_y - min_y).ceil() as usize + 1,
    );

    let mut raster = Rasterizer::new(width, height);
    let mut pen = 0.0;
    for &id in &ids {
        if let Some(outline) = font.outline(id) {
            let place = |p: Point| {
                let (x, y) = rotate(pen + p.x * sx, -p.y * sy);
                ab_glyph::point(x - min_x, y - min_y)
            };
            for curve in &outline.curves {
                match *curve {
                    OutlineCurve::Line(a, b) => raster.draw_line(place(a), place(b)),
                    OutlineCurve::Quad(a, b, c) => raster.draw_quad(place(a), place(b), place(c)),
                    OutlineCurve::Cubic(a, b, c, d) => {
                        raster.draw_cubic(place(a), place(b), place(c), place(d))
                    }
                }
            }
        }
        pen += scaled.h_advance(id);
    }
    let mut coverage = vec![0.0f32; width * height];
    raster.for_each_pixel(|i, a| coverage[i] = a.clamp(0.0, 1.0));
    Glyphs {
        width,
        height,
        coverage,
        centre: (-min_x, -min_y),
    }
}

/// Square max filter of radius `r`, separable.
fn dilate(src: &[f32], width: usize, height: usize, r: usize) -> Vec<f32> {
    let mut tmp = vec![0.0f32; src.len()];
    for y in 0..height {
        let row = &src[y * width..(y + 1) * width];
        for x in 0..width {
            let (a, b) = (x.saturating_sub(r), (x + r + 1).min(width));
            tmp[y * width + x] = row[a..b].iter().copied().fold(0.0, f32::max);
        }
    }
    let mut out = vec![0.0f32; src.len()];
    for x in 0..width {
        for y in 0..height {
            let (a, b) = (y.saturating_sub(r), (y + r + 1).min(height));
            out[y * width + x] = (a..b).map(|yy| tmp[yy * width + x]).fold(0.0, f32::max);
        }
    }
    out
}

/// Renders one period of the pattern. Stamps sit on a centred rectangular lattice (the
/// tile's corners and its centre). With H = step/3 and W = 3H/tan 30°, the step from a
/// stamp to the next along its row, (W/2, −3H/2), rises at exactly 30° and is one text
/// plus the gap long.
fn render_tile(text_px: u32) -> Tile {
    let px = text_px as f32;
    let halo = (px * 0.07).round().max(1.0);
    let glyphs = rasterize(WATERMARK_TEXT, px, ANGLE_DEG, halo + 1.0);
    let halo_cov = dilate(&glyphs.coverage, glyphs.width, glyphs.height, halo as usize);

    let text_advance = px * WATERMARK_TEXT.chars().count() as f32;
    let step = text_advance + ROW_GAP_EM * px;
    let tan = ANGLE_DEG.to_radians().tan();
    // Even sides keep the centre stamp on a whole pixel.
    let height = ((step / 3.0 / 2.0).round() as usize * 2).max(2);
    let width = ((3.0 * height as f32 / tan / 2.0).round() as usize * 2).max(2);
    let second = (width / 2, height / 2);

    let mut fill = vec![0.0f32; width * height];
    let mut ring = vec![0.0f32; width * height];
    let anchors = [(0usize, 0usize), second];
    for (ax, ay) in anchors {
        for gy in 0..glyphs.height {
            for gx in 0..glyphs.width {
                let i = gy * glyphs.width + gx;
                let (f, h) = (glyphs.coverage[i], halo_cov[i]);
                if h == 0.0 {
                    continue;
                }
                let tx = (ax as isize + gx as isize - glyphs.centre.0.round() as isize)
                    .rem_euclid(width as isize) as usize;
                let ty = (ay as isize + gy as isize - glyphs.centre.1.round() as isize)
                    .rem_euclid(height as isize) as usize;
                let t = ty * width + tx;
                fill[t] = fill[t].max(f);
                ring[t] = ring[t].max(h);
            }
        }
    }
    let mut alpha = vec![0u8; width * height];
    let mut premul = vec![0u8; width * height];
    for i in 0..width * height {
        let f = fill[i] * INK_OPACITY;
        // The halo rings the ink; under the ink it would only wash it out.
        let h = (ring[i] - fill[i]).max(0.0) * HALO_OPACITY;
        // Halo first, ink over it: out = v·(1−h)(1−f) + HALO·h(1−f) + INK·f.
        let a = 1.0 - (1.0 - h) * (1.0 - f);
        let p = HALO_LEVEL * h * (1.0 - f) + INK_LEVEL * f;
        alpha[i] = (a * 255.0).round() as u8;
        premul[i] = p.round().min(255.0) as u8;
    }
    Tile {
        text_px,
        width,
        height,
        alpha,
        premul,
    }
}

fn blend_tile(image: &mut Rgb, tile: &Tile) {
    let (w, h) = (image.width as usize, image.height as usize);
    // Centre the pattern: the tile's corner stamp lands on the image centre.
    let ox = (tile.width - (w / 2) % tile.width) % tile.width;
    let oy = (tile.height - (h / 2) % tile.height) % tile.height;
    let stride = image.stride();
    for (y, row) in image.data.chunks_exact_mut(stride).enumerate() {
        let ty = (y + oy) % tile.height;
        let alpha = &tile.alpha[ty * tile.width..(ty + 1) * tile.width];
        let premul = &tile.premul[ty * tile.width..(ty + 1) * tile.width];
        let (mut x, mut tx) = (0, ox);
        while x < w {
            let n = (tile.width - tx).min(w - x);
            blend_span(
                &mut row[x * 3..(x + n) * 3],
                &alpha[tx..tx + n],
                &premul[tx..tx + n],
            );
            x += n;
            tx = 0;
        }
    }
}

/// out = v·(255−a)/255 + p, per channel, with the ink and halo already in p.
#[inline]
fn blend_span(px: &mut [u8], alpha: &[u8], premul: &[u8]) {
    for ((c, &a), &p) in px.chunks_exact_mut(3).zip(alpha).zip(premul) {
        let keep = 255 - u16::from(a);
        for v in c {
            let x = u16::from(*v) * keep + 128;
            let scaled = ((x + (x >> 8)) >> 8) as u8;
            *v = scaled.saturating_add(p);
        }
    }
}

/// The footer: white text on a dark band along the bottom edge, left-aligned, cut to the
/// image width.
fn draw_footer(image: &mut Rgb, footer: &str) {
    let (w, h) = (image.width as usize, image.height as usize);
    let px = (image.width.min(image.height) / 40).max(12) as f32;
    let band = ((px * 1.6).round() as usize).min(h);
    let margin = (px * 0.5).round() as usize;
    let glyphs = rasterize(footer, px, 0.0, 0.0);
    let stride = image.stride();
    let top = h - band;
    for y in top..h {
        let row = &mut image.data[y * stride..(y + 1) * stride];
        for v in row.iter_mut() {
            // Band: black at 55%.
            *v = ((u16::from(*v) * 115 + 127) / 255) as u8;
        }
    }
    let gy0 = top as isize + (band as isize - glyphs.height as isize) / 2;
    for gy in 0..glyphs.height {
        let y = gy0 + gy as isize;
        if y < top as isize || y >= h as isize {
            continue;
        }
        let row = &mut image.data[y as usize * stride..(y as usize + 1) * stride];
        for gx in 0..glyphs.width.min(w.saturating_sub(2 * margin)) {
            let a = glyphs.coverage[gy * glyphs.width + gx];
            if a > 0.0 {
                let o = (margin + gx) * 3;
                for v in &mut row[o..o + 3] {
                    *v = (f32::from(*v) * (1.0 - a) + 255.0 * a).round() as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_font_has_every_watermark_glyph() {
        for c in WATERMARK_TEXT
            .chars()
            .chain("0123456789-·案件 ABCDEF".chars())
        {
            assert_ne!(font().glyph_id(c).0, 0, "missing {c}");
        }
    }

    #[test]
    fn the_tile_repeats_at_thirty_degrees_and_is_partly_inked() {
        let tile = render_tile(126);
        let slope = (3 * tile.height) as f32 / tile.width as f32;
        assert!(
            (slope - ANGLE_DEG.to_radians().tan()).abs() < 0.01,
            "slope {slope}"
        );
        let inked = tile.alpha.iter().filter(|&&a| a > 0).count() as f32 / tile.alpha.len() as f32;
        assert!((0.1..0.6).contains(&inked), "inked share {inked}");
    }

    #[test]
    fn blending_never_overflows_and_keeps_uncovered_pixels() {
        let mut px = vec![255u8, 0, 128, 255, 255, 255];
        blend_span(&mut px, &[0, 255], &[0, 255]);
        assert_eq!(px, vec![255, 0, 128, 255, 255, 255]);
        let mut px = vec![200u8; 3];
        blend_span(&mut px, &[128], &[10]);
        assert_eq!(px, vec![110; 3]);
    }

    #[test]
    fn tiles_are_cached_per_size() {
        let a = tile_for(77);
        let b = tile_for(77);
        assert!(Arc::ptr_eq(&a, &b));
    }
}
