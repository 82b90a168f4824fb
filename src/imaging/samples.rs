//! Sample liveness frames for `heyan demo` and the tests, synthesised from the real face in
//! `assets/samples/astronaut.jpg` (public domain, NASA): the portrait's head and shoulders,
//! enlarged a quarter, blended onto a plain wall with a little sensor-like noise, and moved
//! across the frames the way each action moves a face — up and down for a nod, side to side
//! for a shake, a jitter of a pixel or two for blink and open mouth. Frames are 640×480
//! JPEGs (quality 90), each with its own noise so that no two are byte-identical.
//!
//! The ID photo samples (`id-front-sample.jpg`, `id-back-sample.jpg`,
//! `handheld-sample.jpg`) are drawn once by `examples/draw_samples.rs` and committed.

use std::io::Cursor;
use std::sync::OnceLock;

use image::codecs::jpeg::JpegEncoder;
use image::{imageops, ExtendedColorType, Rgb, RgbImage};

use crate::domain::liveness::LivenessAction;

static ASTRONAUT: &[u8] = include_bytes!("../../assets/samples/astronaut.jpg");
static LANDSCAPE: &[u8] = include_bytes!("../../assets/samples/boats.jpg");

/// Frame size.
pub const FRAME_WIDTH: u32 = 640;
/// See [`FRAME_WIDTH`].
pub const FRAME_HEIGHT: u32 = 480;
/// JPEG quality of the frames.
const QUALITY: u8 = 90;
/// How far a nod moves the portrait from its rest position, up and down (pixels). The face
/// box is about 120 px, so a nod of four frames or more spans 0.6 of it, and of two frames
/// 0.3: far above [`super::liveness::MIN_MOVEMENT`].
const NOD_PX: i64 = 36;
/// The same for a shake, left and right.
const SHAKE_PX: i64 = 40;
/// Offsets of the portrait for the frames of a still action (blink, open mouth), in turn.
const JITTER: [(i64, i64); 4] = [(0, 0), (2, 1), (-1, 2), (1, -2)];

/// Frames of `action`, `count` of them, as JPEG bytes. Nod and shake follow the cycle rest,
/// one way, rest, the other way; blink and open mouth stay put but for a small jitter.
pub fn liveness_frames(action: LivenessAction, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let swing = [0, 1, 0, -1][i % 4];
            let (dx, dy) = match action {
                LivenessAction::Nod => (0, swing * NOD_PX),
                LivenessAction::Shake => (swing * SHAKE_PX, 0),
                LivenessAction::Blink | LivenessAction::OpenMouth => JITTER[i % JITTER.len()],
            };
            // Distinct noise per action and frame.
            let seed = (action as u64 + 1) * 1000 + i as u64;
            encode(&frame(dx, dy, seed))
        })
        .collect()
}

/// One frame with the face at rest. Repeated, it makes a nod or shake with no movement.
pub fn still_frame() -> Vec<u8> {
    encode(&frame(0, 0, 1))
}

/// A frame with no face: the rowing-boats landscape sample (`boats.jpg`, a KDE wallpaper,
/// see `assets/samples/README.md`) scaled to 640×480. It is sharp and well exposed, so the
/// photo pipeline lets it through to the face check (the misty `dusk.jpg` would be refused
/// as blurred first).
pub fn faceless_frame() -> Vec<u8> {
    let landscape = image::load_from_memory(LANDSCAPE)
        .expect("the embedded landscape sample decodes")
        .to_rgb8();
    encode(&imageops::resize(
        &landscape,
        FRAME_WIDTH,
        FRAME_HEIGHT,
        imageops::FilterType::CatmullRom,
    ))
}

/// The portrait (head and shoulders, enlarged) and its blending mask, made once.
struct Portrait {
    image: RgbImage,
    /// Opacity per pixel, 0–255: opaque in the middle, fading out over the top and sides.
    alpha: Vec<u8>,
}

/// Where the portrait's top-left corner sits at rest.
const REST: (i64, i64) = (170, 60);

fn portrait() -> &'static Portrait {
    static PORTRAIT: OnceLock<Portrait> = OnceLock::new();
    PORTRAIT.get_or_init(|| {
        let source = image::load_from_memory(ASTRONAUT)
            .expect("the embedded astronaut sample decodes")
            .to_rgb8();
        // Head and shoulders: the face is at about (177, 68), 95 px, in the 512 px original.
        let crop = imageops::crop_imm(&source, 105, 0, 240, 420).to_image();
        let (w, h) = (300, 525);
        let image = imageops::resize(&crop, w, h, imageops::FilterType::CatmullRom);
        // A tombstone: a half ellipse over the head, straight sides below, opaque bottom.
        let (cx, cy) = (w as f64 / 2.0, 230.0);
        let (rx, ry) = (w as f64 / 2.0, 230.0);
        let feather = 0.18;
        let mut alpha = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let nx = (x as f64 + 0.5 - cx) / rx;
                let ny = (y as f64 + 0.5 - cy) / ry;
                let r = if ny < 0.0 {
                    (nx * nx + ny * ny).sqrt()
                } else {
                    nx.abs()
                };
                let a = ((1.0 - r) / feather).clamp(0.0, 1.0);
                alpha.push((a * a * (3.0 - 2.0 * a) * 255.0).round() as u8);
            }
        }
        Portrait { image, alpha }
    })
}

