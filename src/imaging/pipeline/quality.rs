//! Sharpness and exposure checks, measured on a reduced grayscale copy so that the figures
//! do not depend on the upload's resolution and cost little: the copy's long edge is at
//! most [`MEASURE_LONG_EDGE`] pixels.
//!
//! Sharpness is taken on the whole copy; exposure on the **subject**, the part of the photo
//! that differs from its surroundings (the card on a desk, the principal in front of a
//! wall; [`find_subject`]), by clipping and contrast there. A white desk or wall is no
//! reason to refuse a photo, a blown-out or washed-out card is.
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

/// A rectangle of the reduced grayscale copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// What the checks measured. Sharpness and the `subject_*` figures are judged; the other
/// exposure figures, of the whole copy, are reported for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QualityReport {
    /// Variance of the 4-neighbour Laplacian of the reduced grayscale copy: high for crisp
    /// edges, low for defocus and shake.
    pub sharpness: f64,
    /// Mean luma of the whole copy (BT.601, 0–255).
    pub mean_luma: f64,
    /// Share of the whole copy's pixels at or above [`CLIPPED_LUMA`].
    pub clipped_fraction: f64,
    /// Share of pixels at or below 5 (crushed shadows); reported, not judged.
    pub crushed_fraction: f64,
    /// 10th percentile of luma: overexposure lifts even the shadows.
    pub p10_luma: f64,
    /// Median luma of the whole copy.
    pub median_luma: f64,
    /// Standard deviation of luma (global contrast).
    pub contrast: f64,
    /// Size of the copy the figures were taken on.
    pub measured_width: u32,
    /// Height of that copy.
    pub measured_height: u32,
    /// Where exposure was judged, on the copy: the subject's bounding box, or the centre
    /// when no subject stood out (`subject_found` false).
    pub subject: Region,
    /// True when a subject stood out from the photo's border.
    pub subject_found: bool,
    /// Mean luma of the subject.
    pub subject_mean_luma: f64,
    /// 5th percentile of the subject's luma: its darkest print, hair or eyes. Pale when
    /// flare or overexposure washed the subject out.
    pub subject_p5_luma: f64,
    /// Median luma of the subject.
    pub subject_median_luma: f64,
    /// 95th percentile of the subject's luma.
    pub subject_p95_luma: f64,
    /// Share of the subject's pixels at or above [`CLIPPED_LUMA`].
    pub subject_clipped_fraction: f64,
}

