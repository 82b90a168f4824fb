//! Frontal face detection on 8-bit grayscale images, for the liveness frames and the
//! handheld photo (本人核验). The detector is SeetaFace's funnel-structured cascade through
//! the `rustface` crate, with the SeetaFace frontal model embedded from
//! `assets/models/seeta_fd_frontal_v1.0.bin` (source, checksum and licence:
//! `assets/models/README.md`).
//!
//! Callers downscale first: inputs are expected at most 1024 px on the long edge. One call on
//! a 1024×768 image takes 75–205 ms on one core of the 2-core development machine, depending
//! on how much of the image looks face-like to the first stage (release build, `rustface`
//! without rayon, fastest of 7 runs each: cups 74, dusk 76, pier-gray 80, boats 143,
//! forest 205 ms; the handheld sample 151 ms). A 640×480 liveness frame takes 60–70 ms.
//! Callers run it off the async workers, like the rest of the pipeline.
//!
//! What it finds: upright, roughly frontal faces at least [`MIN_FACE_SIZE`] pixels wide (the
//! cascade's 40 px window at full scale; `rustface` ignores a smaller minimum). Profiles,
//! strong tilts and faces in the dark are missed, which is what the liveness check wants:
//! the App asks the principal to face the camera.

use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;

/// The SeetaFace frontal detection model (BSD-2-Clause, `assets/models/`).
static MODEL_BYTES: &[u8] = include_bytes!("../../assets/models/seeta_fd_frontal_v1.0.bin");

/// The smallest face found, in pixels: the cascade's window at full scale.
pub const MIN_FACE_SIZE: u32 = 40;

/// Least score of a reported face. At these settings the astronaut and the synthesised
/// liveness frames score 15–30 (the score sums the merged windows, so a finer window step
/// raises it); the strongest false candidates seen, on the landscape samples and on the
/// plain and textured canvases of the tests, score below 2. 4.0 sits between the two with
/// margin either side (`rustface` suggests 0.95, 2.8 or 4.5).
pub const SCORE_THRESHOLD: f64 = 4.0;

/// Ratio between adjacent levels of the image pyramid. 0.8 (the SeetaFace default) checks
/// window sizes 25 % apart, so a face is met close to its own size and the box is tight; a
/// coarser 0.7 is about a third faster but the boxes wobble more between frames, which the
/// nod and shake checks would read as movement.
pub const PYRAMID_SCALE: f32 = 0.8;

/// Step of the sliding window, in pixels of each pyramid level, both ways. 4 is the
/// SeetaFace default; 2 finds the same faces at about 2.5 times the cost.
pub const WINDOW_STEP: u32 = 4;

/// Images narrower or lower than this are not searched: they cannot hold a face the size of
/// the window with the margin that keeps the pyramid's smallest level at least one window
/// (see [`detect_faces`]).
const MIN_IMAGE_SIDE: u32 = MIN_FACE_SIZE + 8;

/// A face found in an image, in that image's pixel coordinates. The box is square (SeetaFace
/// boxes are) and may reach past the image edge for a face cut by it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Detector confidence (at least [`SCORE_THRESHOLD`]; higher is surer).
    pub score: f64,
}

impl FaceBox {
    /// Centre of the box, `(x, y)`.
    pub fn centre(&self) -> (f64, f64) {
        (
            f64::from(self.x) + f64::from(self.width) / 2.0,
            f64::from(self.y) + f64::from(self.height) / 2.0,
        )
    }
}

/// The model, parsed once (about 1.2 MB of cascade tables).
fn model() -> &'static rustface::Model {
    static MODEL: OnceLock<rustface::Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        rustface::read_model(MODEL_BYTES).expect("the embedded SeetaFace model parses")
    })
}

