//! `MobileNumber`: a mainland China mobile phone number, normalised to its 11 digits.
//!
//! The number is personal data: `Debug` and `Display` print only the masked form, and the
//! type has no `Serialize`/`Deserialize`, so the clear digits leave only through
//! [`MobileNumber::as_str`], where the caller asks for them on purpose.

use std::fmt;
use std::str::FromStr;

use super::mask::mask_mobile;

/// Number of digits of a mainland mobile number without country code.
const NATIONAL_LEN: usize = 11;

/// A mainland China mobile number: 11 ASCII digits, `1` followed by `3`–`9`.
///
/// Built only by [`MobileNumber::parse`], so holding one means the digits are valid.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MobileNumber(String);

/// Why a string is not a mainland China mobile number.
///
/// Messages and variants carry no part of the input, so errors can be logged and returned
/// to clients without leaking the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MobileNumberError {
    /// Nothing but whitespace and dashes was given.
    #[error("mobile number is empty")]
    Empty,
    /// A character other than a digit, whitespace, a dash or a leading `+86` was found.
    #[error("mobile number may contain only digits, spaces, dashes and a leading +86")]
    InvalidCharacter,
    /// An international prefix other than China's `+86` / `0086` was given.
    #[error("only mainland China mobile numbers (+86) are accepted")]
    UnsupportedCountryCode,
    /// The number without country code does not have 11 digits.
    #[error("mobile number must have 11 digits, found {digits}")]
    WrongLength {
        /// How many characters were left after removing separators and country code.
        digits: usize,
    },
    /// The 11 digits do not start with `13`–`19`, so they are not a mobile number.
    #[error("mobile number must start with 13 to 19")]
    NotMobilePrefix,
}

impl MobileNumberError {
    /// A stable snake_case code that API clients may branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::InvalidCharacter => "invalid_character",
            Self::UnsupportedCountryCode => "unsupported_country_code",
            Self::WrongLength { .. } => "wrong_length",
            Self::NotMobilePrefix => "not_mobile_prefix",
        }
    }
}

impl MobileNumber {
    /// Parses untrusted input such as `"+86 138-1234-5678"` into the 11 digits.
    ///
    /// Whitespace and dashes are ignored anywhere; an optional `+86`, `0086` or `86`
    /// country code is removed.
    pub fn parse(raw: &str) -> Result<Self, MobileNumberError> {
        let compact: String = raw.chars().filter(|&c| !is_separator(c)).collect();
        if compact.is_empty() {
            return Err(MobileNumberError::Empty);
        }
        let national = strip_country_code(&compact)?;
        if !national.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MobileNumberError::InvalidCharacter);
        }
        if national.len() != NATIONAL_LEN {
            let digits = national.len();
            return Err(MobileNumberError::WrongLength { digits });
        }
        if !matches!(national.as_bytes(), [b'1', b'3'..=b'9', ..]) {
            return Err(MobileNumberError::NotMobilePrefix);
        }
        Ok(Self(national.to_owned()))
    }

    /// The 11 digits in the clear. Use only where the real number is needed (sending SMS).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form for logs and list views, e.g. `138****5678`.
    pub fn masked(&self) -> String {
        mask_mobile(&self.0)
    }
}

/// People write numbers grouped with spaces (including the full-width U+3000) or dashes.
fn is_separator(c: char) -> bool {
    c == '-' || c.is_whitespace()
}

/// Removes `+86`, `0086` or a bare `86`; rejects any other international prefix.
fn strip_country_code(compact: &str) -> Result<&str, MobileNumberError> {
    let international = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"));
    if let Some(rest) = international {
        return rest
            .strip_prefix("86")
            .ok_or(MobileNumberError::UnsupportedCountryCode);
    }
    // A bare "86" is a country code only when 11 digits follow; a national mobile number
    // always starts with "1", so this cannot eat part of a real number.
    match compact.strip_prefix("86") {
        Some(rest) if rest.len() == NATIONAL_LEN => Ok(rest),
        _ => Ok(compact),
    }
}

impl FromStr for MobileNumber {
    type Err = MobileNumberError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl AsRef<str> for MobileNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Masked on purpose: a `{:?}` in a log line or a panic message must not leak the number.
impl fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MobileNumber").field(&self.masked()).finish()
    }
}

