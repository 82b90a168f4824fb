//! Scales the long edge down to the limit with a Lanczos3 convolution (fast_image_resize,
//! SIMD). Never scales up. Most phone JPEGs arrive here already at size from the DCT
//! scaling in `decode` and pass through untouched.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::decode::zeroed;
use super::error::PipelineError;
use super::Rgb;

/// Output size for an image of `width`×`height` whose long edge must not exceed `max`.
pub(crate) fn fitted_size(width: u32, height: u32, max: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max {
        return (width, height);
    }
    let fit = |d: u32| {
        ((u64::from(d) * u64::from(max) + u64::from(long) / 2) / u64::from(long)).max(1) as u32
    };
    (fit(width), fit(height))
}

pub(crate) fn fit_long_edge(image: Rgb, max: u32) -> Result<Rgb, PipelineError> {
    let (w, h) = fitted_size(image.width, image.height, max);
    resize(image, w, h)
}

/// Lanczos3 resize to exactly `w`×`h` (no-op at the same size).
pub(crate) fn resize(image: Rgb, w: u32, h: u32) -> Result<Rgb, PipelineError> {
    if (w, h) == (image.width, image.height) {
        return Ok(image);
    }
    let resize_error = |e: &dyn std::fmt::Display| PipelineError::Internal(format!("resize: {e}"));
    let src = Image::from_vec_u8(image.width, image.height, image.data, PixelType::U8x3)
        .map_err(|e| resize_error(&e))?;
    let mut dst = Image::from_vec_u8(w, h, zeroed(w as usize * h as usize * 3)?, PixelType::U8x3)
        .map_err(|e| resize_error(&e))?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| resize_error(&e))?;
    Ok(Rgb {
        width: w,
        height: h,
        data: dst.into_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_long_edge_and_keeps_the_aspect() {
        assert_eq!(fitted_size(4032, 3024, 2048), (2048, 1536));
        assert_eq!(fitted_size(3024, 4032, 2048), (1536, 2048));
        assert_eq!(fitted_size(2016, 1512, 2048), (2016, 1512));
        assert_eq!(fitted_size(60_000, 10, 2048), (2048, 1));
    }

    #[test]
    fn scales_down_a_flat_image_to_the_same_colour() {
        let image = Rgb {
            width: 3000,
            height: 1000,
            data: [10u8, 200, 90].repeat(3_000_000),
        };
        let out = fit_long_edge(image, 2048).unwrap();
        assert_eq!((out.width, out.height), (2048, 683));
        assert!(out.data.chunks(3).all(|p| p == [10, 200, 90]));
    }
}
