//! `PersonName`: a person's name as written on their ID document (证件上的姓名).
//!
//! Names are personal data: `Debug` and `Display` print only the masked form (`张*`).
//! The rules are deliberately loose (any script, spaces, apostrophes) because the value
//! must match the document, not a Western notion of a name; they only keep out empty
//! values, absurd lengths and characters that corrupt logs or hide text.

use std::fmt;
use std::str::FromStr;

use super::mask::mask_name;

/// Maximum length in characters (not bytes: a CJK character is 3 bytes in UTF-8).
const MAX_CHARS: usize = 64;
/// The separator in transliterated minority names such as 买买提·艾力 (U+00B7).
const MIDDLE_DOT: char = '\u{00B7}';
/// Look-alikes of the middle dot that input methods produce: bullet (U+2022) and
/// katakana middle dot (U+30FB). Normalised so the same name always compares equal.
const MIDDLE_DOT_LOOKALIKES: [char; 2] = ['\u{2022}', '\u{30FB}'];

/// A person's name: trimmed, 1 to 64 characters, at least one letter, no control or
/// invisible formatting characters, middle-dot look-alikes normalised to `·`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

/// Why a string is not an acceptable person's name.
///
/// Variants carry no part of the input, so errors can be logged without leaking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    /// Nothing but whitespace was given.
    #[error("person name is empty")]
    Empty,
    /// More than 64 characters after trimming.
    #[error("person name must be at most {} characters", MAX_CHARS)]
    TooLong,
    /// A control character or an invisible formatting character was found.
    #[error("person name must not contain control or invisible formatting characters")]
    InvalidCharacter,
    /// No letter of any script was found (only digits, punctuation or dots).
    #[error("person name must contain at least one letter")]
    NoLetter,
}

impl PersonNameError {
    /// A stable snake_case code that API clients may branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong => "too_long",
            Self::InvalidCharacter => "invalid_character",
            Self::NoLetter => "no_letter",
        }
    }
}

impl PersonName {
    /// Parses untrusted input: trims surrounding whitespace (including U+3000), normalises
    /// middle-dot look-alikes to `·`, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, PersonNameError> {
        let name: String = raw.trim().chars().map(normalise_dot).collect();
        if name.is_empty() {
            return Err(PersonNameError::Empty);
        }
        if name.chars().count() > MAX_CHARS {
            return Err(PersonNameError::TooLong);
        }
        if name.chars().any(is_forbidden) {
            return Err(PersonNameError::InvalidCharacter);
        }
        if !name.chars().any(char::is_alphabetic) {
            return Err(PersonNameError::NoLetter);
        }
        Ok(Self(name))
    }

    /// The name in the clear. Use only where the real name is required.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form for logs and list views: first character kept, e.g. `张*`.
    pub fn masked(&self) -> String {
        mask_name(&self.0)
    }
}

/// Maps the look-alikes of the middle dot to U+00B7 and leaves other characters alone.
fn normalise_dot(c: char) -> char {
    if MIDDLE_DOT_LOOKALIKES.contains(&c) {
        MIDDLE_DOT
    } else {
        c
    }
}

/// Control characters break log lines; zero-width and bidirectional formatting
/// characters make two different names look identical or reorder displayed text.
fn is_forbidden(c: char) -> bool {
    match c {
        // Zero-width space and joiners, left-to-right and right-to-left marks.
        '\u{200B}'..='\u{200F}' => true,
        // Line and paragraph separators.
        '\u{2028}'..='\u{2029}' => true,
        // Bidirectional embeddings and overrides.
        '\u{202A}'..='\u{202E}' => true,
        // Word joiner, invisible operators, bidirectional isolates.
        '\u{2060}'..='\u{206F}' => true,
        // Byte order mark, also used as a zero-width no-break space.
        '\u{FEFF}' => true,
        _ => c.is_control(),
    }
}

impl FromStr for PersonName {
    type Err = PersonNameError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl AsRef<str> for PersonName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Masked on purpose: a `{:?}` in a log line or a panic message must not leak the name.
impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PersonName").field(&self.masked()).finish()
    }
}

// Masked too, so `{}` cannot leak it either; `as_str` is the explicit way to the name.
impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_accepts_names_as_written_on_documents() {
        let longest = "张".repeat(MAX_CHARS);
        let cases = [
            ("a two-character Han name", "张三", "张三"),
            ("a compound surname", "欧阳娜娜", "欧阳娜娜"),
            ("a single character", "李", "李"),
            ("a minority name with U+00B7", "买买提·艾力", "买买提·艾力"),
            ("bullet U+2022 becomes U+00B7", "买买提•艾力", "买买提·艾力"),
            (
                "katakana dot U+30FB becomes U+00B7",
                "买买提・艾力",
                "买买提·艾力",
            ),
            ("surrounding spaces are trimmed", "  李四 ", "李四"),
            (
                "full-width spaces are trimmed",
                "\u{3000}李四\u{3000}",
                "李四",
            ),
            (
                "a Latin name with spaces",
                "Anna Maria Müller",
                "Anna Maria Müller",
            ),
            ("an apostrophe", "Seán O'Brien", "Seán O'Brien"),
            (
                "64 multi-byte characters",
                longest.as_str(),
                longest.as_str(),
            ),
        ];
        for (description, input, expected) in cases {
            let parsed = PersonName::parse(input);
            assert_eq!(
                parsed.as_ref().map(PersonName::as_str),
                Ok(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_unacceptable_names_with_a_specific_error() {
        use PersonNameError::*;
        let too_long = "张".repeat(MAX_CHARS + 1);
        let cases = [
            ("empty", "", Empty),
            ("only whitespace", " \t\u{3000} ", Empty),
            ("65 characters", too_long.as_str(), TooLong),
            ("a newline inside", "张\n三", InvalidCharacter),
            ("a tab inside", "张\t三", InvalidCharacter),
            ("a NUL character", "张\0三", InvalidCharacter),
            ("a right-to-left override", "张\u{202E}三", InvalidCharacter),
            ("a zero-width space", "张\u{200B}三", InvalidCharacter),
            ("a byte order mark", "\u{FEFF}张三", InvalidCharacter),
            ("digits only", "12345", NoLetter),
            ("dots only", "·•・", NoLetter),
        ];
        for (description, input, expected) in cases {
            assert_eq!(
                PersonName::parse(input),
                Err(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn debug_and_display_show_only_the_masked_name() {
        let name = PersonName::parse("欧阳娜娜").expect("valid");

        assert_eq!(format!("{name:?}"), "PersonName(\"欧***\")");
        assert_eq!(format!("{name}"), "欧***");
        assert_eq!(name.as_ref(), "欧阳娜娜");
        assert_eq!("欧阳娜娜".parse(), Ok(name));
    }

    #[test]
    fn error_codes_are_stable_snake_case_strings() {
        use PersonNameError::*;
        let cases = [
            (Empty, "empty"),
            (TooLong, "too_long"),
            (InvalidCharacter, "invalid_character"),
            (NoLetter, "no_letter"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "code of {error:?}");
        }
        assert_eq!(
            TooLong.to_string(),
            "person name must be at most 64 characters"
        );
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_strings_never_panics(raw in any::<String>()) {
            if let Ok(name) = PersonName::parse(&raw) {
                prop_assert!(name.as_str().chars().count() <= MAX_CHARS);
                prop_assert!(!name.as_str().chars().any(is_forbidden));
            }
        }
    }
}
