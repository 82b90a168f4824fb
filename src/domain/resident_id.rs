//! `ResidentIdNumber`: the number of a mainland resident ID card (居民身份证号码), 18
//! characters per GB 11643-1999, and its check character rule (ISO 7064 MOD 11-2).
//!
//! The number is sensitive personal information: `Debug` and `Display` print only the
//! masked form. The birth date is checked against the calendar but not against today's
//! date, because this module has no clock; callers that need "not in the future" check it
//! with their own `Clock`.

use std::fmt;
use std::str::FromStr;

use super::mask::mask_id_number;

/// Length of a second-generation ID number in characters.
const ID_LEN: usize = 18;
/// Length of the part covered by the check character.
const BODY_LEN: usize = ID_LEN - 1;
/// GB 11643-1999 weights (2^(i-1) mod 11 from the right) for the first 17 digits.
const WEIGHTS: [usize; BODY_LEN] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each weighted sum modulo 11.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// First-level administrative divisions (GB/T 2260) that issue resident ID cards,
/// including 71 (Taiwan), 81 (Hong Kong) and 82 (Macao) used on residence permits.
const PROVINCE_CODES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];
/// Region prefix of Shanghai, the only region whose residents may use heyan's App mode.
const SHANGHAI_PREFIX: &str = "31";
/// Oldest birth year accepted; older holders are not expected among living principals.
const MIN_BIRTH_YEAR: u16 = 1900;
/// Latest birth year accepted; the real bound is today, which a pure function cannot know.
const MAX_BIRTH_YEAR: u16 = 2100;

/// A birth date as (year, month, day).
type BirthDate = (u16, u8, u8);

/// A valid mainland resident ID number: 17 digits and a check character `0`–`9` or `X`.
///
/// Built only by [`ResidentIdNumber::parse`]; a lowercase `x` is stored as `X`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentIdNumber {
    /// The 18 normalised characters.
    number: String,
    /// Decoded from positions 7–14 at parse time, so reading it cannot fail later.
    birth_date: BirthDate,
}

/// Why a string is not a valid resident ID number.
///
/// Variants carry no part of the input, so errors can be logged without leaking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResidentIdNumberError {
    /// Not 18 characters after trimming (first-generation 15-digit numbers included).
    #[error("resident ID number must have 18 characters")]
    WrongLength,
    /// Not 17 ASCII digits followed by a digit or `X`.
    #[error("resident ID number must be 17 digits followed by a digit or X")]
    InvalidCharacter,
    /// The first two digits are not a province-level region code.
    #[error("resident ID number does not start with a known region code")]
    UnknownRegion,
    /// Positions 7–14 are not a real date between 1900 and 2100.
    #[error("resident ID number does not contain a valid birth date")]
    InvalidBirthDate,
    /// The last character does not match the ISO 7064 MOD 11-2 check character.
    #[error("resident ID number check character does not match")]
    BadCheckDigit,
}

impl ResidentIdNumberError {
    /// A stable snake_case code that API clients may branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLength => "wrong_length",
            Self::InvalidCharacter => "invalid_character",
            Self::UnknownRegion => "unknown_region",
            Self::InvalidBirthDate => "invalid_birth_date",
            Self::BadCheckDigit => "bad_check_digit",
        }
    }
}

impl ResidentIdNumber {
    /// Parses untrusted input: trims surrounding whitespace, accepts `x` for `X`, and checks
    /// length, characters, region, birth date and check character, in that order.
    pub fn parse(raw: &str) -> Result<Self, ResidentIdNumberError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() != ID_LEN {
            return Err(ResidentIdNumberError::WrongLength);
        }
        if !has_id_shape(trimmed.as_bytes()) {
            return Err(ResidentIdNumberError::InvalidCharacter);
        }
        let number = trimmed.to_ascii_uppercase();
        let province = number.get(..2);
        if !province.is_some_and(|code| PROVINCE_CODES.contains(&code)) {
            return Err(ResidentIdNumberError::UnknownRegion);
        }
        let birth_date =
            birth_date_of(number.as_bytes()).ok_or(ResidentIdNumberError::InvalidBirthDate)?;
        // All ASCII after `has_id_shape`, so byte index 17 is a character boundary.
        let (body, given) = number.split_at(BODY_LEN);
        if check_char(body) != given.chars().next() {
            return Err(ResidentIdNumberError::BadCheckDigit);
        }
        Ok(Self { number, birth_date })
    }

    /// The 18 characters in the clear. Use only where the real number is required.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// The masked form for logs and list views, e.g. `310***********102X`.
    pub fn masked(&self) -> String {
        mask_id_number(&self.number)
    }

    /// Whether the number was issued in Shanghai (region prefix 31), which decides
    /// eligibility for the Shanghai App verification mode.
    pub fn is_shanghai_registered(&self) -> bool {
        self.number.starts_with(SHANGHAI_PREFIX)
    }

    /// The holder's birth date as (year, month, day), e.g. `(1949, 12, 31)`.
    pub fn birth_date(&self) -> (u16, u8, u8) {
        self.birth_date
    }
}

