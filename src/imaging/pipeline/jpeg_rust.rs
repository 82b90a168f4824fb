//! The JPEG backend of default builds, pure Rust: jpeg-decoder (image-rs) decodes with
//! DCT-domain scaling, rusty_jpeg's encoder (a SIMD descendant of jpeg-encoder) encodes.
//! Nothing but Rust to build, so `cargo run --release -- serve` works on a bare machine;
//! the `turbojpeg` feature swaps in `jpeg_turbo` (`mod.rs` picks one of the two).
//!
//! Why these two (figures in docs/performance.md): jpeg-decoder scales in the DCT domain
//! to 1/2, 1/4 or 1/8, so a 12 MP phone photo is decoded straight to 2016 px without ever
//! being whole at full size; zune-jpeg decodes only at full size, which cost half as much
//! again. The decoder reads bytes from strangers, so it is the long-fuzzed image-rs one.
//! The encoder only ever sees pixels we made, and rusty_jpeg's encodes them in about half
//! the time jpeg-encoder takes.
//!
//! Other scales (a 3000 px photo wants 6/8) are decoded at the next larger scale the
//! decoder has and resampled once with Lanczos3 to the size libjpeg-turbo's scaling would
//! give, so both backends hand on the same size. Progressive and multi-scan JPEGs keep all
//! their coefficients in memory while decoding; that need is worked out from the headers
//! and refused above `JPEG_MAX_MEMORY_MB`, the limit libjpeg-turbo is given.
//!
//! Damage is refused, not painted grey: bad Huffman codes and broken tables are the
//! decoder's errors; a file cut short (no end marker after its last scan) and a stray
//! marker inside a scan's data are found by walking the bytes first, because jpeg-decoder
//! would fill the rest of such a scan with zeros. What that walk cannot see is scan data
//! that stops early at a well-formed marker (a file cut and given a new end marker); it
//! decodes with the missing part grey, as a reviewer will see. Data after the end marker
//! is ignored. Arithmetic-coded, lossless, hierarchical and 12-bit JPEGs, which phones do
//! not write, are refused as `corrupt`.

use rusty_jpeg::encode::{ColorType, Encoder, SamplingFactor};

use super::decode::{dct_numerator, dct_scaled, zeroed, JPEG_MAX_MEMORY_MB, JPEG_SCAN_LIMIT};
use super::error::PipelineError;
use super::scale;
use super::sniff::{self, Header, JpegFrame};
use super::Rgb;

/// Names this backend in `heyan photo` and the benchmark.
pub(crate) const NAME: &str = "pure Rust (jpeg-decoder, rusty_jpeg)";

/// The DCT scales jpeg-decoder has, as numerators of n/8.
const DECODER_SCALES: [u32; 4] = [1, 2, 4, 8];

/// Decodes a JPEG whose headers `sniff` has checked, to the size libjpeg-turbo's DCT
/// scaling by [`dct_numerator`]`/8` would give.
pub(crate) fn decode(
    data: &[u8],
    header: &Header,
    max_long_edge: u32,
) -> Result<Rgb, PipelineError> {
    let frame = sniff::jpeg_frame(data)?;
    check_frame(data, &frame, header)?;
    check_scans(data, &frame)?;
    let num = dct_numerator(header.width.max(header.height), max_long_edge);
    let decoder_num = DECODER_SCALES.into_iter().find(|&s| s >= num).unwrap_or(8);
    let image = decode_scaled(data, header, decoder_num)?;
    if decoder_num == num {
        return Ok(image);
    }
    let (w, h) = scale::fitted_size(
        dct_scaled(header.width, num),
        dct_scaled(header.height, num),
        max_long_edge,
    );
    scale::resize(image, w, h)
}

/// Refuses what jpeg-decoder does not decode (or would decode leniently), and whole-image
/// buffers above the limit, before anything is allocated.
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
        // One i16 per coefficient of every block of every component, as the decoder keeps them.
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

