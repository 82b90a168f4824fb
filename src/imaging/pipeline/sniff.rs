//! Recognises the format from the bytes (never from a declared type) and reads the
//! dimensions and the EXIF orientation from the headers, without decoding any pixel, so
//! that bombs are refused before a decoder allocates anything.
//!
//! Every read is bounds-checked: these parsers see hostile input first.

use super::error::{PipelineError, SeenFormat};

/// An accepted photo format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG (JFIF/EXIF), baseline, progressive, arithmetic or lossless.
    Jpeg,
    /// PNG, any bit depth and colour type.
    Png,
    /// WebP, lossy or lossless.
    WebP,
}

impl Format {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::WebP => "webp",
        }
    }
}

/// What the headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) format: Format,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// EXIF orientation 1–8; 1 when absent or invalid.
    pub(crate) orientation: u8,
}

pub(crate) fn read_header(data: &[u8]) -> Result<Header, PipelineError> {
    let format = sniff(data)?;
    let (width, height, exif) = match format {
        Format::Jpeg => jpeg_header(data)?,
        Format::Png => png_header(data)?,
        Format::WebP => webp_header(data)?,
    };
    if width == 0 || height == 0 {
        return Err(PipelineError::corrupt("zero dimension"));
    }
    let orientation = exif.and_then(exif_orientation).unwrap_or(1);
    Ok(Header {
        format,
        width,
        height,
        orientation,
    })
}

/// Classifies the bytes: an accepted format, or what was seen instead.
pub(crate) fn sniff(data: &[u8]) -> Result<Format, PipelineError> {
    let seen = |seen| Err(PipelineError::UnsupportedFormat { seen });
    if data.is_empty() {
        return seen(SeenFormat::Empty);
    }
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        return seen(SeenFormat::Gif);
    }
    if data.len() >= 12 && &data[4..8] == b"ftyp" {
        const HEIF_BRANDS: [&[u8; 4]; 10] = [
            b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif",
            b"avis",
        ];
        let brand = &data[8..12];
        if HEIF_BRANDS.iter().any(|b| brand == *b) {
            return seen(SeenFormat::Heic);
        }
        return seen(SeenFormat::Unknown);
    }
    if data.starts_with(b"II*\0") || data.starts_with(b"MM\0*") {
        return seen(SeenFormat::Tiff);
    }
    if data.starts_with(b"BM") && data.len() >= 26 {
        return seen(SeenFormat::Bmp);
    }
    let head = &data[..data.len().min(4096)];
    // A PDF may carry junk before its header; readers accept it within the first 1 KiB.
    if find(&head[..head.len().min(1024)], b"%PDF-").is_some() {
        return seen(SeenFormat::Pdf);
    }
    if looks_like_text(head) {
        let lower = head.to_ascii_lowercase();
        if find(&lower, b"<svg").is_some() {
            return seen(SeenFormat::Svg);
        }
        return seen(SeenFormat::Text);
    }
    seen(SeenFormat::Unknown)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn looks_like_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // The 4 KiB cut may split a character; what comes before it must be valid.
        Err(e) if e.error_len().is_none() && e.valid_up_to() + 4 > head.len() => {
            match std::str::from_utf8(&head[..e.valid_up_to()]) {
                Ok(t) => t,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn le24(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

type Dims<'a> = (u32, u32, Option<&'a [u8]>);

/// Walks the JPEG markers up to the first scan: frame size from SOFn, EXIF from APP1.
fn jpeg_header(d: &[u8]) -> Result<Dims<'_>, PipelineError> {
    let frame = jpeg_frame(d)?;
    let truncated = || PipelineError::corrupt("jpeg: headers truncated");
    let height = u32::from(be16(frame.body, 1).ok_or_else(truncated)?);
    let width = u32::from(be16(frame.body, 3).ok_or_else(truncated)?);
    if height == 0 {
        // The height would come later in a DNL segment; no phone writes that.
        return Err(PipelineError::corrupt("jpeg: height deferred to DNL"));
    }
    Ok((width, height, frame.exif))
}

/// One marker segment of a JPEG's headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JpegSegment<'a> {
    /// The marker code (the byte after 0xFF).
    pub(crate) marker: u8,
    /// The segment's bytes after its length field.
    pub(crate) body: &'a [u8],
    /// Offset of the byte after the segment.
    pub(crate) end: usize,
}

