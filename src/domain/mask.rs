//! Masking helpers for personal data (mobile numbers, ID numbers, names).
//!
//! Every log line and list view that shows personal data goes through these functions, so
//! they accept any string and never panic. They work on `char`s, not bytes, and keep the
//! character count of the input so masked values still line up in tables.

/// Characters kept at the start of a masked mobile or ID number.
const KEEP_HEAD: usize = 3;
/// Characters kept at the end of a masked mobile or ID number.
const KEEP_TAIL: usize = 4;
/// The replacement character for hidden characters.
const STAR: char = '*';

/// Masks a mobile number: `"13812345678"` becomes `"138****5678"`.
///
/// Keeps the first 3 and last 4 characters when the input has more than 7 characters,
/// otherwise hides everything (keeping 3 + 4 of a short value would reveal all of it).
pub fn mask_mobile(raw: &str) -> String {
    mask_middle(raw)
}

/// Masks a resident ID number: `"31010119900307123X"` becomes `"310***********123X"`.
///
/// Same rule as [`mask_mobile`]: first 3 and last 4 characters kept when the input has
/// more than 7 characters, otherwise every character is replaced by `*`.
pub fn mask_id_number(raw: &str) -> String {
    mask_middle(raw)
}

/// Masks a person's name, keeping only the first character: `"张三"` becomes `"张*"`,
/// `"欧阳娜娜"` becomes `"欧***"`.
///
/// A single-character name becomes `"*"`, since keeping it would reveal the whole name.
pub fn mask_name(raw: &str) -> String {
    let count = raw.chars().count();
    if count <= 1 {
        return stars(count);
    }
    let mut out: String = raw.chars().take(1).collect();
    out.push_str(&stars(count - 1));
    out
}

/// Keeps `KEEP_HEAD` leading and `KEEP_TAIL` trailing characters, stars in between.
fn mask_middle(raw: &str) -> String {
    let count = raw.chars().count();
    if count <= KEEP_HEAD + KEEP_TAIL {
        return stars(count);
    }
    raw.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < KEEP_HEAD || i >= count - KEEP_TAIL {
                c
            } else {
                STAR
            }
        })
        .collect()
}

/// A string of `n` stars.
fn stars(n: usize) -> String {
    String::from(STAR).repeat(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mask_mobile_keeps_first_three_and_last_four_characters() {
        let cases = [
            ("an 11-digit mobile", "13812345678", "138****5678"),
            (
                "eight characters, the shortest that keeps 3 + 4",
                "12345678",
                "123*5678",
            ),
            ("seven characters are all hidden", "1234567", "*******"),
            ("a single character is hidden", "1", "*"),
            ("the empty string stays empty", "", ""),
            (
                "multi-byte characters count as one",
                "一二三四五六七八",
                "一二三*五六七八",
            ),
        ];
        for (description, input, expected) in cases {
            assert_eq!(mask_mobile(input), expected, "{description}");
        }
    }

    #[test]
    fn mask_id_number_keeps_first_three_and_last_four_characters() {
        let cases = [
            (
                "an 18-character ID number",
                "31010119900307123X",
                "310***********123X",
            ),
            (
                "a 15-character (first generation) ID number",
                "310101900307123",
                "310********7123",
            ),
            (
                "an odd length above 7 keeps 3 + 4",
                "123456789",
                "123**6789",
            ),
            ("seven characters are all hidden", "ABCDEFG", "*******"),
            ("the empty string stays empty", "", ""),
        ];
        for (description, input, expected) in cases {
            assert_eq!(mask_id_number(input), expected, "{description}");
        }
    }

    #[test]
    fn mask_name_keeps_only_the_first_character() {
        let cases = [
            ("a two-character name", "张三", "张*"),
            ("a four-character compound surname", "欧阳娜娜", "欧***"),
            ("a single-character name is fully hidden", "李", "*"),
            (
                "a minority name with a middle dot",
                "买买提·艾力",
                "买*****",
            ),
            ("a Latin name", "Anna", "A***"),
            ("the empty string stays empty", "", ""),
        ];
        for (description, input, expected) in cases {
            assert_eq!(mask_name(input), expected, "{description}");
        }
    }

    proptest! {
        #[test]
        fn masks_never_panic_and_keep_the_character_count(raw in any::<String>()) {
            let count = raw.chars().count();
            prop_assert_eq!(mask_mobile(&raw).chars().count(), count);
            prop_assert_eq!(mask_id_number(&raw).chars().count(), count);
            prop_assert_eq!(mask_name(&raw).chars().count(), count);
        }

        #[test]
        fn masks_of_multi_byte_text_never_panic(raw in "[一-龥·a-z0-9 ]{0,30}") {
            let count = raw.chars().count();
            prop_assert_eq!(mask_mobile(&raw).chars().count(), count);
            prop_assert_eq!(mask_id_number(&raw).chars().count(), count);
            prop_assert_eq!(mask_name(&raw).chars().count(), count);
        }

        #[test]
        fn masked_long_values_keep_exactly_their_first_three_and_last_four(
            raw in "\\PC{8,40}",
        ) {
            let chars: Vec<char> = raw.chars().collect();
            let masked: Vec<char> = mask_id_number(&raw).chars().collect();
            let n = chars.len();
            prop_assert_eq!(&masked[..3], &chars[..3]);
            prop_assert_eq!(&masked[n - 4..], &chars[n - 4..]);
            prop_assert!(masked[3..n - 4].iter().all(|&c| c == '*'));
        }
    }
}
