//! Decodes an accepted format into 8-bit RGB, as small as the output allows: JPEG through
//! libjpeg-turbo with DCT-domain scaling, PNG row by row with an area-average prescale,
//! WebP whole. Alpha is flattened on white; grayscale, paletted, 16-bit and CMYK inputs all
//! come out as RGB.
//!
//! Runs only after `sniff` has checked the declared dimensions; the decoders' own limits
//! (pixel count, scan count, intermediate memory) are a second line of defence. Buffers
//! are reserved fallibly, so a size that slips through is an error, never an abort.

use std::ffi::CStr;
use std::io::Cursor;

use turbojpeg::raw;

use super::error::PipelineError;
use super::sniff::{Format, Header};
use super::Rgb;

/// Most progressive scans a JPEG may have; libjpeg-turbo's advice against scan bombs.
const JPEG_SCAN_LIMIT: i32 = 500;
/// Megabytes libjpeg-turbo may use for whole-image buffers (progressive and arithmetic
/// JPEGs); a 40 MP progressive 4:2:0 JPEG needs about 120.
const JPEG_MAX_MEMORY_MB: i32 = 160;
/// Bytes the WebP decoder may allocate besides the output.
const WEBP_MEMORY_LIMIT: usize = 64 << 20;
/// Bytes the PNG decoder may allocate besides the output (its own default).
const PNG_MEMORY_LIMIT: usize = 64 << 20;

pub(crate) fn decode(
    data: &[u8],
    header: &Header,
    max_long_edge: u32,
) -> Result<Rgb, PipelineError> {
    match header.format {
        Format::Jpeg => decode_jpeg(data, header, max_long_edge),
        Format::Png => decode_png(data, header, max_long_edge),
        Format::WebP => decode_webp(data, header, max_long_edge),
    }
}

pub(crate) fn zeroed(len: usize) -> Result<Vec<u8>, PipelineError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| PipelineError::Internal(format!("cannot allocate {len} bytes")))?;
    v.resize(len, 0);
    Ok(v)
}

/// The DCT scaling numerator n (the factor is n/8) for a JPEG whose long edge is `long`.
///
/// The smallest n whose output still reaches 95% of the limit: a 4032 px phone photo is
/// decoded at 1/2 straight to 2016 px and needs no resampling, a 3000 px one at 6/8
/// (2250 px) and is then resampled to 2048.
pub(crate) fn dct_numerator(long: u32, max_long_edge: u32) -> u32 {
    let floor = u64::from(max_long_edge) * 95 / 100;
    (1..=8)
        .find(|&n| (u64::from(long) * u64::from(n)).div_ceil(8) >= floor)
        .unwrap_or(8)
}

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