/// Walks the scans after the frame header: at most `JPEG_SCAN_LIMIT` of them (scan
/// bombs), each scan's entropy-coded data ending at a marker that may follow a scan, and
/// the last one ending at the end marker. A file cut anywhere after its first scan header
/// has no end marker (entropy-coded data cannot hold one: 0xFF is stuffed as FF 00); a
/// stray marker inside the data shows up where a scan ends. Both would otherwise decode
/// with the rest of the scan filled in grey.
fn check_scans(data: &[u8], frame: &JpegFrame<'_>) -> Result<(), PipelineError> {
    let ends_early = || PipelineError::corrupt("jpeg: data ends before the image does");
    let mut at = frame.end;
    let mut scans = 0;
    loop {
        let Some(segment) = sniff::jpeg_segment(data, at)? else {
            // SOI or EOI where a segment was expected: no scan, or an image stopped short.
            return Err(ends_early());
        };
        at = segment.end;
        if segment.marker != 0xDA {
            continue;
        }
        scans += 1;
        if scans > JPEG_SCAN_LIMIT {
            return Err(PipelineError::corrupt(format!(
                "jpeg: more than {JPEG_SCAN_LIMIT} scans"
            )));
        }
        let (marker, next) = marker_after_entropy_data(data, at).ok_or_else(ends_early)?;
        match marker {
            0xD9 => return Ok(()),
            // Tables, restart interval, application data, comments and the next scan.
            0xC4 | 0xDA | 0xDB | 0xDD | 0xE0..=0xEF | 0xFE => at = next,
            other => {
                return Err(PipelineError::corrupt(format!(
                    "jpeg: marker {other:02X} inside the image data"
                )))
            }
        }
    }
}

/// The first marker after entropy-coded data starting at `at`, skipping stuffed bytes
/// (FF 00), fill bytes and restart markers, with the offset of its 0xFF.
fn marker_after_entropy_data(data: &[u8], mut at: usize) -> Option<(u8, usize)> {
    loop {
        let ff = at + memchr::memchr(0xFF, data.get(at..)?)?;
        let mut code_at = ff + 1;
        while data.get(code_at) == Some(&0xFF) {
            code_at += 1;
        }
        match *data.get(code_at)? {
            0x00 | 0xD0..=0xD7 => at = code_at + 1,
            marker => return Some((marker, code_at - 1)),
        }
    }
}

fn corrupt(e: jpeg_decoder::Error) -> PipelineError {
    PipelineError::corrupt(format!("jpeg: {e}"))
}

/// Decodes at DCT scale `num`/8 (one of [`DECODER_SCALES`]) to RGB.
fn decode_scaled(data: &[u8], header: &Header, num: u32) -> Result<Rgb, PipelineError> {
    let mut decoder = jpeg_decoder::Decoder::new(data);
    decoder.read_info().map_err(corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| PipelineError::corrupt("jpeg: no frame header"))?;
    if (u32::from(info.width), u32::from(info.height)) != (header.width, header.height) {
        // The first frame header we parsed must be the one the decoder decodes; a
        // mismatch means a crafted file trying to slip past the size check.
        return Err(PipelineError::corrupt(
            "jpeg: frame size differs from header",
        ));
    }
    let (w, h) = (
        dct_scaled(header.width, num),
        dct_scaled(header.height, num),
    );
    let to_u16 = |d: u32| u16::try_from(d).map_err(|_| PipelineError::corrupt("jpeg: too large"));
    let got = decoder.scale(to_u16(w)?, to_u16(h)?).map_err(corrupt)?;
    if (u32::from(got.0), u32::from(got.1)) != (w, h) {
        return Err(PipelineError::Internal(format!(
            "jpeg decoder scaled to {}x{} instead of {w}x{h}",
            got.0, got.1
        )));
    }
    // Four bytes a pixel at most (CMYK), checked by the decoder before it allocates.
    decoder.set_max_decoding_buffer_size(w as usize * h as usize * 4);
    let pixels = decoder.decode().map_err(corrupt)?;
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => widen_gray(&pixels)?,
        jpeg_decoder::PixelFormat::CMYK32 => cmyk_to_rgb(&pixels)?,
        jpeg_decoder::PixelFormat::L16 => {
            return Err(PipelineError::corrupt("jpeg: 16-bit samples"))
        }
    };
    if rgb.len() != w as usize * h as usize * 3 {
        return Err(PipelineError::corrupt("jpeg: unexpected output size"));
    }
    Ok(Rgb {
        width: w,
        height: h,
        data: rgb,
    })
}

fn widen_gray(gray: &[u8]) -> Result<Vec<u8>, PipelineError> {
    let mut rgb = zeroed(gray.len() * 3)?;
    for (o, &v) in rgb.chunks_exact_mut(3).zip(gray) {
        o.fill(v);
    }
    Ok(rgb)
}

/// jpeg-decoder hands CMYK (and YCCK) out as ink amounts, 255 minus the inverted values
/// Adobe's writers store; without a colour profile the usual approximation is
/// R = C·K / 255 on the stored values, as in the libjpeg-turbo backend.
fn cmyk_to_rgb(inks: &[u8]) -> Result<Vec<u8>, PipelineError> {
    let mut rgb = zeroed(inks.len() / 4 * 3)?;
    for (o, px) in rgb.chunks_exact_mut(3).zip(inks.chunks_exact(4)) {
        let k = 255 - u16::from(px[3]);
        for (o, &ink) in o.iter_mut().zip(&px[..3]) {
            *o = (((255 - u16::from(ink)) * k + 127) / 255) as u8;
        }
    }
    Ok(rgb)
}