// Masked too, so `{}` cannot leak it either; `as_str` is the explicit way to the digits.
impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    #[test]
    fn parse_accepts_common_notations_and_normalises_to_eleven_digits() {
        let cases = [
            ("plain 11 digits", "13812345678", "13812345678"),
            (
                "+86 with spaces and dashes",
                "+86 138-1234-5678",
                "13812345678",
            ),
            ("+86 without separators", "+8613812345678", "13812345678"),
            ("bare 86 prefix", "8613812345678", "13812345678"),
            ("0086 prefix", "0086 13812345678", "13812345678"),
            ("surrounding whitespace", "  13812345678\n", "13812345678"),
            (
                "full-width space as separator",
                "138\u{3000}1234\u{3000}5678",
                "13812345678",
            ),
            ("lowest mobile prefix 13", "13000000000", "13000000000"),
            ("highest mobile prefix 19", "19999999999", "19999999999"),
            ("86 as the operator digits", "18612345678", "18612345678"),
        ];
        for (description, input, expected) in cases {
            let parsed = MobileNumber::parse(input);
            assert_eq!(
                parsed.as_ref().map(MobileNumber::as_str),
                Ok(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_invalid_input_with_a_specific_error() {
        use MobileNumberError::*;
        let cases = [
            ("empty string", "", Empty),
            ("only separators", " - -\t", Empty),
            ("a letter inside", "1381234567a", InvalidCharacter),
            (
                "full-width digits",
                "１３８１２３４５６７８",
                InvalidCharacter,
            ),
            ("dot as separator", "138.1234.5678", InvalidCharacter),
            ("plus sign inside", "138+12345678", InvalidCharacter),
            (
                "Hong Kong country code",
                "+852 91234567",
                UnsupportedCountryCode,
            ),
            (
                "00 prefix of another country",
                "001 4155550100",
                UnsupportedCountryCode,
            ),
            ("plus sign alone", "+", UnsupportedCountryCode),
            ("ten digits", "1381234567", WrongLength { digits: 10 }),
            ("twelve digits", "138123456789", WrongLength { digits: 12 }),
            (
                "+86 with ten digits",
                "+86 1381234567",
                WrongLength { digits: 10 },
            ),
            ("landline with area code", "02112345678", NotMobilePrefix),
            ("second digit 2", "12812345678", NotMobilePrefix),
            ("second digit 0", "10012345678", NotMobilePrefix),
            ("first digit not 1", "23812345678", NotMobilePrefix),
        ];
        for (description, input, expected) in cases {
            assert_eq!(
                MobileNumber::parse(input),
                Err(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn debug_and_display_show_only_the_masked_number() {
        let number = MobileNumber::parse("13812345678").expect("valid test number");

        assert_eq!(format!("{number:?}"), "MobileNumber(\"138****5678\")");
        assert_eq!(format!("{number}"), "138****5678");
        assert_eq!(number.masked(), "138****5678");
        assert_eq!(number.as_ref(), "13812345678");
    }

    #[test]
    fn from_str_is_the_same_as_parse() {
        assert_eq!(
            "+86 13812345678".parse(),
            MobileNumber::parse("13812345678")
        );
    }

    #[test]
    fn error_codes_are_stable_snake_case_strings() {
        use MobileNumberError::*;
        let cases = [
            (Empty, "empty"),
            (InvalidCharacter, "invalid_character"),
            (UnsupportedCountryCode, "unsupported_country_code"),
            (WrongLength { digits: 3 }, "wrong_length"),
            (NotMobilePrefix, "not_mobile_prefix"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "code of {error:?}");
            assert!(!error.to_string().contains('{'), "message of {error:?}");
        }
    }

    /// A valid number written with a random prefix and random separators between any
    /// two characters, paired with its 11 digits.
    fn written_number() -> impl Strategy<Value = (String, String)> {
        let separator = select(vec!["", "", "", " ", "-", "  ", " - ", "\t", "\u{3000}"]);
        (
            "1[3-9][0-9]{9}",
            select(vec!["", "+86", "86", "0086"]),
            proptest::collection::vec(separator, 16),
        )
            .prop_map(|(digits, prefix, separators)| {
                let mut written = String::new();
                let chars = prefix.chars().chain(digits.chars());
                for (c, separator) in chars.zip(&separators) {
                    written.push_str(separator);
                    written.push(c);
                }
                written.push_str(separators[15]);
                (written, digits)
            })
    }

    proptest! {
        #[test]
        fn any_written_form_of_a_valid_number_normalises_to_its_digits(
            (written, digits) in written_number(),
        ) {
            let parsed = MobileNumber::parse(&written);
            prop_assert_eq!(parsed.as_ref().map(MobileNumber::as_str), Ok(digits.as_str()));
        }

        #[test]
        fn eleven_digits_without_a_mobile_prefix_are_rejected(digits in "(1[0-2]|[2-9][0-9])[0-9]{9}") {
            prop_assert_eq!(MobileNumber::parse(&digits), Err(MobileNumberError::NotMobilePrefix));
        }

        #[test]
        fn parsing_arbitrary_strings_never_panics(raw in any::<String>()) {
            let _ = MobileNumber::parse(&raw);
        }

        #[test]
        fn parsing_digit_like_strings_never_panics(raw in "[+0-9 \\-８６]{0,20}") {
            if let Ok(number) = MobileNumber::parse(&raw) {
                prop_assert_eq!(number.as_str().len(), 11);
            }
        }
    }
}
