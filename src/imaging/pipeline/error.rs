//! Why a photo was refused: one variant per reason, each with a stable machine code and
//! zh-CN / English hints telling the principal what to do (from the `error_code` catalog). The hints never echo image
//! content or decoder internals; `Corrupt` and `Internal` keep their detail for logs only.

use crate::error_code::{ErrorCode, ErrorFacts};

/// What the bytes turned out to be when they were not an accepted photo format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeenFormat {
    /// HEIC/HEIF (iPhone default) or AVIF.
    Heic,
    /// GIF.
    Gif,
    /// PDF document.
    Pdf,
    /// SVG drawing (XML).
    Svg,
    /// TIFF.
    Tiff,
    /// Windows bitmap.
    Bmp,
    /// Plain text (a renamed `.txt` or an HTML page).
    Text,
    /// No bytes at all.
    Empty,
    /// Anything else.
    Unknown,
}

impl SeenFormat {
    /// Stable lowercase name (`heic`, `gif`, `pdf`, `svg`, `tiff`, `bmp`, `text`, `empty`,
    /// `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            SeenFormat::Heic => "heic",
            SeenFormat::Gif => "gif",
            SeenFormat::Pdf => "pdf",
            SeenFormat::Svg => "svg",
            SeenFormat::Tiff => "tiff",
            SeenFormat::Bmp => "bmp",
            SeenFormat::Text => "text",
            SeenFormat::Empty => "empty",
            SeenFormat::Unknown => "unknown",
        }
    }

    /// What was seen, in Chinese (a noun phrase).
    pub fn zh(self) -> &'static str {
        match self {
            SeenFormat::Heic => "HEIC 格式",
            SeenFormat::Gif => "GIF 动图",
            SeenFormat::Pdf => "PDF 文档",
            SeenFormat::Svg => "SVG 图形",
            SeenFormat::Tiff => "TIFF 格式",
            SeenFormat::Bmp => "BMP 格式",
            SeenFormat::Text => "文本文件",
            SeenFormat::Empty => "空文件",
            SeenFormat::Unknown => "无法识别的文件",
        }
    }

    /// What was seen, in English (a noun phrase).
    pub fn en(self) -> &'static str {
        match self {
            SeenFormat::Heic => "a HEIC image",
            SeenFormat::Gif => "a GIF",
            SeenFormat::Pdf => "a PDF document",
            SeenFormat::Svg => "an SVG drawing",
            SeenFormat::Tiff => "a TIFF image",
            SeenFormat::Bmp => "a BMP image",
            SeenFormat::Text => "a text file",
            SeenFormat::Empty => "an empty file",
            SeenFormat::Unknown => "an unrecognised file",
        }
    }
}

/// A refused or failed pipeline run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The bytes are not JPEG, PNG or WebP.
    #[error("unsupported format: {}", .seen.as_str())]
    UnsupportedFormat {
        /// What the bytes looked like.
        seen: SeenFormat,
    },
    /// The upload exceeds the byte limit.
    #[error("upload of {bytes} bytes exceeds {max_bytes}")]
    TooLarge {
        /// Size of the upload.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The headers declare more pixels than allowed (a decompression bomb, or a huge scan).
    #[error("{width}x{height} exceeds {max_pixels} pixels")]
    DimensionsTooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// The photo is below the minimum resolution.
    #[error("{width}x{height} is below {min_width}x{min_height}")]
    TooSmall {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Minimum width (long edge).
        min_width: u32,
        /// Minimum height (short edge).
        min_height: u32,
    },
    /// Truncated or damaged data, or a variant of the format that cannot be decoded.
    #[error("corrupt image: {detail}")]
    Corrupt {
        /// Decoder detail, for logs only.
        detail: String,
    },
    /// The photo is out of focus or shaken.
    #[error("too blurry: sharpness {sharpness:.1} below {min:.1}")]
    TooBlurry {
        /// Measured sharpness.
        sharpness: f64,
        /// Threshold.
        min: f64,
    },
    /// The photo is underexposed.
    #[error("too dark: mean luma {mean_luma:.1} below {min:.1}")]
    TooDark {
        /// Measured mean luma (0–255).
        mean_luma: f64,
        /// Threshold.
        min: f64,
    },
    /// The photo's subject is overexposed: blown out, or washed out to pale greys.
    #[error("too bright: {clipped_fraction:.4} of the subject blown out, its darkest 5 % at luma {shadow_luma:.0}")]
    TooBright {
        /// Share of the subject's pixels blown out.
        clipped_fraction: f64,
        /// 5th percentile of the subject's luma (0–255).
        shadow_luma: f64,
    },
    /// Part of the photo's subject is blown out (glare on the card, a lamp in the frame).
    #[error("glare: {clipped_fraction:.4} of the subject is blown out, above {max:.4}")]
    Glare {
        /// Share of clipped pixels.
        clipped_fraction: f64,
        /// Threshold.
        max: f64,
    },
    /// The caller stopped waiting (client disconnected).
    #[error("cancelled")]
    Cancelled,
    /// Too many photos are being processed or waiting; try again shortly.
    #[error("busy: too many photos in progress")]
    Busy,
    /// A failure that is not the photo's fault (the encoder, a worker that died).
    #[error("internal error: {0}")]
    Internal(String),
}

