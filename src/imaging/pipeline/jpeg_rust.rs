//! The JPEG backend of default builds, pure Rust: zune-jpeg decodes, jpeg-encoder encodes.
//! Nothing but Rust to build, so `cargo run --release -- serve` works on a bare machine;
//! the `turbojpeg` feature swaps in `jpeg_turbo` (`mod.rs` picks one of the two).
//!
//! zune-jpeg cannot scale in the DCT domain, so the photo is decoded at full size (at most
//! `Options::max_pixels`, 40 MP: 120 MB of RGB) and then reduced to the size
//! libjpeg-turbo's DCT scaling gives (a box average for 1/2, 1/4 and 1/8, which is what
//! that scaling amounts to; otherwise one Lanczos3 pass straight to the output size), so
//! both backends hand on the same size. Progressive and multi-scan JPEGs keep all their
//! coefficients in memory while decoding; that need is worked out from the headers and
//! refused above `JPEG_MAX_MEMORY_MB`, the limit libjpeg-turbo is given.
//!
//! The decoder runs in strict mode: a bad Huffman code, a marker inside the scan data or
//! data that ends early (even by the end marker alone) is an error (`corrupt`), as
//! libjpeg-turbo's warnings are, not a grey patch; data after the end marker is ignored. Arithmetic-coded, lossless, hierarchical and 12-bit JPEGs, which phones do
//! not write, are refused as `corrupt`.

use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
use zune_jpeg::errors::DecodeErrors;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::decode::{dct_numerator, dct_scaled, zeroed, JPEG_MAX_MEMORY_MB, JPEG_SCAN_LIMIT};
use super::error::PipelineError;
use super::scale;
use super::sniff::{self, Header, JpegFrame};
use super::Rgb;

/// Names this backend in `heyan photo` and the benchmark.
pub(crate) const NAME: &str = "pure Rust (zune-jpeg, jpeg-encoder)";

/// Decodes a JPEG whose headers `sniff` has checked, to the size libjpeg-turbo's DCT
/// scaling by [`dct_numerator`]`/8` would give.
pub(crate) fn decode(
    data: &[u8],
    header: &Header,
    max_long_edge: u32,
) -> Result<Rgb, PipelineError> {
    let frame = sniff::jpeg_frame(data)?;
    check_frame(data, &frame, header)?;
    if !ends_after_its_scans(data) {
        return Err(PipelineError::corrupt(
            "jpeg: data ends before the image does",
        ));
    }
    let full = decode_full(data, header)?;
    let num = dct_numerator(header.width.max(header.height), max_long_edge);
    reduce(full, num, max_long_edge)
}

/// Refuses what zune-jpeg does not decode, and whole-image buffers above the limit, before
/// anything is allocated.
fn check_frame(data: &[u8], frame: &JpegFrame<'_>, header: &Header) -> Result<(), PipelineError> {
    let truncated = || PipelineError::corrupt("jpeg: frame header truncated");
    let marker = frame.marker;
    // SOF0 baseline, SOF1 extended sequential, SOF2 progressive, all Huffman-coded.
    if !matches!(marker, 0xC0..=0xC2) {
        return Err(PipelineError::corrupt(format!(
            "jpeg: coding process SOF{} is not supported",
            marker - 0xC0
        )));
    }
    let body = frame.body;
    let precision = *body.first().ok_or_else(truncated)?;
    if precision != 8 {
        return Err(PipelineError::corrupt(format!(
            "jpeg: {precision}-bit samples"
        )));
    }
    let (width, height) = (header.width as usize, header.height as usize);
    let count = usize::from(*body.get(5).ok_or_else(truncated)?);
    let components = body.get(6..6 + 3 * count).ok_or_else(truncated)?;
    // Sampling factors are 1–4; anything else is for the decoder to refuse.
    let factors: Vec<(usize, usize)> = components
        .chunks_exact(3)
        .map(|c| (usize::from(c[1] >> 4).max(1), usize::from(c[1] & 15).max(1)))
        .collect();
    let h_max = factors.iter().map(|f| f.0).max().unwrap_or(1);
    let v_max = factors.iter().map(|f| f.1).max().unwrap_or(1);
    let whole_image = marker == 0xC2
        || (count > 1 && first_scan_components(data, frame).is_some_and(|n| n < count));
    if whole_image {
        // One i16 per coefficient of every block of every component, as zune-jpeg keeps them.
        let (mcus_x, mcus_y) = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
        let blocks: usize = factors.iter().map(|(h, v)| mcus_x * h * mcus_y * v).sum();
        let bytes = blocks * 64 * 2;
        if bytes > JPEG_MAX_MEMORY_MB << 20 {
            return Err(PipelineError::corrupt(format!(
                "jpeg: whole-image buffers of {} MB exceed {JPEG_MAX_MEMORY_MB} MB",
                bytes >> 20
            )));
        }
    }
    Ok(())
}