/// Finds the faces in a row-major 8-bit grayscale image of `width × height` pixels, best
/// score first. A buffer whose length is not `width × height`, or an image smaller than
/// 48 px either way, gives no faces rather than a panic.
///
/// `rustface`'s detector keeps scratch buffers and is not `Sync`, so each call builds its own
/// from a clone of the parsed model (about 0.2–0.5 ms, against 50 ms and more for the search).
/// The largest face searched for is capped 8 px below the shorter side: this keeps the
/// pyramid's smallest level clear of the window size, which `rustface` does not check (a
/// level a pixel smaller than the window would underflow its loop bounds).
pub fn detect_faces(pixels: &[u8], width: u32, height: u32) -> Vec<FaceBox> {
    let expected = width as usize * height as usize;
    if pixels.len() != expected || width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE {
        return Vec::new();
    }
    let mut detector = rustface::create_detector_with_model(model().clone());
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector.set_pyramid_scale_factor(PYRAMID_SCALE);
    detector.set_slide_window_step(WINDOW_STEP, WINDOW_STEP);
    // Documents intent only: rustface 0.1.7 starts its pyramid at full scale whatever this
    // says, so the smallest face is always the 40 px window.
    detector.set_min_face_size(MIN_FACE_SIZE);
    detector.set_max_face_size(width.min(height) - 8);
    let image = rustface::ImageData::new(pixels, width, height);
    // The port keeps some index arithmetic of the C++ original; a panic in it (debug
    // builds check overflow) must not take the request down with it.
    let found = match panic::catch_unwind(AssertUnwindSafe(|| detector.detect(&image))) {
        Ok(found) => found,
        Err(_) => return Vec::new(),
    };
    let mut faces: Vec<FaceBox> = found
        .iter()
        .filter(|f| f.score() >= SCORE_THRESHOLD)
        .map(|f| FaceBox {
            x: f.bbox().x(),
            y: f.bbox().y(),
            width: f.bbox().width(),
            height: f.bbox().height(),
            score: f.score(),
        })
        .collect();
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    faces
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{imageops, GrayImage, Luma};

    fn luma(jpeg: &[u8]) -> GrayImage {
        image::load_from_memory(jpeg)
            .expect("sample decodes")
            .to_luma8()
    }

    fn astronaut() -> GrayImage {
        luma(include_bytes!("../../assets/samples/astronaut.jpg"))
    }

    /// A sample scaled the way callers do: long edge at most 1024 px.
    fn reduced(image: GrayImage) -> GrayImage {
        let long = image.width().max(image.height());
        if long <= 1024 {
            return image;
        }
        let (w, h) = (image.width() * 1024 / long, image.height() * 1024 / long);
        imageops::resize(&image, w, h, imageops::FilterType::Triangle)
    }

    fn detect(image: &GrayImage) -> Vec<FaceBox> {
        detect_faces(image.as_raw(), image.width(), image.height())
    }

    /// The astronaut pasted on a mid-grey canvas at each offset.
    fn canvas_with_astronauts(width: u32, height: u32, at: &[(i64, i64)]) -> GrayImage {
        let face = astronaut();
        let mut canvas = GrayImage::from_pixel(width, height, Luma([128]));
        for &(x, y) in at {
            imageops::overlay(&mut canvas, &face, x, y);
        }
        canvas
    }

    #[test]
    fn the_astronaut_has_one_face_in_the_upper_middle() {
        let image = astronaut();
        let faces = detect(&image);
        assert_eq!(faces.len(), 1, "{faces:?}");
        let (cx, cy) = faces[0].centre();
        let (w, h) = (f64::from(image.width()), f64::from(image.height()));
        assert!((0.3 * w..0.6 * w).contains(&cx), "centre x {cx}");
        assert!((0.1 * h..0.4 * h).contains(&cy), "centre y {cy}");
        // A face, not the whole portrait: a fifth of the width, give or take.
        assert!((60..=160).contains(&faces[0].width), "{:?}", faces[0]);
        assert!(faces[0].score >= SCORE_THRESHOLD);
    }

    #[test]
    fn landscapes_have_no_face() {
        let samples: [(&str, &[u8]); 4] = [
            ("boats", include_bytes!("../../assets/samples/boats.jpg")),
            ("forest", include_bytes!("../../assets/samples/forest.jpg")),
            ("cups", include_bytes!("../../assets/samples/cups.jpg")),
            ("dusk", include_bytes!("../../assets/samples/dusk.jpg")),
        ];
        for (name, jpeg) in samples {
            let faces = detect(&reduced(luma(jpeg)));
            assert!(faces.is_empty(), "{name}: {faces:?}");
        }
    }

    #[test]
    fn two_astronauts_side_by_side_are_two_faces() {
        let canvas = canvas_with_astronauts(1100, 560, &[(20, 20), (560, 30)]);
        let mut faces = detect(&canvas);
        assert_eq!(faces.len(), 2, "{faces:?}");
        faces.sort_by_key(|f| f.x);
        assert!(
            faces[0].centre().0 < 550.0 && faces[1].centre().0 > 550.0,
            "{faces:?}"
        );
    }

    #[test]
    fn the_box_follows_the_face() {
        let at_0 = detect(&canvas_with_astronauts(640, 560, &[(0, 20)]));
        let at_60 = detect(&canvas_with_astronauts(640, 560, &[(60, 20)]));
        assert_eq!((at_0.len(), at_60.len()), (1, 1), "{at_0:?} {at_60:?}");
        let dx = at_60[0].centre().0 - at_0[0].centre().0;
        let dy = at_60[0].centre().1 - at_0[0].centre().1;
        assert!((50.0..=70.0).contains(&dx), "moved {dx} px across");
        assert!(dy.abs() <= 10.0, "moved {dy} px down");
    }

    #[test]
    fn the_handheld_sample_shows_a_face() {
        let image = luma(include_bytes!("../../assets/samples/handheld-sample.jpg"));
        // At most 1024 px long, and at half size as the photo pipeline's reduced copy has it.
        let half = imageops::resize(
            &image,
            image.width() / 2,
            image.height() / 2,
            imageops::FilterType::Triangle,
        );
        for copy in [reduced(image), half] {
            let faces = detect(&copy);
            assert!(
                !faces.is_empty(),
                "no face at {}x{}",
                copy.width(),
                copy.height()
            );
            // The principal's face is the largest and sits in the upper half (the card's
            // portrait may be found too).
            let largest = faces.iter().max_by_key(|f| f.width).expect("a face");
            assert!(
                largest.centre().1 < f64::from(copy.height()) / 2.0,
                "{faces:?}"
            );
        }
    }

    #[test]
    fn bad_buffers_and_tiny_or_flat_images_give_no_faces() {
        assert!(detect_faces(&[0; 10], 640, 480).is_empty());
        assert!(detect_faces(&[], 0, 0).is_empty());
        assert!(detect_faces(&vec![128; 40 * 40], 40, 40).is_empty());
        assert!(detect_faces(&vec![128; 47 * 400], 47, 400).is_empty());
        assert!(detect_faces(&vec![128; 48 * 48], 48, 48).is_empty());
        assert!(detect_faces(&vec![128; 640 * 480], 640, 480).is_empty());
    }

    #[test]
    fn the_edge_sizes_of_the_pyramid_do_not_panic() {
        // Sizes whose smallest pyramid level comes out near the window size.
        for side in [48u32, 49, 50, 51, 62, 63, 64, 78, 79, 80, 99, 100, 125, 156] {
            let image = GrayImage::from_fn(side, side + 3, |x, y| {
                Luma([((x * 7 + y * 13) % 256) as u8])
            });
            let _ = detect(&image);
        }
    }
}