/// The frame header (SOFn) of a JPEG and the EXIF block seen before it.
#[derive(Debug, Clone, Copy)]
// `marker` and `end` are for the pure-Rust JPEG backend, which checks the frame itself.
#[cfg_attr(feature = "turbojpeg", allow(dead_code))]
pub(crate) struct JpegFrame<'a> {
    /// SOF0–SOF15: baseline, extended, progressive, lossless; Huffman or arithmetic.
    pub(crate) marker: u8,
    /// The frame header after its length: precision, height, width, components.
    pub(crate) body: &'a [u8],
    /// Offset of the byte after the frame header.
    pub(crate) end: usize,
    exif: Option<&'a [u8]>,
}

/// The segment whose marker starts at `at`, after any fill bytes and markers without a
/// length; `None` at SOI or EOI (the headers end there without what was looked for).
pub(crate) fn jpeg_segment(
    d: &[u8],
    mut at: usize,
) -> Result<Option<JpegSegment<'_>>, PipelineError> {
    let truncated = || PipelineError::corrupt("jpeg: headers truncated");
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if *d.get(at).ok_or_else(truncated)? != 0xFF {
            return Err(PipelineError::corrupt("jpeg: expected a marker"));
        }
        while d.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *d.get(at).ok_or_else(truncated)?;
        at += 1;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 | 0xD9 => return Ok(None),
            _ => {}
        }
        let len = usize::from(be16(d, at).ok_or_else(truncated)?);
        if len < 2 {
            return Err(PipelineError::corrupt("jpeg: bad segment length"));
        }
        let body = d.get(at + 2..at + len).ok_or_else(truncated)?;
        return Ok(Some(JpegSegment {
            marker,
            body,
            end: at + len,
        }));
    }
}

/// Walks the JPEG markers from SOI to the frame header.
pub(crate) fn jpeg_frame(d: &[u8]) -> Result<JpegFrame<'_>, PipelineError> {
    let mut at = 2;
    let mut exif = None;
    loop {
        let segment = jpeg_segment(d, at)?
            .ok_or_else(|| PipelineError::corrupt("jpeg: no frame before the image ends"))?;
        match segment.marker {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Ok(JpegFrame {
                    marker: segment.marker,
                    body: segment.body,
                    end: segment.end,
                    exif,
                })
            }
            0xDA => return Err(PipelineError::corrupt("jpeg: scan before frame header")),
            0xE1 if exif.is_none() && segment.body.starts_with(b"Exif\0\0") => {
                exif = Some(&segment.body[6..])
            }
            _ => {}
        }
        at = segment.end;
    }
}

/// IHDR must come first; eXIf may sit anywhere before IEND.
fn png_header(d: &[u8]) -> Result<Dims<'_>, PipelineError> {
    if d.get(12..16) != Some(b"IHDR") || be32(d, 8) != Some(13) {
        return Err(PipelineError::corrupt("png: IHDR is not the first chunk"));
    }
    let width = be32(d, 16).ok_or_else(|| PipelineError::corrupt("png: truncated IHDR"))?;
    let height = be32(d, 20).ok_or_else(|| PipelineError::corrupt("png: truncated IHDR"))?;
    let mut exif = None;
    let mut at = 8usize;
    while let (Some(len), Some(kind)) = (be32(d, at), d.get(at + 4..at + 8)) {
        let Some(end) = (at + 12).checked_add(len as usize) else {
            break;
        };
        if kind == b"eXIf" {
            exif = d.get(at + 8..end - 4);
            break;
        }
        if kind == b"IEND" {
            break;
        }
        at = end;
    }
    Ok((width, height, exif))
}

