//! Draws the ID photo samples in `assets/samples/`: `id-front-sample.jpg` (portrait side),
//! `id-back-sample.jpg` (emblem side) and `handheld-sample.jpg` (the principal holding the
//! front). The cards are the project's own drawing in the proportions of a resident ID card
//! (85.6 × 54 mm), filled with invented text and marked 样本 SAMPLE in red: never a real card.
//! The portrait is the astronaut in `assets/samples/astronaut.jpg` (public domain, NASA).
//!
//! ```text
//! cargo run --example draw_samples [-- OUT_DIR]     # OUT_DIR defaults to assets/samples
//! ```
//!
//! Fonts: Noto Sans CJK SC, Bold and Regular (face 2 of the `.ttc` files in Debian's
//! `fonts-noto-cjk`, SIL OFL 1.1, the family of `assets/fonts/watermark-sc-bold.otf`,
//! whose subset lacks most of the characters drawn here). `apt-get install fonts-noto-cjk`
//! puts them where this looks by default; `HEYAN_SAMPLE_FONT_BOLD` and
//! `HEYAN_SAMPLE_FONT_REGULAR` name other files (a `.ttc` is read at face 2, SC).
//!
//! Everything is drawn at its final size (no scaling of text or edges), so the photos are
//! crisp; a little sensor-like noise is added and they are saved as JPEG quality 90. The
//! sizes, exposure and sharpness printed at the end are measured the way the photo
//! pipeline's quality check measures them.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont};
use image::codecs::jpeg::JpegEncoder;
use image::{imageops, ExtendedColorType, RgbImage};

const ASTRONAUT: &[u8] = include_bytes!("../assets/samples/astronaut.jpg");
const BOLD_DEFAULT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc";
const REGULAR_DEFAULT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// Card size in millimetres (ISO/IEC 7810 ID-1).
const CARD_MM: (f32, f32) = (85.6, 54.0);

type Colour = [u8; 3];
const INK: Colour = [24, 24, 30];
const LABEL: Colour = [44, 96, 150];
const RED: Colour = [205, 28, 32];
const GOLD: Colour = [238, 190, 64];

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("assets/samples"));
    let bold_data = read_font("HEYAN_SAMPLE_FONT_BOLD", BOLD_DEFAULT);
    let regular_data = read_font("HEYAN_SAMPLE_FONT_REGULAR", REGULAR_DEFAULT);
    let fonts = Fonts {
        bold: load_font(&bold_data),
        regular: load_font(&regular_data),
    };
    let astronaut = image::load_from_memory(ASTRONAUT)
        .expect("astronaut.jpg decodes")
        .to_rgb8();

    let front = photo_of_card(&card_front(&fonts, &astronaut, 1340.0 / CARD_MM.0), 11);
    let back = photo_of_card(&card_back(&fonts, 1340.0 / CARD_MM.0), 12);
    let handheld = handheld(&fonts, &astronaut);
    for (name, image) in [
        ("id-front-sample.jpg", front),
        ("id-back-sample.jpg", back),
        ("handheld-sample.jpg", handheld),
    ] {
        let path = out.join(name);
        let jpeg = encode(&image);
        std::fs::write(&path, &jpeg).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        report(&path, &jpeg);
    }
}

// ---------------------------------------------------------------------------------------
// Fonts and text

struct Fonts<'a> {
    bold: FontRef<'a>,
    regular: FontRef<'a>,
}

fn read_font(var: &str, default: &str) -> Vec<u8> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "reading the font {} ({e}); install Debian's fonts-noto-cjk or set {var}",
            path.display()
        )
    })
}

fn load_font(data: &[u8]) -> FontRef<'_> {
    // A collection (ttcf) holds JP, KR, SC, TC… faces; SC is face 2 in Noto Sans CJK.
    let index = if data.starts_with(b"ttcf") { 2 } else { 0 };
    FontRef::try_from_slice_and_index(data, index).expect("a usable OpenType font")
}

/// ab_glyph scales by line height (ascent − descent); this gives a scale whose em is `em`
/// pixels, as type sizes are usually meant.
fn em_scale(font: &FontRef, em: f32) -> PxScale {
    let units = font.units_per_em().unwrap_or(1000.0);
    PxScale::from(em * (font.ascent_unscaled() - font.descent_unscaled()) / units)
}

fn glyph(font: &FontRef, c: char) -> GlyphId {
    let id = font.glyph_id(c);
    assert!(id.0 != 0 || c == ' ', "the font has no glyph for {c:?}");
    id
}

