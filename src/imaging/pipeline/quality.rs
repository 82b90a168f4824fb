//! Sharpness and exposure checks, measured on a reduced grayscale copy so that the figures
//! do not depend on the upload's resolution and cost little: the copy's long edge is at
//! most [`MEASURE_LONG_EDGE`] pixels.
//!
//! The thresholds were calibrated on real photographs and their blurred, darkened,
//! overexposed and glared versions; docs/photo-calibration.md records the inputs, the
//! figures and the choice, and `cargo bench --bench pipeline -- --calibrate` redoes it.

use super::error::PipelineError;
use super::{LumaImage, PhotoKind, Rgb};

/// Long edge of the grayscale copy the measures are taken on.
pub const MEASURE_LONG_EDGE: u32 = 1024;
/// A reduced-copy pixel at or above this luma counts as blown out.
pub const CLIPPED_LUMA: u8 = 250;

/// What the checks measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QualityReport {
    /// Variance of the 4-neighbour Laplacian of the reduced grayscale copy: high for crisp
    /// edges, low for defocus and shake.
    pub sharpness: f64,
    /// Mean luma (BT.601, 0–255).
    pub mean_luma: f64,
    /// Share of pixels at or above [`CLIPPED_LUMA`].
    pub clipped_fraction: f64,
    /// Share of pixels at or below 5 (crushed shadows); reported, not judged.
    pub crushed_fraction: f64,
    /// 10th percentile of luma: overexposure lifts even the shadows.
    pub p10_luma: f64,
    /// Median luma.
    pub median_luma: f64,
    /// Standard deviation of luma (global contrast).
    pub contrast: f64,
    /// Size of the copy the figures were taken on.
    pub measured_width: u32,
    /// Height of that copy.
    pub measured_height: u32,
}

impl QualityReport {
    /// The figures against their thresholds, one per line (for `heyan photo`).
    pub fn summary(&self, t: &Thresholds) -> String {
        format!(
            "sharpness   {:.1} (min {:.1}; liveness frames {:.1})\n\
             mean luma   {:.1} (min {:.1})\n\
             median luma {:.0} (max {:.0})\n\
             clipped     {:.4} (max {:.2} as glare, {:.2} as overexposure)\n\
             measured on {}x{}\n",
            self.sharpness,
            t.min_sharpness,
            t.min_sharpness_frame,
            self.mean_luma,
            t.min_mean_luma,
            self.median_luma,
            t.max_median_luma,
            self.clipped_fraction,
            t.max_clipped_fraction,
            t.overexposed_clipped_fraction,
            self.measured_width,
            self.measured_height,
        )
    }
}

/// Limits a photo must meet. Defaults: docs/photo-calibration.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Least sharpness for handheld and ID photos.
    pub min_sharpness: f64,
    /// Least sharpness for liveness frames, which come from video and move.
    pub min_sharpness_frame: f64,
    /// Least mean luma.
    pub min_mean_luma: f64,
    /// Greatest median luma: above it the photo is overexposed as a whole.
    pub max_median_luma: f64,
    /// Share of blown-out pixels above which the photo counts as overexposed rather than
    /// glared.
    pub overexposed_clipped_fraction: f64,
    /// Greatest share of blown-out pixels (glare) on handheld and ID photos.
    pub max_clipped_fraction: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_sharpness: 40.0,
            min_sharpness_frame: 20.0,
            min_mean_luma: 30.0,
            max_median_luma: 180.0,
            overexposed_clipped_fraction: 0.35,
            max_clipped_fraction: 0.08,
        }
    }
}

