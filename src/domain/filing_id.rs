//! `FilingId`: the filing system's own identifier for a filing (备案), chosen by the
//! hosting provider's system and echoed back to it.
//!
//! heyan treats it as an opaque key, so the rules only keep it safe to store, log and put
//! in URLs: a short run of ASCII letters, digits and `_ . : -`. It is not personal data,
//! so `Debug` and `Display` print it in full.

use std::fmt;
use std::str::FromStr;

/// Maximum length in characters.
const MAX_LEN: usize = 64;

/// An opaque filing identifier: 1 to 64 characters of `A-Z a-z 0-9 _ . : -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilingId(String);

/// Why a string is not an acceptable filing id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FilingIdError {
    /// Nothing but whitespace was given.
    #[error("filing id is empty")]
    Empty,
    /// More than 64 characters after trimming.
    #[error("filing id must be at most {} characters", MAX_LEN)]
    TooLong,
    /// A character other than ASCII letters, digits, `_`, `.`, `:` and `-`.
    #[error("filing id may contain only ASCII letters, digits, '_', '.', ':' and '-'")]
    InvalidCharacter,
}

impl FilingIdError {
    /// A stable snake_case code that API clients may branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong => "too_long",
            Self::InvalidCharacter => "invalid_character",
        }
    }
}

impl FilingId {
    /// Parses untrusted input: trims surrounding whitespace, then checks length and
    /// characters. Case is kept, since the id belongs to the filing system.
    pub fn parse(raw: &str) -> Result<Self, FilingIdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FilingIdError::Empty);
        }
        if trimmed.chars().count() > MAX_LEN {
            return Err(FilingIdError::TooLong);
        }
        if !trimmed.bytes().all(is_allowed) {
            return Err(FilingIdError::InvalidCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The id as given by the filing system.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ASCII letters, digits and `_ . : -`: enough for UUIDs, prefixed and dotted ids, and
/// nothing that needs escaping in URLs, logs or SQL.
fn is_allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
}

impl FromStr for FilingId {
    type Err = FilingIdError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl AsRef<str> for FilingId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FilingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_accepts_ids_and_trims_whitespace() {
        let longest = "A".repeat(MAX_LEN);
        let cases = [
            ("a single character", "1", "1"),
            (
                "a UUID",
                "2f1c9a52-7a4e-4c1b-9d3e-0b6f5d2a8c11",
                "2f1c9a52-7a4e-4c1b-9d3e-0b6f5d2a8c11",
            ),
            (
                "a prefixed id with all punctuation",
                "hz:2024.0001_A-b",
                "hz:2024.0001_A-b",
            ),
            ("case is kept", "ABCdef", "ABCdef"),
            ("surrounding whitespace is trimmed", "  F-1\t\n", "F-1"),
            ("64 characters", longest.as_str(), longest.as_str()),
        ];
        for (description, input, expected) in cases {
            let parsed = FilingId::parse(input);
            assert_eq!(
                parsed.as_ref().map(FilingId::as_str),
                Ok(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_invalid_ids_with_a_specific_error() {
        use FilingIdError::*;
        let too_long = "A".repeat(MAX_LEN + 1);
        let too_long_multi_byte = "备".repeat(MAX_LEN + 1);
        let cases = [
            ("empty", "", Empty),
            ("only whitespace", " \t ", Empty),
            ("65 characters", too_long.as_str(), TooLong),
            (
                "65 multi-byte characters",
                too_long_multi_byte.as_str(),
                TooLong,
            ),
            ("a space inside", "F 1", InvalidCharacter),
            ("a slash", "a/b", InvalidCharacter),
            ("a quote", "a'b", InvalidCharacter),
            ("a Chinese character", "备案1", InvalidCharacter),
            ("a newline inside", "a\nb", InvalidCharacter),
        ];
        for (description, input, expected) in cases {
            assert_eq!(
                FilingId::parse(input),
                Err(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn debug_and_display_show_the_id_in_full() {
        let id = FilingId::parse("F-2024:001").expect("valid");

        assert_eq!(format!("{id:?}"), "FilingId(\"F-2024:001\")");
        assert_eq!(format!("{id}"), "F-2024:001");
        assert_eq!(id.as_ref(), "F-2024:001");
        assert_eq!(" F-2024:001 ".parse(), Ok(id));
    }

    #[test]
    fn error_codes_are_stable_snake_case_strings() {
        use FilingIdError::*;
        let cases = [
            (Empty, "empty"),
            (TooLong, "too_long"),
            (InvalidCharacter, "invalid_character"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "code of {error:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_strings_never_panics(raw in any::<String>()) {
            if let Ok(id) = FilingId::parse(&raw) {
                prop_assert!((1..=MAX_LEN).contains(&id.as_str().len()));
            }
        }

        #[test]
        fn ids_of_allowed_characters_round_trip(raw in "[A-Za-z0-9_.:-]{1,64}") {
            let parsed = FilingId::parse(&raw);
            prop_assert_eq!(parsed.as_ref().map(FilingId::as_str), Ok(raw.as_str()));
        }
    }
}