/// Width of `text` at `em` pixels with `spacing` pixels between characters.
fn text_width(font: &FontRef, em: f32, text: &str, spacing: f32) -> f32 {
    let scaled = font.as_scaled(em_scale(font, em));
    let ids: Vec<GlyphId> = text.chars().map(|c| glyph(font, c)).collect();
    let advance: f32 = ids.iter().map(|&id| scaled.h_advance(id)).sum();
    let kern: f32 = ids.windows(2).map(|p| scaled.kern(p[0], p[1])).sum();
    advance + kern + spacing * ids.len().saturating_sub(1) as f32
}

/// Draws `text` with its baseline starting at `(x, baseline)`; returns the width drawn.
#[allow(clippy::too_many_arguments)]
fn text(
    image: &mut RgbImage,
    font: &FontRef,
    em: f32,
    (x, baseline): (f32, f32),
    text: &str,
    colour: Colour,
    alpha: f32,
    spacing: f32,
) -> f32 {
    let scale = em_scale(font, em);
    let scaled = font.as_scaled(scale);
    let mut pen = x;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = glyph(font, c);
        if let Some(p) = previous {
            pen += scaled.kern(p, id);
        }
        let positioned = id.with_scale_and_position(scale, ab_glyph::point(pen, baseline));
        if let Some(outline) = font.outline_glyph(positioned) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + i64::from(gx);
                let py = bounds.min.y as i64 + i64::from(gy);
                blend(image, px, py, colour, coverage * alpha);
            });
        }
        pen += scaled.h_advance(id) + spacing;
        previous = Some(id);
    }
    pen - spacing - x
}

// ---------------------------------------------------------------------------------------
// Pixels and shapes

fn blend(image: &mut RgbImage, x: i64, y: i64, colour: Colour, alpha: f32) {
    if x < 0 || y < 0 || x >= i64::from(image.width()) || y >= i64::from(image.height()) {
        return;
    }
    let a = alpha.clamp(0.0, 1.0);
    if a <= 0.0 {
        return;
    }
    let px = image.get_pixel_mut(x as u32, y as u32);
    for (channel, &ink) in px.0.iter_mut().zip(&colour) {
        *channel = (a * f32::from(ink) + (1.0 - a) * f32::from(*channel)).round() as u8;
    }
}

/// Signed distance from `(x, y)` to a rounded rectangle (negative inside).
fn rounded_rect_distance(x: f32, y: f32, (x0, y0, x1, y1): (f32, f32, f32, f32), r: f32) -> f32 {
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (hx, hy) = ((x1 - x0) / 2.0 - r, (y1 - y0) / 2.0 - r);
    let (qx, qy) = ((x - cx).abs() - hx, (y - cy).abs() - hy);
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    outside + qx.max(qy).min(0.0) - r
}

/// Fills the pixels of `bounds` by `coverage(x, y)` (0–1 at the pixel centre).
fn fill(
    image: &mut RgbImage,
    (x0, y0, x1, y1): (i64, i64, i64, i64),
    colour: Colour,
    alpha: f32,
    coverage: impl Fn(f32, f32) -> f32,
) {
    for y in y0.max(0)..y1.min(i64::from(image.height())) {
        for x in x0.max(0)..x1.min(i64::from(image.width())) {
            let c = coverage(x as f32 + 0.5, y as f32 + 0.5);
            if c > 0.0 {
                blend(image, x, y, colour, c * alpha);
            }
        }
    }
}

/// Anti-aliased coverage of a shape given by an inside test: 4 × 4 samples per pixel.
fn supersampled(inside: impl Fn(f32, f32) -> bool) -> impl Fn(f32, f32) -> f32 {
    move |x, y| {
        let mut hits = 0;
        for j in 0..4 {
            for i in 0..4 {
                let (sx, sy) = (
                    x - 0.5 + (i as f32 + 0.5) / 4.0,
                    y - 0.5 + (j as f32 + 0.5) / 4.0,
                );
                if inside(sx, sy) {
                    hits += 1;
                }
            }
        }
        hits as f32 / 16.0
    }
}

fn disc(image: &mut RgbImage, (cx, cy): (f32, f32), r: f32, colour: Colour) {
    let bounds = (
        (cx - r - 2.0) as i64,
        (cy - r - 2.0) as i64,
        (cx + r + 3.0) as i64,
        (cy + r + 3.0) as i64,
    );
    fill(image, bounds, colour, 1.0, |x, y| {
        (r + 0.5 - ((x - cx).powi(2) + (y - cy).powi(2)).sqrt()).clamp(0.0, 1.0)
    });
}

