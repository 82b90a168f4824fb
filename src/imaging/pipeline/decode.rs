//! Decodes an accepted format into 8-bit RGB, as small as the output allows: JPEG through
//! the build's JPEG backend (`super::jpeg`: libjpeg-turbo with DCT-domain scaling, or pure
//! Rust decoding at full size and reducing to the same size), PNG row by row with an
//! area-average prescale, WebP whole. Alpha is flattened on white; grayscale, paletted,
//! 16-bit and CMYK inputs all come out as RGB.
//!
//! Runs only after `sniff` has checked the declared dimensions; the decoders' own limits
//! (pixel count, scan count, intermediate memory) are a second line of defence. Buffers
//! are reserved fallibly, so a size that slips through is an error, never an abort.

use std::io::Cursor;

use super::error::PipelineError;
use super::jpeg;
use super::sniff::{Format, Header};
use super::Rgb;

/// Most progressive scans a JPEG may have; libjpeg-turbo's advice against scan bombs.
pub(crate) const JPEG_SCAN_LIMIT: usize = 500;
/// Megabytes a JPEG decoder may use for whole-image coefficient buffers (progressive and
/// multi-scan JPEGs); a 40 MP progressive 4:2:0 JPEG needs about 120.
pub(crate) const JPEG_MAX_MEMORY_MB: usize = 160;
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
        Format::Jpeg => jpeg::decode(data, header, max_long_edge),
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
/// (2250 px) and is then resampled to 2048. Both JPEG backends hand on this size, so the
/// output does not depend on the backend.
pub(crate) fn dct_numerator(long: u32, max_long_edge: u32) -> u32 {
    let floor = u64::from(max_long_edge) * 95 / 100;
    (1..=8)
        .find(|&n| (u64::from(long) * u64::from(n)).div_ceil(8) >= floor)
        .unwrap_or(8)
}

/// A side of `d` pixels scaled by n/8, rounded up as libjpeg-turbo does.
pub(crate) fn dct_scaled(d: u32, n: u32) -> u32 {
    (u64::from(d) * u64::from(n)).div_ceil(8) as u32
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
}