impl PipelineError {
    /// The catalog code that clients may branch on. Cancellation is not the photo's
    /// fault and the client is gone: it reads as `internal_error`.
    pub fn code(&self) -> ErrorCode {
        match self {
            PipelineError::UnsupportedFormat { .. } => ErrorCode::UnsupportedFormat,
            PipelineError::TooLarge { .. } => ErrorCode::TooLarge,
            PipelineError::DimensionsTooLarge { .. } => ErrorCode::DimensionsTooLarge,
            PipelineError::TooSmall { .. } => ErrorCode::TooSmall,
            PipelineError::Corrupt { .. } => ErrorCode::Corrupt,
            PipelineError::TooBlurry { .. } => ErrorCode::TooBlurry,
            PipelineError::TooDark { .. } => ErrorCode::TooDark,
            PipelineError::TooBright { .. } => ErrorCode::TooBright,
            PipelineError::Glare { .. } => ErrorCode::Glare,
            PipelineError::Busy => ErrorCode::PhotoBusy,
            PipelineError::Cancelled | PipelineError::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The figures the code's message needs (format seen, size limits).
    pub fn facts(&self) -> ErrorFacts {
        let mut facts = ErrorFacts::default();
        match self {
            PipelineError::UnsupportedFormat { seen } => facts.seen = Some(*seen),
            PipelineError::TooLarge { max_bytes, .. } => {
                facts.max_mb = Some((*max_bytes >> 20) as u64);
            }
            PipelineError::TooSmall {
                min_width,
                min_height,
                ..
            } => facts.min_size = Some((*min_width, *min_height)),
            _ => {}
        }
        facts
    }

    /// True when the principal should retake or pick another photo (a 422), false for
    /// cancellation, overload and internal failures.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            PipelineError::Cancelled | PipelineError::Busy | PipelineError::Internal(_)
        )
    }

    /// What was seen, for `unsupported_format`.
    pub fn seen(&self) -> Option<SeenFormat> {
        match self {
            PipelineError::UnsupportedFormat { seen } => Some(*seen),
            _ => None,
        }
    }

    /// Retake hint in Simplified Chinese, shown to the principal (the catalog's message).
    pub fn hint_zh(&self) -> String {
        self.code().message_zh(&self.facts())
    }

    /// Retake hint in English (the catalog's message).
    pub fn hint_en(&self) -> String {
        self.code().message_en(&self.facts())
    }

    pub(crate) fn corrupt(detail: impl Into<String>) -> Self {
        PipelineError::Corrupt {
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_snake_case_code_and_both_hints() {
        let errors = [
            PipelineError::UnsupportedFormat {
                seen: SeenFormat::Heic,
            },
            PipelineError::TooLarge {
                bytes: 11 << 20,
                max_bytes: 10 << 20,
            },
            PipelineError::DimensionsTooLarge {
                width: 50_000,
                height: 50_000,
                max_pixels: 1,
            },
            PipelineError::TooSmall {
                width: 10,
                height: 10,
                min_width: 800,
                min_height: 600,
            },
            PipelineError::corrupt("x"),
            PipelineError::TooBlurry {
                sharpness: 1.0,
                min: 2.0,
            },
            PipelineError::TooDark {
                mean_luma: 1.0,
                min: 2.0,
            },
            PipelineError::TooBright {
                clipped_fraction: 0.5,
                shadow_luma: 200.0,
            },
            PipelineError::Glare {
                clipped_fraction: 0.5,
                max: 0.1,
            },
            PipelineError::Cancelled,
            PipelineError::Busy,
            PipelineError::Internal("x".into()),
        ];
        for e in &errors {
            let code = e.code().as_str();
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(!e.hint_zh().is_empty() && !e.hint_en().is_empty(), "{code}");
        }
        assert_eq!(
            PipelineError::TooBlurry {
                sharpness: 1.0,
                min: 2.0
            }
            .hint_zh(),
            "照片模糊，请对焦后重新拍摄"
        );
    }

    #[test]
    fn hints_never_carry_decoder_detail() {
        let e = PipelineError::corrupt("libjpeg: SECRET-DETAIL");
        assert!(!e.hint_zh().contains("SECRET") && !e.hint_en().contains("SECRET"));
    }

    #[test]
    fn unsupported_format_names_what_was_seen() {
        let e = PipelineError::UnsupportedFormat {
            seen: SeenFormat::Gif,
        };
        assert_eq!(e.code().as_str(), "unsupported_format");
        assert_eq!(e.seen(), Some(SeenFormat::Gif));
        assert!(e.hint_zh().contains("GIF"));
        assert!(e.hint_en().contains("GIF"));
    }
}
