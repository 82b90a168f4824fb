//! The image verification code (图片验证码) the App shows and the filing system redeems:
//! 8 characters from an alphabet without look-alikes, case-insensitive on entry.

use std::fmt;

use rand::Rng;

/// The alphabet: digits and capitals without 0/O, 1/I/L (DESIGN.md).
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Code length.
pub const LENGTH: usize = 8;

/// A well-formed verification code, normalised to capitals.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

/// An entry that cannot be a code (so it cannot match any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerificationCodeError {
    /// Not 8 characters after removing spaces and dashes.
    #[error("a verification code has 8 characters")]
    WrongLength,
    /// A character outside the alphabet.
    #[error("a verification code uses only 2-9 and A-Z without I, L, O")]
    InvalidCharacter,
}

impl VerificationCodeError {
    /// Stable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLength => "wrong_length",
            Self::InvalidCharacter => "invalid_character",
        }
    }
}

impl VerificationCode {
    /// A fresh random code.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let code = (0..LENGTH)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        Self(code)
    }

    /// Parses what a person typed: case-insensitive, spaces and dashes ignored.
    pub fn parse(raw: &str) -> Result<Self, VerificationCodeError> {
        let code: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if code.chars().count() != LENGTH {
            return Err(VerificationCodeError::WrongLength);
        }
        if !code.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(VerificationCodeError::InvalidCharacter);
        }
        Ok(Self(code))
    }

    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerificationCode {
    // A code grants access to photos: never print it whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerificationCode({}******)", &self.0[..2])
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn entry_is_case_insensitive_and_ignores_spaces_and_dashes() {
        for raw in ["abcd-efgh", " ABCD EFGH ", "aBcDeFgH", "ab-cd ef-gh"] {
            assert_eq!(
                VerificationCode::parse(raw).map(|c| c.0),
                Ok("ABCDEFGH".into()),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn look_alikes_and_wrong_lengths_are_refused() {
        let cases = [
            ("zero", "ABCDEFG0", VerificationCodeError::InvalidCharacter),
            (
                "letter O",
                "ABCDEFGO",
                VerificationCodeError::InvalidCharacter,
            ),
            ("one", "ABCDEFG1", VerificationCodeError::InvalidCharacter),
            (
                "I and L",
                "ABCDEFIL",
                VerificationCodeError::InvalidCharacter,
            ),
            ("too short", "ABCDEFG", VerificationCodeError::WrongLength),
            ("too long", "ABCDEFGHJ", VerificationCodeError::WrongLength),
            (
                "non-ASCII",
                "ABCDEFG验",
                VerificationCodeError::InvalidCharacter,
            ),
        ];
        for (what, raw, want) in cases {
            assert_eq!(VerificationCode::parse(raw), Err(want), "{what}");
        }
    }

    #[test]
    fn debug_hides_most_of_the_code() {
        let code = VerificationCode::parse("ABCDEFGH").expect("valid");
        assert_eq!(format!("{code:?}"), "VerificationCode(AB******)");
    }

    proptest! {
        #[test]
        fn generated_codes_parse_back(_seed in 0u8..=255) {
            let code = VerificationCode::generate();
            prop_assert_eq!(VerificationCode::parse(&code.0.to_lowercase()), Ok(code));
        }

        #[test]
        fn parsing_never_panics(raw in ".*") {
            let _ = VerificationCode::parse(&raw);
        }
    }
}