fn decode_jpeg(data: &[u8], header: &Header, max_long_edge: u32) -> Result<Rgb, PipelineError> {
    let mut tj = TjDecompressor::new()?;
    // Warnings are judged below rather than aborting at the first one.
    tj.set(raw::TJPARAM_TJPARAM_STOPONWARNING, 0)?;
    tj.set(raw::TJPARAM_TJPARAM_SCANLIMIT, JPEG_SCAN_LIMIT)?;
    tj.set(raw::TJPARAM_TJPARAM_MAXMEMORY, JPEG_MAX_MEMORY_MB)?;
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
    let scaled = |d: u32| (u64::from(d) * u64::from(num)).div_ceil(8) as u32;
    let (w, h) = (scaled(header.width), scaled(header.height));
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

/// Integer area-average prescale while rows stream in, then flattening to RGB. Keeps a
/// 40 MP PNG from ever existing in memory at full size.
struct RowSink {
    in_width: usize,
    factor: usize,
    out_width: usize,
    acc: Vec<u32>,
    rows_in_acc: usize,
    out: Vec<u8>,
    rgb_row: Vec<u8>,
}

impl RowSink {
    fn new(width: u32, height: u32, max_long_edge: u32) -> Result<Self, PipelineError> {
        let long = width.max(height);
        // Down to no less than the limit: the final resample then does the last < 2×.
        let factor = (long / max_long_edge.max(1)).max(1) as usize;
        let out_width = (width as usize).div_ceil(factor);
        let out_height = (height as usize).div_ceil(factor);
        Ok(RowSink {
            in_width: width as usize,
            factor,
            out_width,
            acc: vec![0; out_width * 3],
            rows_in_acc: 0,
            out: {
                let mut v = Vec::new();
                v.try_reserve_exact(out_width * out_height * 3)
                    .map_err(|_| PipelineError::Internal("cannot allocate output".into()))?;
                v
            },
            rgb_row: vec![0; width as usize * 3],
        })
    }

    /// Takes one row of 8-bit samples with `channels` per pixel (gray, gray+alpha, RGB,
    /// RGBA); alpha is flattened on white.
    fn push(&mut self, row: &[u8], channels: usize) -> Result<(), PipelineError> {
        if row.len() < self.in_width * channels {
            return Err(PipelineError::corrupt("short row"));
        }
        let rgb = &mut self.rgb_row;
        match channels {
            1 => {
                for (o, &v) in rgb.chunks_exact_mut(3).zip(row) {
                    o.fill(v);
                }
            }
            2 => {
                for (o, p) in rgb.chunks_exact_mut(3).zip(row.chunks_exact(2)) {
                    o.fill(over_white(p[0], p[1]));
                }
            }
            3 => rgb.copy_from_slice(&row[..self.in_width * 3]),
            4 => {
                for (o, p) in rgb.chunks_exact_mut(3).zip(row.chunks_exact(4)) {
                    for c in 0..3 {
                        o[c] = over_white(p[c], p[3]);
                    }
                }
            }
            _ => return Err(PipelineError::corrupt("unexpected channel count")),
        }
        if self.factor == 1 {
            self.out.extend_from_slice(rgb);
            return Ok(());
        }
        for (x, px) in rgb.chunks_exact(3).enumerate() {
            let o = x / self.factor * 3;
            self.acc[o] += u32::from(px[0]);
            self.acc[o + 1] += u32::from(px[1]);
            self.acc[o + 2] += u32::from(px[2]);
        }
        self.rows_in_acc += 1;
        if self.rows_in_acc == self.factor {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        if self.rows_in_acc == 0 {
            return;
        }
        for ox in 0..self.out_width {
            let cols = (self.in_width - ox * self.factor).min(self.factor);
            let n = (cols * self.rows_in_acc) as u32;
            for c in 0..3 {
                let sum = &mut self.acc[ox * 3 + c];
                self.out.push(((*sum + n / 2) / n) as u8);
                *sum = 0;
            }
        }
        self.rows_in_acc = 0;
    }

    fn finish(mut self, expected_rows: u32) -> Result<Rgb, PipelineError> {
        self.flush();
        let height = self.out.len() / (self.out_width * 3);
        if height != (expected_rows as usize).div_ceil(self.factor) {
            return Err(PipelineError::corrupt("image data ends early"));
        }
        Ok(Rgb {
            width: self.out_width as u32,
            height: height as u32,
            data: self.out,
        })
    }
}

fn over_white(v: u8, a: u8) -> u8 {
    let (v, a) = (u32::from(v), u32::from(a));
    ((v * a + 255 * (255 - a) + 127) / 255) as u8
}

fn decode_png(data: &[u8], header: &Header, max_long_edge: u32) -> Result<Rgb, PipelineError> {
    let corrupt = |e: png::DecodingError| PipelineError::corrupt(format!("png: {e}"));
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(data),
        png::Limits {
            bytes: PNG_MEMORY_LIMIT,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let info = reader.info();
    if (info.width, info.height) != (header.width, header.height) {
        return Err(PipelineError::corrupt("png: size differs from header"));
    }
    let interlaced = info.interlaced;
    let (color, _) = reader.output_color_type();
    let channels = match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(PipelineError::corrupt("png: palette not expanded")),
    };
    let mut sink = RowSink::new(header.width, header.height, max_long_edge)?;
    if interlaced {
        // Adam7 passes arrive out of row order: decode the frame whole, then stream it.
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| PipelineError::corrupt("png: frame too large"))?;
        let mut frame = zeroed(size)?;
        let out = reader.next_frame(&mut frame).map_err(corrupt)?;
        for row in frame.chunks_exact(out.line_size).take(out.height as usize) {
            sink.push(row, channels)?;
        }
    } else {
        while let Some(row) = reader.next_row().map_err(corrupt)? {
            sink.push(row.data(), channels)?;
        }
    }
    sink.finish(header.height)
}

fn decode_webp(data: &[u8], header: &Header, max_long_edge: u32) -> Result<Rgb, PipelineError> {
    let corrupt = |e: image_webp::DecodingError| PipelineError::corrupt(format!("webp: {e}"));
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(data)).map_err(corrupt)?;
    decoder.set_memory_limit(WEBP_MEMORY_LIMIT);
    if decoder.dimensions() != (header.width, header.height) {
        return Err(PipelineError::corrupt("webp: size differs from header"));
    }
    let channels = if decoder.has_alpha() { 4 } else { 3 };
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| PipelineError::corrupt("webp: frame too large"))?;
    let mut frame = zeroed(size)?;
    // Animated files yield their first frame.
    decoder.read_image(&mut frame).map_err(corrupt)?;
    let mut sink = RowSink::new(header.width, header.height, max_long_edge)?;
    for row in frame.chunks_exact(header.width as usize * channels) {
        sink.push(row, channels)?;
    }
    sink.finish(header.height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_scaling_reaches_the_limit_or_just_under_it() {
        // (long edge, limit, numerator): phone photos go straight to 1/2.
        let cases = [
            (4032, 2048, 4),
            (4000, 2048, 4),
            (3000, 2048, 6),
            (2048, 2048, 8),
            (1000, 2048, 8),
            (8064, 2048, 2),
            (16000, 2048, 1),
        ];
        for (long, limit, want) in cases {
            assert_eq!(dct_numerator(long, limit), want, "long edge {long}");
        }
    }

    #[test]
    fn alpha_is_flattened_on_white() {
        assert_eq!(over_white(0, 0), 255);
        assert_eq!(over_white(0, 255), 0);
        assert_eq!(over_white(100, 128), 177);
    }

    #[test]
    fn row_sink_averages_whole_blocks_and_edges() {
        let mut sink = RowSink::new(5, 3, 2).unwrap();
        assert_eq!(sink.factor, 2);
        for y in 0..3u8 {
            let row: Vec<u8> = (0..5u8).map(|x| x * 10 + y).collect();
            sink.push(&row, 1).unwrap();
        }
        let out = sink.finish(3).unwrap();
        assert_eq!((out.width, out.height), (3, 2));
        let firsts: Vec<u8> = out.data.chunks(3).map(|p| p[0]).collect();
        // Block means: (0,10,1,11)/4≈6, (20,30,21,31)/4≈26, (40,41)/2≈41, then the last row alone.
        assert_eq!(firsts, vec![6, 26, 41, 7, 27, 42]);
    }

    #[test]
    fn cmyk_inverted_inks_map_to_rgb() {
        assert_eq!(
            cmyk_to_rgb(vec![255, 255, 255, 255, 0, 255, 255, 255]),
            vec![255, 255, 255, 0, 255, 255]
        );
    }
}