fn ring(image: &mut RgbImage, (cx, cy): (f32, f32), r: f32, width: f32, colour: Colour) {
    let bounds = (
        (cx - r - 2.0) as i64,
        (cy - r - 2.0) as i64,
        (cx + r + 3.0) as i64,
        (cy + r + 3.0) as i64,
    );
    fill(image, bounds, colour, 1.0, |x, y| {
        let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
        (width / 2.0 + 0.5 - (d - (r - width / 2.0)).abs()).clamp(0.0, 1.0)
    });
}

/// A five-pointed star, one point up (rotated by `turn` radians).
fn star(image: &mut RgbImage, (cx, cy): (f32, f32), r: f32, turn: f32, colour: Colour) {
    let points: Vec<(f32, f32)> = (0..10)
        .map(|k| {
            let radius = if k % 2 == 0 { r } else { r * 0.382 };
            let angle = turn - std::f32::consts::FRAC_PI_2 + k as f32 * std::f32::consts::PI / 5.0;
            (cx + radius * angle.cos(), cy + radius * angle.sin())
        })
        .collect();
    let bounds = (
        (cx - r - 2.0) as i64,
        (cy - r - 2.0) as i64,
        (cx + r + 3.0) as i64,
        (cy + r + 3.0) as i64,
    );
    fill(
        image,
        bounds,
        colour,
        1.0,
        supersampled(|x, y| inside_polygon(&points, x, y)),
    );
}