/// A 640×480 frame with the portrait moved `(dx, dy)` pixels from rest, noise drawn from
/// `seed`: the picture the browser test's fake camera shows.
pub fn frame(dx: i64, dy: i64, seed: u64) -> RgbImage {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        // xorshift64*: deterministic, no dependency; ±4 levels.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 61) as i32 - 4
    };
    let portrait = portrait();
    let (left, top) = (REST.0 + dx, REST.1 + dy);
    let (pw, ph) = (
        portrait.image.width() as i64,
        portrait.image.height() as i64,
    );
    let mut out = RgbImage::new(FRAME_WIDTH, FRAME_HEIGHT);
    for y in 0..FRAME_HEIGHT {
        // A warm grey wall, lit from above.
        let shade = 176.0 - 34.0 * f64::from(y) / f64::from(FRAME_HEIGHT);
        for x in 0..FRAME_WIDTH {
            let lit = shade - 10.0 * (f64::from(x) / f64::from(FRAME_WIDTH) - 0.5).abs();
            let wall = [lit + 4.0, lit, lit - 8.0];
            let (px, py) = (x as i64 - left, y as i64 - top);
            let mut rgb = wall;
            if (0..pw).contains(&px) && (0..ph).contains(&py) {
                let a = f64::from(portrait.alpha[(py * pw + px) as usize]) / 255.0;
                let p = portrait.image.get_pixel(px as u32, py as u32).0;
                for c in 0..3 {
                    rgb[c] = a * f64::from(p[c]) + (1.0 - a) * wall[c];
                }
            }
            let n = noise();
            out.put_pixel(
                x,
                y,
                Rgb(rgb.map(|v| (v.round() as i32 + n).clamp(0, 255) as u8)),
            );
        }
    }
    out
}