/// How many components the first scan carries; `None` when the headers break off first
/// (the decoder then says why).
fn first_scan_components(data: &[u8], frame: &JpegFrame<'_>) -> Option<usize> {
    let mut at = frame.end;
    loop {
        let segment = sniff::jpeg_segment(data, at).ok()??;
        if segment.marker == 0xDA {
            return segment.body.first().map(|&n| usize::from(n));
        }
        at = segment.end;
    }
}

/// Whether an end-of-image marker follows the last scan header. Entropy-coded data cannot
/// hold one (0xFF is stuffed as FF 00), so a file cut anywhere after its first scan header
/// has none; zune-jpeg would fill the last few missing bytes in instead of failing, where
/// libjpeg-turbo refuses the file. Searched backwards: usually a few bytes from the end.
fn ends_after_its_scans(data: &[u8]) -> bool {
    data.windows(2)
        .rev()
        .find_map(|w| match w {
            [0xFF, 0xD9] => Some(true),
            [0xFF, 0xDA] => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

fn corrupt(e: DecodeErrors) -> PipelineError {
    PipelineError::corrupt(format!("jpeg: {e}"))
}

fn decode_full(data: &[u8], header: &Header) -> Result<Rgb, PipelineError> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        // Exactly the frame `sniff` measured, which may be wider than zune's default limit.
        .set_max_width(header.width as usize)
        .set_max_height(header.height as usize)
        .jpeg_set_max_scans(JPEG_SCAN_LIMIT)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder.decode_headers().map_err(corrupt)?;
    if decoder.dimensions() != Some((header.width as usize, header.height as usize)) {
        // The first frame header we parsed must be the one zune-jpeg decodes; a mismatch
        // means a crafted file trying to slip past the size check.
        return Err(PipelineError::corrupt(
            "jpeg: frame size differs from header",
        ));
    }
    let len = header.width as usize * header.height as usize * 3;
    if decoder.output_buffer_size() != Some(len) {
        return Err(PipelineError::corrupt("jpeg: unexpected output size"));
    }
    let mut buf = zeroed(len)?;
    // Grayscale is widened to RGB; CMYK (Adobe's inverted inks) and YCCK become
    // R = C·K / 255 and so on, as in the libjpeg-turbo backend.
    decoder.decode_into(&mut buf).map_err(corrupt)?;
    Ok(Rgb {
        width: header.width,
        height: header.height,
        data: buf,
    })
}

/// From full size to the size DCT scaling by `num`/8 gives (and for factors that are not
/// 1/2, 1/4 or 1/8, on to the output size in the same pass).
fn reduce(full: Rgb, num: u32, max_long_edge: u32) -> Result<Rgb, PipelineError> {
    if num >= 8 {
        return Ok(full);
    }
    if 8 % num == 0 {
        return Ok(box_reduce(full, (8 / num) as usize));
    }
    let (w, h) = scale::fitted_size(
        dct_scaled(full.width, num),
        dct_scaled(full.height, num),
        max_long_edge,
    );
    scale::resize(full, w, h)
}

/// Averages blocks of `k`×`k` pixels (the right and bottom edge blocks what they hold), in
/// place: output row `y` ends before input row `(y + 1)·k`, the next one still to be read.
fn box_reduce(mut image: Rgb, k: usize) -> Rgb {
    let (w, h) = (image.width as usize, image.height as usize);
    let (ow, oh) = (w.div_ceil(k), h.div_ceil(k));
    let mut acc = vec![0u32; ow * 3];
    for oy in 0..oh {
        let rows = oy * k..((oy + 1) * k).min(h);
        let n_rows = rows.len();
        acc.fill(0);
        for y in rows {
            let row = &image.data[y * w * 3..(y + 1) * w * 3];
            if k == 2 {
                // The common case (a 4032 px photo to 2016): pairs, no inner loop.
                for (a, pair) in acc.chunks_exact_mut(3).zip(row.chunks_exact(6)) {
                    a[0] += u32::from(pair[0]) + u32::from(pair[3]);
                    a[1] += u32::from(pair[1]) + u32::from(pair[4]);
                    a[2] += u32::from(pair[2]) + u32::from(pair[5]);
                }
                if w % 2 == 1 {
                    let (a, px) = (&mut acc[(ow - 1) * 3..], &row[(w - 1) * 3..]);
                    for c in 0..3 {
                        a[c] += u32::from(px[c]);
                    }
                }
                continue;
            }
            for (a, block) in acc.chunks_exact_mut(3).zip(row.chunks(k * 3)) {
                for px in block.chunks_exact(3) {
                    a[0] += u32::from(px[0]);
                    a[1] += u32::from(px[1]);
                    a[2] += u32::from(px[2]);
                }
            }
        }
        let out = &mut image.data[oy * ow * 3..(oy + 1) * ow * 3];
        for (ox, (o, a)) in out.chunks_exact_mut(3).zip(acc.chunks_exact(3)).enumerate() {
            let n = ((w - ox * k).min(k) * n_rows) as u32;
            for c in 0..3 {
                o[c] = ((a[c] + n / 2) / n) as u8;
            }
        }
    }
    image.data.truncate(ow * oh * 3);
    image.data.shrink_to_fit();
    Rgb {
        width: ow as u32,
        height: oh as u32,
        data: image.data,
    }
}

/// Encodes RGB pixels as a baseline 4:2:0 JPEG with a JFIF header and nothing else.
pub(crate) fn encode(image: &Rgb, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let too_large = || PipelineError::Internal("jpeg encoder: image too large".into());
    let width = u16::try_from(image.width).map_err(|_| too_large())?;
    let height = u16::try_from(image.height).map_err(|_| too_large())?;
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    // Chroma averaged over each 2×2 block, as libjpeg does, rather than one pixel of it.
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder
        .encode(&image.data, width, height, ColorType::Rgb)
        .map_err(|e| PipelineError::Internal(format!("jpeg encoder: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> Rgb {
        let data = (0..height)
            .flat_map(|y| (0..width).flat_map(move |x| [(x % 256) as u8, (y % 256) as u8, 90]))
            .collect();
        Rgb {
            width,
            height,
            data,
        }
    }

    #[test]
    fn reduces_to_the_size_dct_scaling_gives() {
        // (size, numerator, limit, expected): 1/2 by box average, 6/8 straight to the limit.
        let cases = [
            ((4032, 3024), 4, 2048, (2016, 1512)),
            ((4033, 3025), 4, 2048, (2017, 1513)),
            ((8064, 6048), 2, 2048, (2016, 1512)),
            ((3000, 2250), 6, 2048, (2048, 1536)),
            ((1000, 750), 8, 2048, (1000, 750)),
        ];
        for ((w, h), num, limit, want) in cases {
            let out = reduce(gradient(w, h), num, limit).unwrap();
            assert_eq!((out.width, out.height), want, "{w}x{h} at {num}/8");
            assert_eq!(out.data.len(), (want.0 * want.1 * 3) as usize);
        }
    }

    #[test]
    fn box_reduction_averages_whole_blocks_and_edges() {
        // 5×3 gray: value x·10 + y. Factor 2 gives 3×2, factor 4 gives 2×1.
        let image = Rgb {
            width: 5,
            height: 3,
            data: (0..3u8)
                .flat_map(|y| (0..5u8).flat_map(move |x| [x * 10 + y; 3]))
                .collect(),
        };
        let firsts = |img: &Rgb| img.data.chunks(3).map(|p| p[0]).collect::<Vec<_>>();
        let half = box_reduce(image.clone(), 2);
        assert_eq!((half.width, half.height), (3, 2));
        // (0,10,1,11)/4≈6, (20,30,21,31)/4≈26, (40,41)/2≈41, then the last row alone.
        assert_eq!(firsts(&half), vec![6, 26, 41, 7, 27, 42]);
        let quarter = box_reduce(image, 4);
        assert_eq!((quarter.width, quarter.height), (2, 1));
        // Columns 0–3 of rows 0–2: mean 16; column 4: 41.
        assert_eq!(firsts(&quarter), vec![16, 41]);
        let rgb = Rgb {
            width: 2,
            height: 2,
            data: vec![0, 10, 20, 100, 110, 120, 50, 60, 70, 250, 251, 252],
        };
        assert_eq!(box_reduce(rgb, 2).data, vec![100, 108, 116]);
    }

    #[test]
    fn arithmetic_and_12_bit_frames_are_corrupt() {
        let frame = |sof: u8, precision: u8| {
            let mut jpeg = vec![0xFF, 0xD8, 0xFF, sof, 0, 11, precision, 0, 16, 0, 16, 1];
            jpeg.extend_from_slice(&[1, 0x11, 0, 0xFF, 0xD9]);
            jpeg
        };
        for (what, jpeg) in [
            ("arithmetic", frame(0xC9, 8)),
            ("lossless", frame(0xC3, 8)),
            ("12-bit", frame(0xC1, 12)),
        ] {
            let header = sniff::read_header(&jpeg).unwrap();
            let err = decode(&jpeg, &header, 2048).unwrap_err();
            assert_eq!(err.code(), "corrupt", "{what}");
        }
    }

    #[test]
    fn a_progressive_frame_needing_too_much_memory_is_refused_before_decoding() {
        // 7000×5700 (39.9 MP) progressive 4:4:4: 240 MB of coefficients.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC2, 0, 17, 8];
        jpeg.extend_from_slice(&5700u16.to_be_bytes());
        jpeg.extend_from_slice(&7000u16.to_be_bytes());
        jpeg.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg.extend_from_slice(&[0u8; 64]);
        let header = sniff::read_header(&jpeg).unwrap();
        let started = std::time::Instant::now();
        let err = decode(&jpeg, &header, 2048).unwrap_err();
        assert_eq!(err.code(), "corrupt");
        assert!(format!("{err:?}").contains("MB"), "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }
}