/// Grayscale copy (BT.601 luma) reduced by an integer box filter k so that its long edge is
/// at most `max_long_edge`; the last k − 1 columns and rows at most are left out, which
/// keeps the aspect within a pixel. Channels are summed over each block first and weighted
/// once, which is the same as averaging the luma and costs a third of the multiplications.
pub(crate) fn reduced_gray(image: &Rgb, max_long_edge: u32) -> LumaImage {
    let (w, h) = (image.width as usize, image.height as usize);
    let k = (w.max(h)).div_ceil(max_long_edge.max(1) as usize).max(1);
    let (gw, gh) = (w / k, h / k);
    let mut gray = vec![0u8; gw * gh];
    let mut acc = vec![0u32; gw * 3];
    let stride = image.stride();
    // Sum of k² samples weighted by 256 in all: divide by k²·256, rounding.
    let div = (k * k * 256) as u32;
    for gy in 0..gh {
        let out = &mut gray[gy * gw..(gy + 1) * gw];
        if k == 2 {
            // The common case (a 2016 px photo): both rows at once, no accumulator.
            let r0 = &image.data[2 * gy * stride..2 * gy * stride + gw * 6];
            let r1 = &image.data[(2 * gy + 1) * stride..(2 * gy + 1) * stride + gw * 6];
            for ((g, a), b) in out
                .iter_mut()
                .zip(r0.chunks_exact(6))
                .zip(r1.chunks_exact(6))
            {
                let r = u32::from(a[0]) + u32::from(a[3]) + u32::from(b[0]) + u32::from(b[3]);
                let gr = u32::from(a[1]) + u32::from(a[4]) + u32::from(b[1]) + u32::from(b[4]);
                let bl = u32::from(a[2]) + u32::from(a[5]) + u32::from(b[2]) + u32::from(b[5]);
                *g = ((77 * r + 150 * gr + 29 * bl + 512) >> 10) as u8;
            }
            continue;
        }
        acc.fill(0);
        for y in gy * k..gy * k + k {
            let row = &image.data[y * stride..y * stride + gw * k * 3];
            for (a, block) in acc.chunks_exact_mut(3).zip(row.chunks_exact(k * 3)) {
                for px in block.chunks_exact(3) {
                    a[0] += u32::from(px[0]);
                    a[1] += u32::from(px[1]);
                    a[2] += u32::from(px[2]);
                }
            }
        }
        for (g, a) in out.iter_mut().zip(acc.chunks_exact(3)) {
            let weighted = 77 * a[0] + 150 * a[1] + 29 * a[2];
            *g = ((weighted + div / 2) / div).min(255) as u8;
        }
    }
    LumaImage {
        width: gw as u32,
        height: gh as u32,
        pixels: gray,
    }
}

/// The figures of an image, taken on its reduced grayscale copy.
pub(crate) fn measure(image: &Rgb) -> QualityReport {
    measure_gray(&reduced_gray(image, MEASURE_LONG_EDGE))
}

/// The figures of a grayscale copy made by [`reduced_gray`] with [`MEASURE_LONG_EDGE`].
pub(crate) fn measure_gray(copy: &LumaImage) -> QualityReport {
    let (w, h, gray) = (copy.width as usize, copy.height as usize, &copy.pixels);
    let count = (w * h).max(1) as f64;
    let mut hist = [0u64; 256];
    for &g in gray {
        hist[g as usize] += 1;
    }
    let sum: u64 = hist.iter().enumerate().map(|(v, &c)| v as u64 * c).sum();
    let clipped: u64 = hist[CLIPPED_LUMA as usize..].iter().sum();
    let crushed: u64 = hist[..=5].iter().sum();
    let percentile = |q: f64| {
        let target = (q * count).ceil() as u64;
        let mut seen = 0;
        for (v, &c) in hist.iter().enumerate() {
            seen += c;
            if seen >= target.max(1) {
                return v as f64;
            }
        }
        255.0
    };
    let mean_luma = sum as f64 / count;
    let sq: f64 = hist
        .iter()
        .enumerate()
        .map(|(v, &c)| (v as f64 - mean_luma).powi(2) * c as f64)
        .sum();

    let (mut s1, mut s2, mut n) = (0i64, 0i64, 0i64);
    for y in 1..h.saturating_sub(1) {
        let (up, row, down) = (
            &gray[(y - 1) * w..y * w],
            &gray[y * w..(y + 1) * w],
            &gray[(y + 1) * w..(y + 2) * w],
        );
        // Per-row sums fit 32 bits (|lap| ≤ 1020, rows ≤ 1024 wide), which lets the
        // loop vectorise; the totals are kept in 64.
        let (mut r1, mut r2) = (0i32, 0u32);
        for x in 1..w.saturating_sub(1) {
            let lap = i32::from(up[x])
                + i32::from(down[x])
                + i32::from(row[x - 1])
                + i32::from(row[x + 1])
                - 4 * i32::from(row[x]);
            r1 += lap;
            r2 += lap.unsigned_abs() * lap.unsigned_abs();
        }
        s1 += i64::from(r1);
        s2 += i64::from(r2);
        n += w.saturating_sub(2) as i64;
    }
    let sharpness = if n > 0 {
        let mean = s1 as f64 / n as f64;
        s2 as f64 / n as f64 - mean * mean
    } else {
        0.0
    };
    QualityReport {
        sharpness,
        mean_luma,
        clipped_fraction: clipped as f64 / count,
        crushed_fraction: crushed as f64 / count,
        p10_luma: percentile(0.10),
        median_luma: percentile(0.5),
        contrast: (sq / count).sqrt(),
        measured_width: w as u32,
        measured_height: h as u32,
    }
}

