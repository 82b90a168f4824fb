//! The JPEG backend of builds with the `turbojpeg` feature: libjpeg-turbo (built from
//! source, so cmake and nasm are needed) decodes with DCT-domain scaling, straight to
//! about the output size, and encodes with its SIMD paths.
//!
//! `jpeg_rust` is the same interface in pure Rust; `mod.rs` picks one of the two.

use std::ffi::CStr;

use turbojpeg::raw;

use super::decode::{dct_numerator, dct_scaled, zeroed, JPEG_MAX_MEMORY_MB, JPEG_SCAN_LIMIT};
use super::error::PipelineError;
use super::sniff::Header;
use super::Rgb;

/// Names this backend in `heyan photo` and the benchmark.
pub(crate) const NAME: &str = "libjpeg-turbo";

struct TjDecompressor(raw::tjhandle);

impl TjDecompressor {
    fn new() -> Result<Self, PipelineError> {
        // SAFETY: tj3Init has no preconditions; a null handle is checked below.
        let handle = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as CInt) };
        if handle.is_null() {
            return Err(PipelineError::Internal("tj3Init failed".into()));
        }
        Ok(TjDecompressor(handle))
    }

    fn set(&mut self, param: raw::TJPARAM, value: CInt) -> Result<(), PipelineError> {
        // SAFETY: the handle is valid for the lifetime of self.
        if unsafe { raw::tj3Set(self.0, param as CInt, value) } != 0 {
            return Err(PipelineError::Internal(format!("tj3Set({param}) failed")));
        }
        Ok(())
    }

    fn get(&mut self, param: raw::TJPARAM) -> CInt {
        // SAFETY: the handle is valid for the lifetime of self.
        unsafe { raw::tj3Get(self.0, param as CInt) }
    }

    /// The last error's message and whether it was only a warning.
    fn last_error(&mut self) -> (String, bool) {
        // SAFETY: the handle is valid; tj3GetErrorStr returns a NUL-terminated string that
        // lives at least until the next call on this handle, and it is copied at once.
        let msg = unsafe { CStr::from_ptr(raw::tj3GetErrorStr(self.0)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above.
        let code = unsafe { raw::tj3GetErrorCode(self.0) };
        (msg, code == raw::TJERR_TJERR_WARNING as CInt)
    }
}

impl Drop for TjDecompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { raw::tj3Destroy(self.0) };
    }
}

type CInt = turbojpeg::libc::c_int;