/// Frame size from VP8 / VP8L / VP8X, EXIF from its chunk.
fn webp_header(d: &[u8]) -> Result<Dims<'_>, PipelineError> {
    let bad = |what: &str| PipelineError::corrupt(format!("webp: {what}"));
    let mut dims = None;
    let mut exif = None;
    let mut at = 12usize;
    while let (Some(kind), Some(len)) = (d.get(at..at + 4), le32(d, at + 4)) {
        let start = at + 8;
        let Some(end) = start.checked_add(len as usize) else {
            break;
        };
        let body = &d[start.min(d.len())..end.min(d.len())];
        match kind {
            b"VP8X" => {
                let w = le24(body, 4).ok_or_else(|| bad("truncated VP8X"))? + 1;
                let h = le24(body, 7).ok_or_else(|| bad("truncated VP8X"))? + 1;
                dims = Some((w, h));
            }
            b"VP8 " if dims.is_none() => {
                if body.get(3..6) != Some(&[0x9d, 0x01, 0x2a]) {
                    return Err(bad("bad VP8 start code"));
                }
                let b = body.get(6..10).ok_or_else(|| bad("truncated VP8"))?;
                let w = u32::from(u16::from_le_bytes([b[0], b[1]]) & 0x3fff);
                let h = u32::from(u16::from_le_bytes([b[2], b[3]]) & 0x3fff);
                dims = Some((w, h));
            }
            b"VP8L" if dims.is_none() => {
                if body.first() != Some(&0x2f) {
                    return Err(bad("bad VP8L signature"));
                }
                let bits = le32(body, 1).ok_or_else(|| bad("truncated VP8L"))?;
                dims = Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1));
            }
            b"EXIF" => exif = Some(body),
            _ => {}
        }
        // Chunks are padded to an even size.
        at = end + (len as usize & 1);
    }
    let (w, h) = dims.ok_or_else(|| bad("no image chunk"))?;
    Ok((w, h, exif))
}

/// The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block, if valid.
pub(crate) fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    // Some writers keep the "Exif\0\0" prefix inside PNG/WebP chunks too.
    let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
    let big = match tiff.get(0..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd)?);
    for i in 0..count {
        let entry = ifd.checked_add(2 + 12 * i)?;
        if u16_at(entry)? == 0x0112 {
            // Type SHORT (3), count 1: the value sits in the first two bytes of the field.
            if u16_at(entry + 2)? != 3 {
                return None;
            }
            let v = u16_at(entry + 8)?;
            return (1..=8).contains(&v).then_some(v as u8);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(data: &[u8]) -> Option<SeenFormat> {
        match sniff(data) {
            Err(PipelineError::UnsupportedFormat { seen }) => Some(seen),
            _ => None,
        }
    }

    #[test]
    fn recognises_accepted_formats_from_their_magic_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest").unwrap(), Format::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest").unwrap(), Format::Png);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(), Format::WebP);
    }

    #[test]
    fn names_what_it_refuses() {
        let cases: [(&str, &[u8], SeenFormat); 11] = [
            ("gif", b"GIF89a\x01\x00\x01\x00", SeenFormat::Gif),
            ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", SeenFormat::Pdf),
            (
                "heic",
                b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
                SeenFormat::Heic,
            ),
            (
                "avif",
                b"\0\0\0\x1cftypavif\0\0\0\0avifmif1",
                SeenFormat::Heic,
            ),
            ("mp4", b"\0\0\0\x18ftypisom\0\0\0\0", SeenFormat::Unknown),
            (
                "svg",
                b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
                SeenFormat::Svg,
            ),
            (
                "text",
                "这是一个文本文件，不是照片\n".as_bytes(),
                SeenFormat::Text,
            ),
            ("html", b"<!doctype html><html></html>", SeenFormat::Text),
            ("tiff", b"II*\0\x08\0\0\0", SeenFormat::Tiff),
            ("empty", b"", SeenFormat::Empty),
            ("binary", b"\x00\x01\x02\x03\xfe\xfd", SeenFormat::Unknown),
        ];
        for (what, data, want) in cases {
            assert_eq!(seen(data), Some(want), "{what}");
        }
    }

    #[test]
    fn reads_png_dimensions_without_decoding() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&50_000u32.to_be_bytes());
        png.extend_from_slice(&40_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let h = read_header(&png).unwrap();
        assert_eq!((h.width, h.height, h.orientation), (50_000, 40_000, 1));
    }

    #[test]
    fn reads_exif_orientation_in_both_byte_orders() {
        let le = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0";
        let be = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0\0\0\0\0";
        assert_eq!(exif_orientation(le), Some(6));
        assert_eq!(exif_orientation(be), Some(8));
        assert_eq!(exif_orientation(b"II*\0\xff\xff\xff\xff"), None);
        assert_eq!(exif_orientation(b""), None);
    }

    #[test]
    fn truncated_jpeg_headers_are_corrupt_not_a_panic() {
        for cut in 3..33 {
            let mut d = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
            d.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
            d.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0x0B, 0xB8, 0x0F, 0xA0, 1, 1, 0x11, 0]);
            d.truncate(cut);
            assert!(read_header(&d).is_err(), "cut at {cut}");
        }
    }
}