/// Refuses a photo that fails a check. Exposure comes first: a dark photo also measures
/// soft, and "too dark" is the advice that helps. Overexposure (the whole photo lifted, or
/// most of it blown out) is told apart from glare (a blown-out patch on a normal photo).
pub(crate) fn judge(
    report: &QualityReport,
    kind: PhotoKind,
    t: &Thresholds,
) -> Result<(), PipelineError> {
    if report.mean_luma < t.min_mean_luma {
        return Err(PipelineError::TooDark {
            mean_luma: report.mean_luma,
            min: t.min_mean_luma,
        });
    }
    if report.median_luma > t.max_median_luma
        || report.clipped_fraction > t.overexposed_clipped_fraction
    {
        return Err(PipelineError::TooBright {
            median_luma: report.median_luma,
            max: t.max_median_luma,
        });
    }
    // A liveness frame is judged for the face only; a window behind the principal is fine.
    if kind != PhotoKind::Frame && report.clipped_fraction > t.max_clipped_fraction {
        return Err(PipelineError::Glare {
            clipped_fraction: report.clipped_fraction,
            max: t.max_clipped_fraction,
        });
    }
    let min_sharpness = if kind == PhotoKind::Frame {
        t.min_sharpness_frame
    } else {
        t.min_sharpness
    };
    if report.sharpness < min_sharpness {
        return Err(PipelineError::TooBlurry {
            sharpness: report.sharpness,
            min: min_sharpness,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: u32, h: u32, v: u8) -> Rgb {
        Rgb {
            width: w,
            height: h,
            data: vec![v; (w * h * 3) as usize],
        }
    }

    #[test]
    fn reduces_to_at_most_the_measure_size() {
        let size = |img: &Rgb, max: u32| {
            let g = reduced_gray(img, max);
            assert_eq!(g.pixels.len(), (g.width * g.height) as usize);
            (g.width, g.height)
        };
        assert_eq!(size(&flat(2016, 1512, 0), MEASURE_LONG_EDGE), (1008, 756));
        assert_eq!(size(&flat(900, 700, 0), MEASURE_LONG_EDGE), (900, 700));
        assert_eq!(size(&flat(2048, 1536, 0), 1024), (1024, 768));
        assert_eq!(size(&flat(1536, 2048, 0), 640), (384, 512));
    }

    #[test]
    fn the_gray_copy_is_bt601_luma() {
        // Pure red, green and blue thirds: 0.299, 0.587, 0.114 of 255.
        let mut img = flat(30, 10, 0);
        for (i, px) in img.data.chunks_exact_mut(3).enumerate() {
            px[(i % 30) / 10] = 255;
        }
        let g = reduced_gray(&img, 1024);
        for (at, weight) in [(0, 0.299), (10, 0.587), (20, 0.114)] {
            let want = weight * 255.0;
            let got = f64::from(g.pixels[at]);
            assert!(
                (got - want).abs() <= 1.0,
                "pixel {at}: {got}, BT.601 {want:.1}"
            );
        }
    }

    #[test]
    fn flat_gray_has_no_sharpness_and_its_own_luma() {
        let r = measure(&flat(1000, 800, 128));
        assert_eq!(r.sharpness, 0.0);
        assert!((r.mean_luma - 128.0).abs() < 0.6, "{}", r.mean_luma);
        assert_eq!(r.clipped_fraction, 0.0);
    }

    #[test]
    fn a_checkerboard_is_sharp_and_white_is_clipped() {
        let (w, h) = (1000u32, 800u32);
        let mut img = flat(w, h, 0);
        for y in 0..h as usize {
            for x in 0..w as usize {
                if (x / 4 + y / 4) % 2 == 0 {
                    img.data[(y * w as usize + x) * 3..][..3].fill(255);
                }
            }
        }
        let r = measure(&img);
        assert!(r.sharpness > 1000.0, "{}", r.sharpness);
        assert!(
            (r.clipped_fraction - 0.5).abs() < 0.01,
            "{}",
            r.clipped_fraction
        );
    }

    #[test]
    fn exposure_is_judged_before_sharpness() {
        let t = Thresholds::default();
        let dark = QualityReport {
            mean_luma: 10.0,
            ..Default::default()
        };
        assert_eq!(
            judge(&dark, PhotoKind::Front, &t).unwrap_err().code(),
            "too_dark"
        );
        let bright = QualityReport {
            mean_luma: 200.0,
            median_luma: 210.0,
            ..Default::default()
        };
        assert_eq!(
            judge(&bright, PhotoKind::Front, &t).unwrap_err().code(),
            "too_bright"
        );
        let soft = QualityReport {
            mean_luma: 120.0,
            sharpness: 1.0,
            ..Default::default()
        };
        assert_eq!(
            judge(&soft, PhotoKind::Front, &t).unwrap_err().code(),
            "too_blurry"
        );
    }

    #[test]
    fn glare_is_not_judged_on_liveness_frames() {
        let t = Thresholds::default();
        let r = QualityReport {
            mean_luma: 150.0,
            median_luma: 140.0,
            sharpness: 500.0,
            clipped_fraction: 0.2,
            ..Default::default()
        };
        assert_eq!(judge(&r, PhotoKind::Back, &t).unwrap_err().code(), "glare");
        assert!(judge(&r, PhotoKind::Frame, &t).is_ok());
    }
}