/// The GB 11643-1999 check character for the first 17 digits of an ID number, or `None`
/// when `first17` is not exactly 17 ASCII digits.
pub fn check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != BODY_LEN || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: usize = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, weight)| usize::from(b - b'0') * weight)
        .sum();
    CHECK_CHARS.get(sum % 11).copied()
}

/// 17 ASCII digits followed by a digit, `X` or `x`.
fn has_id_shape(bytes: &[u8]) -> bool {
    match bytes.split_last() {
        Some((&last, body)) => {
            body.len() == BODY_LEN
                && body.iter().all(u8::is_ascii_digit)
                && (last.is_ascii_digit() || last.eq_ignore_ascii_case(&b'x'))
        }
        None => false,
    }
}

/// Decodes YYYYMMDD at positions 7–14 and keeps it only if it is a real calendar date in
/// the accepted year range.
fn birth_date_of(number: &[u8]) -> Option<BirthDate> {
    let year = u16::try_from(decimal(number.get(6..10)?)?).ok()?;
    let month = u8::try_from(decimal(number.get(10..12)?)?).ok()?;
    let day = u8::try_from(decimal(number.get(12..14)?)?).ok()?;
    let year_ok = (MIN_BIRTH_YEAR..=MAX_BIRTH_YEAR).contains(&year);
    let day_ok = (1..=days_in_month(year, month)).contains(&day);
    (year_ok && day_ok).then_some((year, month, day))
}