fn inside_polygon(points: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = points.len() - 1;
    for i in 0..points.len() {
        let ((xi, yi), (xj, yj)) = (points[i], points[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Deterministic noise in −`amp`..=`amp` (xorshift64*).
struct Noise(u64);

impl Noise {
    fn next(&mut self, amp: i32) -> i32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
        (r % (2 * amp as u64 + 1)) as i32 - amp
    }
}

fn add_noise(image: &mut RgbImage, amp: i32, seed: u64) {
    let mut noise = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for px in image.pixels_mut() {
        let n = noise.next(amp);
        for c in px.0.iter_mut() {
            *c = (i32::from(*c) + n).clamp(0, 255) as u8;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The cards, drawn at `s` pixels per millimetre

/// Card size in pixels at `s` px/mm.
fn card_size(s: f32) -> (u32, u32) {
    (
        (CARD_MM.0 * s).round() as u32,
        (CARD_MM.1 * s).round() as u32,
    )
}

/// The printed background: a pale blue-grey wash with fine wavy security lines.
fn card_base(s: f32) -> RgbImage {
    let (w, h) = card_size(s);
    let mut card = RgbImage::from_fn(w, h, |x, y| {
        let t = (x as f32 / w as f32 + y as f32 / h as f32) / 2.0;
        let v = |top: f32, bottom: f32| (top + (bottom - top) * t).round() as u8;
        image::Rgb([v(166.0, 150.0), v(176.0, 160.0), v(186.0, 172.0)])
    });
    let spacing = 2.2 * s;
    let lines = (h as f32 / spacing) as i32 + 2;
    for k in -1..lines {
        for x in 0..w {
            let xf = x as f32 / s;
            let yc = (k as f32 + 0.5) * spacing
                + 0.9 * s * (xf / 6.0 + k as f32 * 0.7).sin()
                + 0.4 * s * (xf / 2.3).sin();
            let half = (0.09 * s).max(0.6);
            for y in (yc - half - 1.0) as i64..=(yc + half + 1.0) as i64 {
                let c = (half + 0.5 - (y as f32 + 0.5 - yc).abs()).clamp(0.0, 1.0);
                blend(&mut card, i64::from(x), y, [120, 150, 176], 0.45 * c);
            }
        }
    }
    card
}

/// The big red "样本 SAMPLE" mark across the card.
fn sample_mark(card: &mut RgbImage, fonts: &Fonts, s: f32, baseline_mm: f32) {
    let em = 10.0 * s;
    let mark = "样本 SAMPLE";
    let width = text_width(&fonts.bold, em, mark, 0.6 * s);
    let x = (card.width() as f32 - width) / 2.0;
    text(
        card,
        &fonts.bold,
        em,
        (x, baseline_mm * s),
        mark,
        RED,
        0.62,
        0.6 * s,
    );
}

/// The portrait side: invented name and dates, a fake number overprinted 样本, the
/// astronaut as the photo.
fn card_front(fonts: &Fonts, astronaut: &RgbImage, s: f32) -> RgbImage {
    let mut card = card_base(s);
    let label = |card: &mut RgbImage, x: f32, y: f32, t: &str| {
        text(
            card,
            &fonts.regular,
            2.7 * s,
            (x * s, y * s),
            t,
            LABEL,
            1.0,
            0.5 * s,
        )
    };
    let value = |card: &mut RgbImage, x: f32, y: f32, t: &str| {
        text(
            card,
            &fonts.regular,
            3.4 * s,
            (x * s, y * s),
            t,
            INK,
            1.0,
            0.0,
        )
    };
    label(&mut card, 6.0, 10.0, "姓名");
    text(
        &mut card,
        &fonts.bold,
        4.0 * s,
        (17.0 * s, 10.2 * s),
        "测试样本",
        INK,
        1.0,
        0.3 * s,
    );
    label(&mut card, 6.0, 17.5, "性别");
    value(&mut card, 17.0, 17.5, "男");
    label(&mut card, 27.0, 17.5, "民族");
    value(&mut card, 38.0, 17.5, "汉");
    label(&mut card, 6.0, 25.0, "出生");
    value(&mut card, 17.0, 25.0, "1990 年 3 月 7 日");
    label(&mut card, 6.0, 32.5, "住址");
    value(&mut card, 17.0, 32.5, "上海市样本区示例路");
    value(&mut card, 17.0, 37.3, "100 号（样本）");
    label(&mut card, 6.0, 47.5, "公民身份号码");
    let number_x = 30.0 * s;
    let number = "310101 19900307 123X";
    let number_w = text(
        &mut card,
        &fonts.bold,
        3.9 * s,
        (number_x, 47.8 * s),
        number,
        INK,
        1.0,
        0.25 * s,
    );
    // 样本 stamped over the number.
    let stamp_w = text_width(&fonts.bold, 6.0 * s, "样本", 0.8 * s);
    let stamp_x = number_x + (number_w - stamp_w) / 2.0;
    text(
        &mut card,
        &fonts.bold,
        6.0 * s,
        (stamp_x, 49.2 * s),
        "样本",
        RED,
        0.8,
        0.8 * s,
    );

    // Portrait, 24 × 30 mm: head and shoulders of the astronaut.
    let (pw, ph) = ((24.0 * s).round() as u32, (30.0 * s).round() as u32);
    let crop = imageops::crop_imm(astronaut, 112, 0, 225, 281).to_image();
    let portrait = imageops::resize(&crop, pw, ph, imageops::FilterType::Lanczos3);
    let (px, py) = ((57.0 * s) as i64, (7.0 * s) as i64);
    imageops::overlay(&mut card, &portrait, px, py);

    sample_mark(&mut card, fonts, s, 31.0);
    card
}

/// The emblem side: an emblem of the project's own (red disc, gold ring and stars), the
/// card's title, an invented authority and dates, the 样本 mark.
fn card_back(fonts: &Fonts, s: f32) -> RgbImage {
    let mut card = card_base(s);
    let centre = (15.0 * s, 15.5 * s);
    disc(&mut card, centre, 10.0 * s, RED);
    ring(&mut card, centre, 8.6 * s, 0.7 * s, GOLD);
    star(
        &mut card,
        (centre.0, centre.1 + 0.6 * s),
        4.6 * s,
        0.0,
        GOLD,
    );
    for k in 0..4 {
        let angle = (-60.0 + 40.0 * k as f32).to_radians() - std::f32::consts::FRAC_PI_2;
        let at = (
            centre.0 + 6.6 * s * angle.cos(),
            centre.1 + 6.6 * s * angle.sin(),
        );
        star(
            &mut card,
            at,
            1.05 * s,
            angle + std::f32::consts::FRAC_PI_2,
            GOLD,
        );
    }
    text(
        &mut card,
        &fonts.bold,
        5.0 * s,
        (31.0 * s, 13.5 * s),
        "中华人民共和国",
        INK,
        1.0,
        1.1 * s,
    );
    text(
        &mut card,
        &fonts.bold,
        7.4 * s,
        (31.0 * s, 25.5 * s),
        "居民身份证",
        INK,
        1.0,
        2.0 * s,
    );
    let label = |card: &mut RgbImage, y: f32, t: &str| {
        text(
            card,
            &fonts.regular,
            2.8 * s,
            (14.0 * s, y * s),
            t,
            LABEL,
            1.0,
            0.5 * s,
        )
    };
    let value = |card: &mut RgbImage, y: f32, t: &str| {
        text(
            card,
            &fonts.regular,
            3.3 * s,
            (31.0 * s, y * s),
            t,
            INK,
            1.0,
            0.0,
        )
    };
    label(&mut card, 43.0, "签发机关");
    value(&mut card, 43.0, "样本市公安局");
    label(&mut card, 49.5, "有效期限");
    value(&mut card, 49.5, "2020.01.01-2040.01.01");
    sample_mark(&mut card, fonts, s, 37.5);
    card
}

/// Puts `card` onto `scene` with its top-left corner at `(x, y)`: rounded corners and a
/// soft shadow below and to the right.
fn place_card(scene: &mut RgbImage, card: &RgbImage, (x, y): (f32, f32)) {
    let (w, h) = (card.width() as f32, card.height() as f32);
    let radius = w * 3.2 / CARD_MM.0;
    let rect = (x, y, x + w, y + h);
    let shadow = (
        x + w * 0.008,
        y + w * 0.012,
        x + w * (1.0 + 0.008),
        y + h + w * 0.012,
    );
    let soft = w * 0.015;
    let bounds = (
        (x - soft) as i64,
        (y - soft) as i64,
        (x + w + 3.0 * soft) as i64,
        (y + h + 3.0 * soft) as i64,
    );
    fill(scene, bounds, [10, 8, 6], 0.45, |px, py| {
        let d = rounded_rect_distance(px, py, shadow, radius);
        (1.0 - (d + soft) / (2.0 * soft)).clamp(0.0, 1.0)
    });
    let bounds = (
        x as i64 - 1,
        y as i64 - 1,
        (x + w) as i64 + 2,
        (y + h) as i64 + 2,
    );
    for py in bounds.1.max(0)..bounds.3.min(i64::from(scene.height())) {
        for px in bounds.0.max(0)..bounds.2.min(i64::from(scene.width())) {
            let (fx, fy) = (px as f32 + 0.5, py as f32 + 0.5);
            let coverage = (0.5 - rounded_rect_distance(fx, fy, rect, radius)).clamp(0.0, 1.0);
            let (cx, cy) = ((fx - x).floor() as i64, (fy - y).floor() as i64);
            if coverage > 0.0
                && cx >= 0
                && cy >= 0
                && cx < i64::from(card.width())
                && cy < i64::from(card.height())
            {
                let colour = card.get_pixel(cx as u32, cy as u32).0;
                blend(scene, px, py, colour, coverage);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The photographs

/// A wooden desk: warm brown with wavy grain.
fn desk(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let grain = ((yf + 9.0 * (xf / 170.0).sin() + 4.0 * (xf / 43.0).sin()) / 5.5).sin();
        let bands = ((yf / 47.0) + 1.3 * (xf / 310.0).sin()).sin();
        let t = (0.5 + 0.22 * grain + 0.28 * bands).clamp(0.0, 1.0);
        let light = 1.0 - 0.18 * (xf / w as f32 - 0.45).abs() - 0.12 * (yf / h as f32);
        let mix = |dark: f32, bright: f32| ((dark + (bright - dark) * t) * light).round() as u8;
        image::Rgb([mix(92.0, 150.0), mix(60.0, 104.0), mix(36.0, 66.0)])
    })
}

/// A card lying on the desk, filling most of a 1600 × 1200 photo.
fn photo_of_card(card: &RgbImage, seed: u64) -> RgbImage {
    let (w, h) = (1600, 1200);
    let mut scene = desk(w, h);
    let at = (
        (w - card.width()) as f32 / 2.0 - 6.0,
        (h - card.height()) as f32 / 2.0 - 10.0,
    );
    place_card(&mut scene, card, at);
    add_noise(&mut scene, 3, seed);
    scene
}

/// The principal (the astronaut, enlarged) with the front of the card held below the face.
fn handheld(fonts: &Fonts, astronaut: &RgbImage) -> RgbImage {
    let (w, h) = (1600u32, 1200u32);
    let mut scene = RgbImage::from_fn(w, h, |x, y| {
        let shade = 178.0 - 40.0 * y as f32 / h as f32 - 14.0 * (x as f32 / w as f32 - 0.5).abs();
        image::Rgb([(shade + 4.0) as u8, shade as u8, (shade - 9.0) as u8])
    });
    // Head and shoulders, 2.4 times the original: the face (95 px there) is about 230 px.
    let crop = imageops::crop_imm(astronaut, 100, 0, 250, 420).to_image();
    let (pw, ph) = (600u32, 1008u32);
    let person = imageops::resize(&crop, pw, ph, imageops::FilterType::Lanczos3);
    let (left, top) = (502i64, 53i64);
    let (cx, cy, rx, ry) = (pw as f32 / 2.0, 430.0f32, pw as f32 / 2.0, 430.0f32);
    for y in 0..ph {
        for x in 0..pw {
            let nx = (x as f32 + 0.5 - cx) / rx;
            let ny = (y as f32 + 0.5 - cy) / ry;
            let r = if ny < 0.0 {
                (nx * nx + ny * ny).sqrt()
            } else {
                nx.abs()
            };
            let a = ((1.0 - r) / 0.12).clamp(0.0, 1.0);
            blend(
                &mut scene,
                left + i64::from(x),
                top + i64::from(y),
                person.get_pixel(x, y).0,
                a * a * (3.0 - 2.0 * a),
            );
        }
    }
    // The card, held in front of the chest: drawn at its size in the photo.
    let s = 740.0 / CARD_MM.0;
    let card = card_front(fonts, astronaut, s);
    let at = ((w - card.width()) as f32 / 2.0, 690.0);
    place_card(&mut scene, &card, at);
    // Two thumbs over the card's lower corners.
    let skin = [214, 160, 128];
    for (tx, ty) in [
        (at.0 + 18.0, at.1 + 330.0),
        (at.0 + card.width() as f32 - 18.0, at.1 + 330.0),
    ] {
        let rect = (tx - 34.0, ty - 58.0, tx + 34.0, ty + 140.0);
        let bounds = (
            rect.0 as i64 - 2,
            rect.1 as i64 - 2,
            rect.2 as i64 + 3,
            rect.3 as i64 + 3,
        );
        fill(&mut scene, bounds, [150, 100, 78], 1.0, |x, y| {
            (0.5 - rounded_rect_distance(x, y, rect, 32.0)).clamp(0.0, 1.0)
        });
        let inner = (rect.0 + 3.0, rect.1 + 3.0, rect.2 - 3.0, rect.3 - 3.0);
        fill(&mut scene, bounds, skin, 1.0, |x, y| {
            (0.5 - rounded_rect_distance(x, y, inner, 29.0)).clamp(0.0, 1.0)
        });
        let nail = (tx - 20.0, ty - 48.0, tx + 20.0, ty - 8.0);
        fill(&mut scene, bounds, [232, 196, 180], 1.0, |x, y| {
            (0.5 - rounded_rect_distance(x, y, nail, 16.0)).clamp(0.0, 1.0)
        });
    }
    add_noise(&mut scene, 3, 13);
    scene
}

// ---------------------------------------------------------------------------------------
// Output

fn encode(image: &RgbImage) -> Vec<u8> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encoding to memory");
    jpeg
}

/// Prints the figures the photo pipeline's quality check looks at, taken the same way on a
/// copy at most 1024 px long: mean and median luma, blown-out share, Laplacian variance.
fn report(path: &Path, jpeg: &[u8]) {
    let gray = image::load_from_memory(jpeg).expect("decodes").to_luma8();
    let (w0, h0) = gray.dimensions();
    let k = w0.max(h0).div_ceil(1024);
    let gray = imageops::resize(&gray, w0 / k, h0 / k, imageops::FilterType::Triangle);
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let px = gray.as_raw();
    let mean = px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64;
    let mut sorted = px.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let clipped = px.iter().filter(|&&v| v >= 250).count() as f64 / px.len() as f64;
    let (mut s1, mut s2, mut n) = (0.0, 0.0, 0.0);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let at = |x: usize, y: usize| f64::from(px[y * w + x]);
            let lap = at(x, y - 1) + at(x, y + 1) + at(x - 1, y) + at(x + 1, y) - 4.0 * at(x, y);
            s1 += lap;
            s2 += lap * lap;
            n += 1.0;
        }
    }
    let sharpness = s2 / n - (s1 / n).powi(2);
    println!(
        "{}: {w0}x{h0}, {} bytes; mean luma {mean:.1}, median {median}, clipped {clipped:.4}, sharpness {sharpness:.1}",
        path.display(),
        jpeg.len()
    );
}