/// Decodes a JPEG whose headers `sniff` has checked, scaled in the DCT domain by
/// [`dct_numerator`]`/8`.
pub(crate) fn decode(
    data: &[u8],
    header: &Header,
    max_long_edge: u32,
) -> Result<Rgb, PipelineError> {
    let mut tj = TjDecompressor::new()?;
    // Warnings are judged below rather than aborting at the first one.
    tj.set(raw::TJPARAM_TJPARAM_STOPONWARNING, 0)?;
    tj.set(raw::TJPARAM_TJPARAM_SCANLIMIT, JPEG_SCAN_LIMIT as CInt)?;
    tj.set(raw::TJPARAM_TJPARAM_MAXMEMORY, JPEG_MAX_MEMORY_MB as CInt)?;
    let max_pixels = u64::from(header.width) * u64::from(header.height);
    tj.set(
        raw::TJPARAM_TJPARAM_MAXPIXELS,
        CInt::try_from(max_pixels).unwrap_or(CInt::MAX),
    )?;

    // SAFETY: data is a live slice; libjpeg-turbo reads at most data.len() bytes.
    if unsafe { raw::tj3DecompressHeader(tj.0, data.as_ptr(), data.len() as raw::size_t) } != 0 {
        let (msg, _) = tj.last_error();
        return Err(PipelineError::corrupt(format!("jpeg header: {msg}")));
    }
    let width = tj.get(raw::TJPARAM_TJPARAM_JPEGWIDTH);
    let height = tj.get(raw::TJPARAM_TJPARAM_JPEGHEIGHT);
    if (width, height) != (header.width as CInt, header.height as CInt) {
        // The first frame header we parsed must be the one libjpeg-turbo decodes; a
        // mismatch means a crafted file trying to slip past the size check.
        return Err(PipelineError::corrupt(
            "jpeg: frame size differs from header",
        ));
    }
    let precision = tj.get(raw::TJPARAM_TJPARAM_PRECISION);
    if precision != 8 {
        return Err(PipelineError::corrupt(format!(
            "jpeg: {precision}-bit samples"
        )));
    }
    let lossless = tj.get(raw::TJPARAM_TJPARAM_LOSSLESS) != 0;
    let colorspace = tj.get(raw::TJPARAM_TJPARAM_COLORSPACE);
    let cmyk =
        colorspace == raw::TJCS_TJCS_CMYK as CInt || colorspace == raw::TJCS_TJCS_YCCK as CInt;

    let long = header.width.max(header.height);
    let num = if lossless {
        8
    } else {
        dct_numerator(long, max_long_edge)
    };
    let g = gcd(num, 8);
    let factor = raw::tjscalingfactor {
        num: (num / g) as CInt,
        denom: (8 / g) as CInt,
    };
    // SAFETY: the handle is valid; the factor is one of libjpeg-turbo's (n/8, reduced).
    if unsafe { raw::tj3SetScalingFactor(tj.0, factor) } != 0 {
        let (msg, _) = tj.last_error();
        return Err(PipelineError::Internal(format!("scaling factor: {msg}")));
    }
    let (w, h) = (
        dct_scaled(header.width, num),
        dct_scaled(header.height, num),
    );
    let channels = if cmyk { 4 } else { 3 };
    let pixel_format = if cmyk {
        raw::TJPF_TJPF_CMYK
    } else {
        raw::TJPF_TJPF_RGB
    };
    let mut buf = zeroed(w as usize * h as usize * channels)?;

    // SAFETY: buf holds exactly w*h*channels bytes, which is what tj3Decompress8 writes
    // for the scaled size with pitch w*channels; data is a live slice.
    let rc = unsafe {
        raw::tj3Decompress8(
            tj.0,
            data.as_ptr(),
            data.len() as raw::size_t,
            buf.as_mut_ptr(),
            (w as usize * channels) as CInt,
            pixel_format as CInt,
        )
    };
    if rc != 0 {
        let (msg, warning) = tj.last_error();
        // Stray bytes between segments leave every pixel intact (some phone firmware
        // writes them); any other warning means damaged or missing pixel data.
        if !(warning && msg.contains("extraneous bytes")) {
            return Err(PipelineError::corrupt(format!("jpeg: {msg}")));
        }
    }
    if cmyk {
        buf = cmyk_to_rgb(buf);
    }
    Ok(Rgb {
        width: w,
        height: h,
        data: buf,
    })
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// CMYK JPEGs come from Photoshop-style writers, which store the inks inverted (Adobe
/// APP14); without a colour profile the usual approximation is R = C·K / 255.
fn cmyk_to_rgb(cmyk: Vec<u8>) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = u16::from(px[3]);
        for &c in &px[..3] {
            rgb.push(((u16::from(c) * k + 127) / 255) as u8);
        }
    }
    rgb
}

/// Encodes RGB pixels as a baseline 4:2:0 JPEG with a JFIF header and nothing else.
pub(crate) fn encode(image: &Rgb, quality: u8) -> Result<Vec<u8>, PipelineError> {
    use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

    let fail = |e: turbojpeg::Error| PipelineError::Internal(format!("jpeg encoder: {e}"));
    let mut compressor = Compressor::new().map_err(fail)?;
    compressor.set_quality(i32::from(quality)).map_err(fail)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_inverted_inks_map_to_rgb() {
        assert_eq!(
            cmyk_to_rgb(vec![255, 255, 255, 255, 0, 255, 255, 255]),
            vec![255, 255, 255, 0, 255, 255]
        );
    }
}