/// Encodes RGB pixels as a baseline 4:2:0 JPEG with a JFIF header and nothing else.
pub(crate) fn encode(image: &Rgb, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let too_large = || PipelineError::Internal("jpeg encoder: image too large".into());
    let width = u16::try_from(image.width).map_err(|_| too_large())?;
    let height = u16::try_from(image.height).map_err(|_| too_large())?;
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    // rusty_jpeg averages chroma over each 2×2 block, as libjpeg does.
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder
        .encode(&image.data, width, height, ColorType::Rgb)
        .map_err(|e| PipelineError::Internal(format!("jpeg encoder: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient_jpeg(width: u32, height: u32) -> Vec<u8> {
        let data = (0..height)
            .flat_map(|y| (0..width).flat_map(move |x| [(x % 256) as u8, (y % 256) as u8, 90]))
            .collect();
        encode(
            &Rgb {
                width,
                height,
                data,
            },
            90,
        )
        .unwrap()
    }

    #[test]
    fn decodes_to_the_size_dct_scaling_gives() {
        // (size, limit, expected): 1/2 and 1/4 straight from the decoder; 6/8 (decoded
        // whole) and 3/8 (decoded at 1/2) resampled to the limit.
        let cases = [
            ((1001, 751), 500, (501, 376)),
            ((1600, 1200), 400, (400, 300)),
            ((1000, 750), 700, (700, 525)),
            ((1600, 1200), 580, (580, 435)),
            ((640, 480), 2048, (640, 480)),
        ];
        for ((w, h), limit, want) in cases {
            let jpeg = gradient_jpeg(w, h);
            let header = sniff::read_header(&jpeg).unwrap();
            let out = decode(&jpeg, &header, limit).unwrap();
            assert_eq!((out.width, out.height), want, "{w}x{h} to {limit}");
            assert_eq!(out.data.len(), (want.0 * want.1 * 3) as usize);
        }
    }

    #[test]
    fn a_stray_marker_in_the_image_data_or_a_cut_file_is_corrupt() {
        let jpeg = gradient_jpeg(256, 256);
        let header = sniff::read_header(&jpeg).unwrap();
        assert!(decode(&jpeg, &header, 2048).is_ok());
        let scan = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        // A DQT marker planted in the middle of the entropy-coded data.
        let mut stray = jpeg.clone();
        let mid = scan + (jpeg.len() - scan) / 2;
        stray[mid..mid + 2].copy_from_slice(&[0xFF, 0xC0]);
        let err = decode(&stray, &header, 2048).unwrap_err();
        assert_eq!(err.code(), "corrupt");
        assert!(format!("{err:?}").contains("marker C0"), "{err:?}");
        // Cut with no end marker.
        let err = decode(&jpeg[..jpeg.len() - 40], &header, 2048).unwrap_err();
        assert!(format!("{err:?}").contains("ends before"), "{err:?}");
    }

    #[test]
    fn a_scan_bomb_is_refused_by_counting_scans() {
        let jpeg = gradient_jpeg(64, 64);
        let header = sniff::read_header(&jpeg).unwrap();
        let scan = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        // The same scan header repeated with a few bytes of data each, then the real scan.
        let len = usize::from(u16::from_be_bytes([jpeg[scan + 2], jpeg[scan + 3]]));
        let scan_header = &jpeg[scan..scan + 2 + len];
        let mut bomb = jpeg[..scan].to_vec();
        for _ in 0..=JPEG_SCAN_LIMIT {
            bomb.extend_from_slice(scan_header);
            bomb.extend_from_slice(&[0x12, 0x34]);
        }
        bomb.extend_from_slice(&jpeg[scan..]);
        let err = decode(&bomb, &header, 2048).unwrap_err();
        assert!(format!("{err:?}").contains("scans"), "{err:?}");
    }

    #[test]
    fn stored_cmyk_maps_to_rgb_as_in_the_turbo_backend() {
        // Inks as jpeg-decoder hands them out: 255 minus the stored values.
        let stored = [255u8, 255, 255, 255, 0, 255, 128, 128];
        let inks: Vec<u8> = stored.iter().map(|v| 255 - v).collect();
        assert_eq!(cmyk_to_rgb(&inks).unwrap(), vec![255, 255, 255, 0, 128, 64]);
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