/// The value of a short run of ASCII digits, or `None` if any byte is not a digit.
fn decimal(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &b| {
        let digit = char::from(b).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// Days in a month of the Gregorian calendar; 0 for a month outside 1–12, so no day fits.
fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Gregorian leap year: every 4th year, except centuries not divisible by 400 (1900, 2100).
fn is_leap_year(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

impl FromStr for ResidentIdNumber {
    type Err = ResidentIdNumberError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl AsRef<str> for ResidentIdNumber {
    fn as_ref(&self) -> &str {
        &self.number
    }
}

// Masked on purpose: a `{:?}` in a log line or a panic message must not leak the number.
impl fmt::Debug for ResidentIdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentIdNumber")
            .field(&self.masked())
            .finish()
    }
}

// Masked too, so `{}` cannot leak it either; `as_str` is the explicit way to the number.
impl fmt::Display for ResidentIdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    /// Well-known valid example number from the GB 11643-1999 literature.
    const KNOWN_VALID: &str = "11010519491231002X";
    /// Fictitious Shanghai number (Huangpu district, born 1990-03-07).
    const SHANGHAI: &str = "31010119900307102X";

    /// Appends the right check character to 17 digits.
    fn with_check(first17: &str) -> String {
        let check = check_char(first17).expect("17 digits in test data");
        format!("{first17}{check}")
    }

    #[test]
    fn check_char_matches_known_numbers_and_rejects_malformed_input() {
        let cases = [
            (
                "the well-known example ends in X",
                "11010519491231002",
                Some('X'),
            ),
            (
                "a Shanghai number ending in X",
                "31010119900307102",
                Some('X'),
            ),
            ("a number ending in 0", "31010119900307123", Some('0')),
            ("a number ending in 3", "44030420000229031", Some('3')),
            ("16 digits", "1101051949123100", None),
            ("18 digits", "110105194912310021", None),
            ("a letter inside", "11010519491231A02", None),
            (
                "full-width digits",
                "１１０１０５１９４９１２３１００２",
                None,
            ),
            ("empty", "", None),
        ];
        for (description, input, expected) in cases {
            assert_eq!(check_char(input), expected, "{description}: {input:?}");
        }
    }

    #[test]
    fn parse_accepts_valid_numbers_and_normalises_them() {
        let cases = [
            ("the well-known example", KNOWN_VALID, KNOWN_VALID),
            ("a Shanghai number", SHANGHAI, SHANGHAI),
            ("lowercase x becomes X", "11010519491231002x", KNOWN_VALID),
            (
                "surrounding whitespace is trimmed",
                " \t11010519491231002X\n",
                KNOWN_VALID,
            ),
            (
                "full-width space is trimmed",
                "\u{3000}31010119900307102X",
                SHANGHAI,
            ),
            (
                "a digit check character",
                "310101199003071230",
                "310101199003071230",
            ),
            (
                "leap day of a leap year",
                "440304200002290313",
                "440304200002290313",
            ),
            (
                "earliest accepted birth date",
                "650102190001010016",
                "650102190001010016",
            ),
            (
                "latest accepted birth date, Macao",
                "820000210012319990",
                "820000210012319990",
            ),
        ];
        for (description, input, expected) in cases {
            let parsed = ResidentIdNumber::parse(input);
            assert_eq!(
                parsed.as_ref().map(ResidentIdNumber::as_str),
                Ok(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_malformed_numbers_with_a_specific_error() {
        use ResidentIdNumberError::*;
        let cases = [
            ("empty", String::new(), WrongLength),
            ("17 characters", "11010519491231002".into(), WrongLength),
            ("19 characters", "11010519491231002X1".into(), WrongLength),
            (
                "first-generation 15 digits",
                "110105491231002".into(),
                WrongLength,
            ),
            ("space inside", "110105 19491231002X".into(), WrongLength),
            (
                "letter in the body",
                "1101051949123100AX".into(),
                InvalidCharacter,
            ),
            (
                "X in the body",
                "1101051949123100X2".into(),
                InvalidCharacter,
            ),
            (
                "Y as check character",
                "11010519491231002Y".into(),
                InvalidCharacter,
            ),
            (
                "full-width digits",
                "１１０１０５１９４９１２３１００２Ｘ".into(),
                InvalidCharacter,
            ),
            ("region 00", with_check("00010519491231002"), UnknownRegion),
            ("region 10", with_check("10010519491231002"), UnknownRegion),
            (
                "region 39 between real codes",
                with_check("39010519491231002"),
                UnknownRegion,
            ),
            ("region 90", with_check("90010519491231002"), UnknownRegion),
            (
                "1899 is too old",
                with_check("11010518991231002"),
                InvalidBirthDate,
            ),
            (
                "2101 is too late",
                with_check("11010521010101002"),
                InvalidBirthDate,
            ),
            (
                "month 00",
                with_check("11010519490031002"),
                InvalidBirthDate,
            ),
            (
                "month 13",
                with_check("11010519491331002"),
                InvalidBirthDate,
            ),
            ("day 00", with_check("11010519491200002"), InvalidBirthDate),
            (
                "day 32 of January",
                with_check("11010519490132002"),
                InvalidBirthDate,
            ),
            (
                "April 31",
                with_check("11010519490431002"),
                InvalidBirthDate,
            ),
            (
                "February 29 of 2001",
                with_check("11010520010229002"),
                InvalidBirthDate,
            ),
            (
                "February 29 of 1900, not a leap year",
                with_check("11010519000229002"),
                InvalidBirthDate,
            ),
            (
                "February 29 of 2100, not a leap year",
                with_check("11010521000229002"),
                InvalidBirthDate,
            ),
            (
                "February 30 of 2000",
                with_check("11010520000230002"),
                InvalidBirthDate,
            ),
            (
                "wrong check character",
                "110105194912310021".into(),
                BadCheckDigit,
            ),
            (
                "check digit where X belongs",
                "110105194912310020".into(),
                BadCheckDigit,
            ),
        ];
        for (description, input, expected) in cases {
            assert_eq!(
                ResidentIdNumber::parse(&input),
                Err(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn birth_date_and_region_are_read_from_the_number() {
        let known = ResidentIdNumber::parse(KNOWN_VALID).expect("valid");
        let shanghai = ResidentIdNumber::parse(SHANGHAI).expect("valid");

        assert_eq!(known.birth_date(), (1949, 12, 31));
        assert!(!known.is_shanghai_registered(), "Beijing number");
        assert_eq!(shanghai.birth_date(), (1990, 3, 7));
        assert!(shanghai.is_shanghai_registered(), "Shanghai number");
    }

    #[test]
    fn debug_and_display_show_only_the_masked_number() {
        let id = ResidentIdNumber::parse(SHANGHAI).expect("valid");

        assert_eq!(
            format!("{id:?}"),
            "ResidentIdNumber(\"310***********102X\")"
        );
        assert_eq!(format!("{id}"), "310***********102X");
        assert_eq!(id.masked(), "310***********102X");
        assert_eq!(id.as_ref(), SHANGHAI);
        assert_eq!(SHANGHAI.parse(), Ok(id));
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        let cases = [
            (1900, false),
            (1996, true),
            (2000, true),
            (2023, false),
            (2024, true),
            (2100, false),
        ];
        for (year, leap) in cases {
            assert_eq!(is_leap_year(year), leap, "year {year}");
        }
    }

    #[test]
    fn error_codes_are_stable_snake_case_strings() {
        use ResidentIdNumberError::*;
        let cases = [
            (WrongLength, "wrong_length"),
            (InvalidCharacter, "invalid_character"),
            (UnknownRegion, "unknown_region"),
            (InvalidBirthDate, "invalid_birth_date"),
            (BadCheckDigit, "bad_check_digit"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "code of {error:?}");
        }
    }

    /// The first 17 digits of a valid number: real province, real date, random rest.
    fn valid_body() -> impl Strategy<Value = String> {
        let date = (MIN_BIRTH_YEAR..=MAX_BIRTH_YEAR, 1u8..=12)
            .prop_flat_map(|(y, m)| (Just(y), Just(m), 1..=days_in_month(y, m)));
        (
            select(PROVINCE_CODES.to_vec()),
            "[0-9]{4}",
            date,
            "[0-9]{3}",
        )
            .prop_map(|(province, county, (y, m, d), sequence)| {
                format!("{province}{county}{y:04}{m:02}{d:02}{sequence}")
            })
    }

    /// `body` with its sequence number changed so that the check character is `X`.
    fn with_x_check(body: &str) -> Option<String> {
        (0..1000)
            .map(|sequence| format!("{}{sequence:03}", &body[..14]))
            .find(|candidate| check_char(candidate) == Some('X'))
            .map(|candidate| format!("{candidate}X"))
    }

    proptest! {
        #[test]
        fn generated_numbers_with_their_check_char_parse(body in valid_body()) {
            let number = with_check(&body);

            let parsed = ResidentIdNumber::parse(&number);

            prop_assert_eq!(parsed.as_ref().map(ResidentIdNumber::as_str), Ok(number.as_str()));
        }

        #[test]
        fn changing_any_one_character_of_a_valid_number_makes_it_invalid(
            body in valid_body(),
            position in 0..ID_LEN,
            offset in 1usize..=9,
        ) {
            let number = with_check(&body);
            let alphabet: Vec<char> = if position == BODY_LEN {
                "0123456789X".chars().collect()
            } else {
                "0123456789".chars().collect()
            };
            let mut chars: Vec<char> = number.chars().collect();
            let index = alphabet.iter().position(|&c| c == chars[position]).unwrap_or(0);
            chars[position] = alphabet[(index + offset) % alphabet.len()];
            let changed: String = chars.into_iter().collect();

            prop_assert!(ResidentIdNumber::parse(&changed).is_err(), "{} -> {}", number, changed);
        }

        #[test]
        fn a_lowercase_x_check_character_is_accepted_and_stored_as_uppercase(body in valid_body()) {
            let number = with_x_check(&body).expect("some sequence number gives X");

            let parsed = ResidentIdNumber::parse(&number.to_lowercase());

            prop_assert_eq!(parsed.as_ref().map(ResidentIdNumber::as_str), Ok(number.as_str()));
        }

        #[test]
        fn parsing_arbitrary_strings_never_panics(raw in any::<String>()) {
            let _ = ResidentIdNumber::parse(&raw);
            let _ = check_char(&raw);
        }

        #[test]
        fn parsing_id_like_strings_never_panics(raw in "[0-9Xx１ ]{16,20}") {
            if let Ok(id) = ResidentIdNumber::parse(&raw) {
                prop_assert_eq!(id.as_str().len(), ID_LEN);
            }
        }
    }
}