fn encode(image: &RgbImage) -> Vec<u8> {
    let mut jpeg = Cursor::new(Vec::new());
    JpegEncoder::new_with_quality(&mut jpeg, QUALITY)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encoding to memory does not fail");
    jpeg.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::face::{detect_faces, FaceBox};
    use crate::imaging::liveness::{codes, judge, FrameFaces, MIN_MOVEMENT};
    use LivenessAction::{Blink, Nod, OpenMouth, Shake};

    /// Decodes a frame and finds its faces, as the liveness flow does.
    fn faces(jpeg: &[u8]) -> (Vec<FaceBox>, (u32, u32)) {
        let luma = image::load_from_memory(jpeg)
            .expect("frame decodes")
            .to_luma8();
        let size = luma.dimensions();
        (detect_faces(luma.as_raw(), size.0, size.1), size)
    }

    fn observe(action: LivenessAction, frames: &[Vec<u8>]) -> FrameFaces {
        let (faces, frame_sizes) = frames.iter().map(|f| faces(f)).unzip();
        FrameFaces {
            action,
            faces,
            frame_sizes,
        }
    }

    /// Mean and median luma and the Laplacian variance, measured as the photo pipeline's
    /// quality check does on a copy at most 1024 px long (a test-only stand-in that keeps
    /// these tests independent of the pipeline's internals).
    fn exposure_and_sharpness(jpeg: &[u8]) -> (f64, f64, f64, f64) {
        let mut gray = image::load_from_memory(jpeg).expect("decodes").to_luma8();
        let k = gray.width().max(gray.height()).div_ceil(1024);
        if k > 1 {
            gray = imageops::resize(
                &gray,
                gray.width() / k,
                gray.height() / k,
                imageops::FilterType::Triangle,
            );
        }
        let (w, h) = (gray.width() as usize, gray.height() as usize);
        let px = gray.as_raw();
        let mean = px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64;
        let mut sorted = px.clone();
        sorted.sort_unstable();
        let median = f64::from(sorted[sorted.len() / 2]);
        let clipped = px.iter().filter(|&&v| v >= 250).count() as f64 / px.len() as f64;
        let (mut s1, mut s2, mut n) = (0.0, 0.0, 0.0);
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let at = |x: usize, y: usize| f64::from(px[y * w + x]);
                let lap =
                    at(x, y - 1) + at(x, y + 1) + at(x - 1, y) + at(x + 1, y) - 4.0 * at(x, y);
                s1 += lap;
                s2 += lap * lap;
                n += 1.0;
            }
        }
        let sharpness = s2 / n - (s1 / n).powi(2);
        (mean, median, clipped, sharpness)
    }

    #[test]
    fn every_frame_is_a_640_by_480_jpeg_with_one_face() {
        for action in LivenessAction::ALL {
            let frames = liveness_frames(action, 4);
            assert_eq!(frames.len(), 4);
            for (i, jpeg) in frames.iter().enumerate() {
                assert_eq!(&jpeg[..2], [0xFF, 0xD8], "JPEG");
                let (found, size) = faces(jpeg);
                assert_eq!(size, (FRAME_WIDTH, FRAME_HEIGHT));
                assert_eq!(found.len(), 1, "{action:?} frame {i}: {found:?}");
            }
        }
        assert_eq!(faces(&still_frame()).0.len(), 1);
        assert!(faces(&faceless_frame()).0.is_empty());
    }

    #[test]
    fn nod_and_shake_frames_pass_the_judgement_with_margin() {
        let observed = [
            observe(Nod, &liveness_frames(Nod, 4)),
            observe(Blink, &liveness_frames(Blink, 4)),
            observe(Shake, &liveness_frames(Shake, 4)),
            observe(OpenMouth, &liveness_frames(OpenMouth, 3)),
        ];
        let verdict = judge(&observed);
        assert!(verdict.passed(), "{:?}", verdict.reasons());
        for result in verdict.actions() {
            if let Some(moved) = result.movement {
                assert!(moved >= 3.0 * MIN_MOVEMENT, "{result:?}");
            }
        }
        // The still actions barely move.
        let jitter = judge(&[observe(Nod, &liveness_frames(Blink, 4))]);
        assert_eq!(jitter.reason_codes(), [codes::NO_MOVEMENT]);
    }

    #[test]
    fn two_frames_of_a_nod_or_shake_are_enough_movement() {
        for action in [Nod, Shake] {
            let observed = observe(action, &liveness_frames(action, 2));
            let verdict = judge(&[observed]);
            // Fails only for the frame count, which the flow enforces anyway.
            assert_eq!(verdict.reason_codes(), [codes::TOO_FEW_FRAMES]);
            let moved = verdict.actions()[0].movement.expect("measured");
            assert!(moved >= 2.0 * MIN_MOVEMENT, "{action:?} moved {moved}");
        }
    }

    #[test]
    fn still_frames_fail_a_nod_and_faceless_frames_fail_with_no_face() {
        let still = vec![still_frame(); 4];
        let verdict = judge(&[
            observe(Nod, &still),
            observe(Blink, &liveness_frames(Blink, 3)),
        ]);
        assert_eq!(verdict.reason_codes(), [codes::NO_MOVEMENT]);

        let mut blink = liveness_frames(Blink, 3);
        blink[1] = faceless_frame();
        let verdict = judge(&[observe(Blink, &blink)]);
        assert_eq!(verdict.reason_codes(), [codes::NO_FACE]);
        assert_eq!(verdict.reasons()[0].frame, Some(1));
    }

    #[test]
    fn frames_differ_and_meet_the_frame_quality_bar() {
        let frames = liveness_frames(Blink, 4);
        assert_ne!(frames[0], frames[1]);
        for (i, jpeg) in frames
            .iter()
            .chain([&still_frame(), &faceless_frame()])
            .enumerate()
        {
            let (mean, median, _, sharpness) = exposure_and_sharpness(jpeg);
            // Pipeline limits: mean ≥ 30, median ≤ 180, frame sharpness ≥ 20.
            assert!((60.0..=170.0).contains(&mean), "frame {i}: mean {mean}");
            assert!(median <= 170.0, "frame {i}: median {median}");
            assert!(sharpness >= 40.0, "frame {i}: sharpness {sharpness}");
        }
    }

    #[test]
    fn the_drawn_id_samples_are_large_sharp_and_well_exposed() {
        let samples: [(&str, &[u8]); 3] = [
            (
                "front",
                include_bytes!("../../assets/samples/id-front-sample.jpg"),
            ),
            (
                "back",
                include_bytes!("../../assets/samples/id-back-sample.jpg"),
            ),
            (
                "handheld",
                include_bytes!("../../assets/samples/handheld-sample.jpg"),
            ),
        ];
        for (name, jpeg) in samples {
            let size = image::load_from_memory(jpeg)
                .expect("decodes")
                .to_luma8()
                .dimensions();
            assert!(size.0 >= 1600 && size.1 >= 1200, "{name}: {size:?}");
            let (mean, median, clipped, sharpness) = exposure_and_sharpness(jpeg);
            // Pipeline limits: mean ≥ 30, median ≤ 180, clipped ≤ 0.08, sharpness ≥ 40.
            assert!((60.0..=170.0).contains(&mean), "{name}: mean {mean}");
            assert!(median <= 170.0, "{name}: median {median}");
            assert!(clipped <= 0.02, "{name}: clipped {clipped}");
            assert!(sharpness >= 80.0, "{name}: sharpness {sharpness}");
        }
    }
}