impl QualityReport {
    /// The figures against their thresholds, one per line (for `heyan photo`).
    pub fn summary(&self, t: &Thresholds) -> String {
        format!(
            "sharpness   {:.1} (min {:.1}; liveness frames {:.1})\n\
             whole photo mean luma {:.1}, median {:.0}, clipped {:.4} (not judged)\n\
             subject     {} {}x{} at ({}, {})\n\
             mean luma   {:.1} (min {:.1})\n\
             p5 luma     {:.0} (max {:.0}: washed out above)\n\
             median luma {:.0} (above {:.0}, clipped may not pass {:.2})\n\
             p95 luma    {:.0}\n\
             clipped     {:.4} (max {:.2} as glare, {:.2} as overexposure)\n\
             measured on {}x{}\n",
            self.sharpness,
            t.min_sharpness,
            t.min_sharpness_frame,
            self.mean_luma,
            self.median_luma,
            self.clipped_fraction,
            if self.subject_found {
                "found"
            } else {
                "centre (none stood out)"
            },
            self.subject.width,
            self.subject.height,
            self.subject.x,
            self.subject.y,
            self.subject_mean_luma,
            t.min_mean_luma,
            self.subject_p5_luma,
            t.max_shadow_luma,
            self.subject_median_luma,
            t.max_median_luma,
            t.lifted_clipped_fraction,
            self.subject_p95_luma,
            self.subject_clipped_fraction,
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
    /// Least mean luma of the subject.
    pub min_mean_luma: f64,
    /// Greatest 5th percentile of the subject's luma: above it even the subject's darkest
    /// part is pale, and the photo is washed out (flare, overexposure) even where nothing
    /// clips.
    pub max_shadow_luma: f64,
    /// A subject with its median above this is light (a white card, a face against a
    /// white wall, or an overexposed photo): it is refused once it clips more than
    /// `lifted_clipped_fraction`. Never refuses a photo alone: a white card is bright
    /// without being overexposed.
    pub max_median_luma: f64,
    /// Greatest share of a light subject (see `max_median_luma`) blown out: a light subject
    /// that starts to clip is being lifted as a whole, and the fix is less light, not
    /// another angle.
    pub lifted_clipped_fraction: f64,
    /// Share of the subject blown out above which the photo counts as overexposed rather
    /// than glared.
    pub overexposed_clipped_fraction: f64,
    /// Greatest share of the subject blown out (glare) on handheld and ID photos.
    pub max_clipped_fraction: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_sharpness: 40.0,
            min_sharpness_frame: 20.0,
            min_mean_luma: 30.0,
            max_shadow_luma: 150.0,
            max_median_luma: 180.0,
            lifted_clipped_fraction: 0.05,
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
    let (subject, subject_found) = match find_subject(copy) {
        Some(region) => (region, true),
        None => (centre(copy), false),
    };
    let stats = region_stats(copy, subject);
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
        subject,
        subject_found,
        subject_mean_luma: stats.mean,
        subject_p5_luma: stats.p5,
        subject_median_luma: stats.median,
        subject_p95_luma: stats.p95,
        subject_clipped_fraction: stats.clipped,
    }
}

/// Tiles along the copy's long edge for [`find_subject`].
const SUBJECT_TILES: u32 = 32;
/// A tile whose mean differs from the border's by more than this belongs to the subject.
const SUBJECT_MEAN_DIFFERENCE: f64 = 16.0;
/// A tile whose standard deviation exceeds this (and three times the border's) has
/// detail (print, a face) and belongs to the subject.
const SUBJECT_DETAIL: f64 = 8.0;
/// A subject smaller than this share of the copy is taken for a speck, not a subject.
const SUBJECT_MIN_SHARE: f64 = 0.04;

/// The subject: the bounding box of the tiles that stand out from the photo's border, in
/// mean luma or in detail. The border is taken for the background (desk, wall) because a
/// card or a person is framed with some margin; a photo busy to its edges (a landscape, a
/// card filling the frame) comes out whole. `None` when nothing stands out, or too little
/// to be a subject.
///
/// One pass over the copy for per-tile sums, then a pass over the tiles: well under a
/// millisecond next to the sharpness measure's pass.
pub(crate) fn find_subject(copy: &LumaImage) -> Option<Region> {
    let (w, h) = (copy.width, copy.height);
    let tile = w.max(h).div_ceil(SUBJECT_TILES).max(4);
    let (tx, ty) = ((w / tile) as usize, (h / tile) as usize);
    if tx < 3 || ty < 3 {
        return None;
    }
    let mut sum = vec![0u64; tx * ty];
    let mut sq = vec![0u64; tx * ty];
    for y in 0..ty * tile as usize {
        let row = &copy.pixels[y * w as usize..][..tx * tile as usize];
        let at = (y / tile as usize) * tx;
        for (i, chunk) in row.chunks_exact(tile as usize).enumerate() {
            let (mut s, mut q) = (0u32, 0u32);
            for &v in chunk {
                s += u32::from(v);
                q += u32::from(v) * u32::from(v);
            }
            sum[at + i] += u64::from(s);
            sq[at + i] += u64::from(q);
        }
    }
    let n = f64::from(tile * tile);
    let stats: Vec<(f64, f64)> = sum
        .iter()
        .zip(&sq)
        .map(|(&s, &q)| {
            let mean = s as f64 / n;
            (mean, (q as f64 / n - mean * mean).max(0.0).sqrt())
        })
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let border: Vec<usize> = (0..tx * ty)
        .filter(|&i| {
            let (x, y) = (i % tx, i / tx);
            x == 0 || y == 0 || x == tx - 1 || y == ty - 1
        })
        .collect();
    let background = median(border.iter().map(|&i| stats[i].0).collect());
    let background_detail = median(border.iter().map(|&i| stats[i].1).collect());
    let detail = SUBJECT_DETAIL.max(3.0 * background_detail);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    let mut tiles = 0usize;
    for (i, &(mean, sd)) in stats.iter().enumerate() {
        if (mean - background).abs() > SUBJECT_MEAN_DIFFERENCE || sd > detail {
            let (x, y) = (i % tx, i / tx);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            tiles += 1;
        }
    }
    if tiles == 0 {
        return None;
    }
    let region = Region {
        x: x0 as u32 * tile,
        y: y0 as u32 * tile,
        width: (x1 - x0 + 1) as u32 * tile,
        height: (y1 - y0 + 1) as u32 * tile,
    };
    let share = f64::from(region.width * region.height) / f64::from(w * h);
    (share >= SUBJECT_MIN_SHARE).then_some(region)
}

/// The middle half of the copy both ways: where a photographer puts the subject.
fn centre(copy: &LumaImage) -> Region {
    Region {
        x: copy.width / 4,
        y: copy.height / 4,
        width: (copy.width / 2).max(1),
        height: (copy.height / 2).max(1),
    }
}

struct RegionStats {
    mean: f64,
    p5: f64,
    median: f64,
    p95: f64,
    clipped: f64,
}

fn region_stats(copy: &LumaImage, r: Region) -> RegionStats {
    let mut hist = [0u64; 256];
    let (x0, x1) = (
        r.x as usize,
        ((r.x + r.width) as usize).min(copy.width as usize),
    );
    let (y0, y1) = (
        r.y as usize,
        ((r.y + r.height) as usize).min(copy.height as usize),
    );
    for y in y0..y1 {
        for &v in &copy.pixels[y * copy.width as usize + x0..y * copy.width as usize + x1] {
            hist[v as usize] += 1;
        }
    }
    let count: u64 = hist.iter().sum();
    if count == 0 {
        return RegionStats {
            mean: 0.0,
            p5: 0.0,
            median: 0.0,
            p95: 0.0,
            clipped: 0.0,
        };
    }
    let sum: u64 = hist.iter().enumerate().map(|(v, &c)| v as u64 * c).sum();
    let percentile = |q: f64| {
        let target = ((q * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (v, &c) in hist.iter().enumerate() {
            seen += c;
            if seen >= target {
                return v as f64;
            }
        }
        255.0
    };
    RegionStats {
        mean: sum as f64 / count as f64,
        p5: percentile(0.05),
        median: percentile(0.5),
        p95: percentile(0.95),
        clipped: hist[CLIPPED_LUMA as usize..].iter().sum::<u64>() as f64 / count as f64,
    }
}

/// Refuses a photo that fails a check. Exposure comes first: a dark photo also measures
/// soft, and "too dark" is the advice that helps. Exposure is judged on the subject, by
/// clipping and contrast: overexposed when most of it is blown out, when even its darkest
/// part is pale (washed out), or when a light subject starts to clip; glare when a patch
/// of an otherwise normal subject is blown out. A bright scene alone is no fault.
pub(crate) fn judge(
    report: &QualityReport,
    kind: PhotoKind,
    t: &Thresholds,
) -> Result<(), PipelineError> {
    if report.subject_mean_luma < t.min_mean_luma {
        return Err(PipelineError::TooDark {
            mean_luma: report.subject_mean_luma,
            min: t.min_mean_luma,
        });
    }
    let clipped = report.subject_clipped_fraction;
    if clipped > t.overexposed_clipped_fraction
        || report.subject_p5_luma > t.max_shadow_luma
        || (clipped > t.lifted_clipped_fraction && report.subject_median_luma > t.max_median_luma)
    {
        return Err(PipelineError::TooBright {
            clipped_fraction: clipped,
            shadow_luma: report.subject_p5_luma,
        });
    }
    // A liveness frame is judged for the face only; a window behind the principal is fine.
    if kind != PhotoKind::Frame && clipped > t.max_clipped_fraction {
        return Err(PipelineError::Glare {
            clipped_fraction: clipped,
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
            subject_mean_luma: 10.0,
            ..Default::default()
        };
        assert_eq!(
            judge(&dark, PhotoKind::Front, &t).unwrap_err().code(),
            "too_dark"
        );
        let bright = QualityReport {
            subject_mean_luma: 200.0,
            subject_median_luma: 240.0,
            subject_clipped_fraction: 0.5,
            ..Default::default()
        };
        assert_eq!(
            judge(&bright, PhotoKind::Front, &t).unwrap_err().code(),
            "too_bright"
        );
        let soft = QualityReport {
            subject_mean_luma: 120.0,
            sharpness: 1.0,
            ..Default::default()
        };
        assert_eq!(
            judge(&soft, PhotoKind::Front, &t).unwrap_err().code(),
            "too_blurry"
        );
    }

    /// A subject of mean 200 and median 230 with dark print (p5 40) and nothing clipped:
    /// a white card, well exposed.
    fn white_card() -> QualityReport {
        QualityReport {
            sharpness: 500.0,
            mean_luma: 235.0,
            median_luma: 245.0,
            subject_mean_luma: 200.0,
            subject_p5_luma: 40.0,
            subject_median_luma: 230.0,
            subject_p95_luma: 245.0,
            ..Default::default()
        }
    }

    #[test]
    fn a_bright_subject_with_dark_print_and_no_clipping_passes() {
        let t = Thresholds::default();
        for kind in [PhotoKind::Front, PhotoKind::Handheld, PhotoKind::Frame] {
            assert!(judge(&white_card(), kind, &t).is_ok(), "{kind:?}");
        }
    }

    #[test]
    fn overexposure_is_clipping_or_lost_shadows_on_the_subject() {
        let t = Thresholds::default();
        let cases = [
            (
                "mostly blown out",
                QualityReport {
                    subject_clipped_fraction: 0.4,
                    ..white_card()
                },
                "too_bright",
            ),
            (
                "washed out: the print is pale grey",
                QualityReport {
                    subject_p5_luma: 190.0,
                    ..white_card()
                },
                "too_bright",
            ),
            (
                "clipping and lifted as a whole",
                QualityReport {
                    subject_clipped_fraction: 0.2,
                    subject_median_luma: 200.0,
                    ..white_card()
                },
                "too_bright",
            ),
            (
                "a blown-out patch on a mid-grey subject",
                QualityReport {
                    subject_clipped_fraction: 0.2,
                    subject_median_luma: 140.0,
                    ..white_card()
                },
                "glare",
            ),
        ];
        for (what, report, want) in cases {
            let got = judge(&report, PhotoKind::Front, &t).unwrap_err();
            assert_eq!(got.code(), want, "{what}");
        }
    }

    #[test]
    fn glare_is_not_judged_on_liveness_frames() {
        let t = Thresholds::default();
        let r = QualityReport {
            subject_mean_luma: 150.0,
            subject_median_luma: 140.0,
            sharpness: 500.0,
            subject_clipped_fraction: 0.2,
            ..Default::default()
        };
        assert_eq!(judge(&r, PhotoKind::Back, &t).unwrap_err().code(), "glare");
        assert!(judge(&r, PhotoKind::Frame, &t).is_ok());
    }

    /// A `w`×`h` copy of luma `background` with a `cw`×`ch` rectangle at (x, y) of luma
    /// `card` carrying dark 2-px strokes every 6 px, like print.
    fn card_copy(
        w: u32,
        h: u32,
        background: u8,
        (x, y, cw, ch): (u32, u32, u32, u32),
        card: u8,
    ) -> LumaImage {
        let mut pixels = vec![background; (w * h) as usize];
        for py in y..y + ch {
            for px in x..x + cw {
                let print = (py / 2) % 3 == 0 && (px / 5) % 4 != 0;
                pixels[(py * w + px) as usize] = if print { 30 } else { card };
            }
        }
        LumaImage {
            width: w,
            height: h,
            pixels,
        }
    }

    #[test]
    fn the_subject_is_the_card_on_a_plain_desk() {
        // A card of 500×320 at (250, 200) on a 1000×750 copy, on white and on black.
        for background in [245u8, 20] {
            let copy = card_copy(1000, 750, background, (250, 200, 500, 320), 215);
            let r = find_subject(&copy).expect("a card stands out");
            let tile = 1000u32.div_ceil(SUBJECT_TILES);
            assert!(
                r.x <= 250 && r.x + tile > 250 && r.y <= 200 && r.y + tile > 200,
                "{background}: {r:?}"
            );
            assert!(
                (500..500 + 2 * tile).contains(&r.width)
                    && (320..320 + 2 * tile).contains(&r.height),
                "{background}: {r:?}"
            );
        }
    }

    #[test]
    fn a_plain_photo_has_no_subject_and_a_busy_one_is_its_own_subject() {
        let plain = card_copy(800, 600, 128, (0, 0, 0, 0), 0);
        assert_eq!(find_subject(&plain), None);
        let report = measure_gray(&plain);
        assert!(!report.subject_found);
        assert_eq!(
            report.subject,
            Region {
                x: 200,
                y: 150,
                width: 400,
                height: 300
            }
        );
        // Detail to the edges, dark on the left and light on the right: a landscape.
        let mut busy = card_copy(800, 600, 128, (0, 0, 800, 600), 200);
        for (i, v) in busy.pixels.iter_mut().enumerate() {
            *v = (u32::from(*v) * (100 + (i as u32 % 800) / 5) / 260) as u8;
        }
        let r = find_subject(&busy).expect("detail everywhere");
        assert!(r.width >= 775 && r.height >= 575, "{r:?}");
    }
}
