//! `DomainName`: a website domain registered for ICP filing, normalised to lowercase
//! ASCII without a trailing dot.
//!
//! Only the host name is accepted: a URL (scheme, port, path, query or user info) is
//! rejected with its own code, because a filing covers a domain, not a page. Internationalised
//! names must arrive in their punycode (`xn--`) form; converting them is the caller's job.
//! Domains are public, not personal data, so `Debug` and `Display` print them in full.

use std::fmt;
use std::str::FromStr;

/// Maximum length of a domain name in text form (RFC 1035, without the trailing dot).
const MAX_LEN: usize = 253;
/// Maximum length of one label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;
/// Characters that only appear when a URL was given instead of a host name:
/// scheme (`:`), port (`:`), path (`/`, `\`), query (`?`), fragment (`#`), user info (`@`).
const URL_CHARS: [char; 6] = [':', '/', '\\', '?', '#', '@'];

/// A syntactically valid domain name with at least two labels, e.g. `www.example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

/// Why a string is not an acceptable domain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    /// Nothing but whitespace (or a lone dot) was given.
    #[error("domain name is empty")]
    Empty,
    /// Longer than 253 characters.
    #[error("domain name must be at most {} characters", MAX_LEN)]
    TooLong,
    /// A label is empty, longer than 63 characters, has a character other than `a-z`,
    /// `0-9` and `-`, starts or ends with `-`, or is an all-numeric top-level label.
    #[error("domain name labels must be 1 to 63 letters, digits or inner hyphens, with a non-numeric top-level label")]
    InvalidLabel,
    /// Only one label, such as `localhost` or `com`.
    #[error("domain name must have at least two labels, like example.com")]
    SingleLabel,
    /// A URL was given: it has a scheme, port, path, query, fragment or user info.
    #[error("give the domain name only, without scheme, port or path")]
    HasSchemeOrPath,
}

impl DomainNameError {
    /// A stable snake_case code that API clients may branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong => "too_long",
            Self::InvalidLabel => "invalid_label",
            Self::SingleLabel => "single_label",
            Self::HasSchemeOrPath => "has_scheme_or_path",
        }
    }
}

impl DomainName {
    /// Parses untrusted input: trims whitespace, lowercases ASCII letters, removes one
    /// trailing dot (the DNS root), then checks the URL parts, length and labels.
    pub fn parse(raw: &str) -> Result<Self, DomainNameError> {
        let trimmed = raw.trim();
        if trimmed.contains(URL_CHARS) {
            return Err(DomainNameError::HasSchemeOrPath);
        }
        let lower = trimmed.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.is_empty() {
            return Err(DomainNameError::Empty);
        }
        // Counted in characters so non-ASCII input is reported as a bad label, not as long.
        if name.chars().count() > MAX_LEN {
            return Err(DomainNameError::TooLong);
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(DomainNameError::SingleLabel);
        }
        if !labels.iter().all(|label| is_valid_label(label)) || is_numeric_tld(&labels) {
            return Err(DomainNameError::InvalidLabel);
        }
        Ok(Self(name.to_owned()))
    }

    /// The normalised domain name, e.g. `www.example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1–63 characters of `a-z`, `0-9`, `-`, not starting or ending with `-` (RFC 1123).
/// Punycode labels (`xn--…`) pass because their hyphens are inside the label.
fn is_valid_label(label: &str) -> bool {
    (1..=MAX_LABEL_LEN).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// An all-numeric last label means an IP address (`1.2.3.4`), which cannot be filed.
fn is_numeric_tld(labels: &[&str]) -> bool {
    labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

impl FromStr for DomainName {
    type Err = DomainNameError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A name of exactly `len` characters made of 63-character labels and a final label.
    fn name_of_len(len: usize) -> String {
        let mut name = String::new();
        while len - name.len() > MAX_LABEL_LEN + 1 {
            name.push_str(&"a".repeat(MAX_LABEL_LEN));
            name.push('.');
        }
        name.push_str(&"b".repeat(len - name.len()));
        name
    }

    #[test]
    fn parse_accepts_domain_names_and_normalises_them() {
        let longest_label = format!("{}.com", "a".repeat(MAX_LABEL_LEN));
        let longest_name = name_of_len(MAX_LEN);
        let cases = [
            ("a plain second-level name", "example.com", "example.com"),
            ("uppercase is lowered", "WWW.Example.COM", "www.example.com"),
            ("one trailing dot is removed", "example.com.", "example.com"),
            (
                "surrounding whitespace is trimmed",
                "  example.com\n",
                "example.com",
            ),
            (
                "a Chinese second-level domain",
                "example.com.cn",
                "example.com.cn",
            ),
            (
                "punycode labels",
                "xn--fiqs8s.xn--fiqz9s",
                "xn--fiqs8s.xn--fiqz9s",
            ),
            (
                "inner hyphens",
                "my-site.example.com",
                "my-site.example.com",
            ),
            ("numeric labels below the top", "123.456.com", "123.456.com"),
            ("single-character labels", "a.b", "a.b"),
            (
                "a 63-character label",
                longest_label.as_str(),
                longest_label.as_str(),
            ),
            (
                "253 characters",
                longest_name.as_str(),
                longest_name.as_str(),
            ),
        ];
        for (description, input, expected) in cases {
            let parsed = DomainName::parse(input);
            assert_eq!(
                parsed.as_ref().map(DomainName::as_str),
                Ok(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_invalid_domain_names_with_a_specific_error() {
        use DomainNameError::*;
        let long_label = format!("{}.com", "a".repeat(MAX_LABEL_LEN + 1));
        let too_long = name_of_len(MAX_LEN + 1);
        let cases = [
            ("empty", "", Empty),
            ("only whitespace", "  \t", Empty),
            ("a lone dot", ".", Empty),
            ("254 characters", too_long.as_str(), TooLong),
            ("an http URL", "http://a.com", HasSchemeOrPath),
            (
                "an https URL with path",
                "https://www.a.com/index.html",
                HasSchemeOrPath,
            ),
            ("a path", "a.com/x", HasSchemeOrPath),
            ("a port", "a.com:8080", HasSchemeOrPath),
            ("a query", "a.com?x=1", HasSchemeOrPath),
            ("a fragment", "a.com#top", HasSchemeOrPath),
            ("user info", "user@a.com", HasSchemeOrPath),
            ("a backslash", "a.com\\x", HasSchemeOrPath),
            ("a single label", "localhost", SingleLabel),
            ("a bare top-level domain with dot", "com.", SingleLabel),
            ("an empty label inside", "a..com", InvalidLabel),
            ("a leading dot", ".a.com", InvalidLabel),
            ("two trailing dots", "a.com..", InvalidLabel),
            ("a leading hyphen", "-a.com", InvalidLabel),
            ("a trailing hyphen", "a-.com", InvalidLabel),
            ("an underscore", "a_b.com", InvalidLabel),
            ("a space inside", "a b.com", InvalidLabel),
            ("a wildcard", "*.a.com", InvalidLabel),
            ("a 64-character label", long_label.as_str(), InvalidLabel),
            ("Unicode instead of punycode", "例子.中国", InvalidLabel),
            ("an IPv4 address", "1.2.3.4", InvalidLabel),
            ("a numeric top-level label", "example.123", InvalidLabel),
        ];
        for (description, input, expected) in cases {
            assert_eq!(
                DomainName::parse(input),
                Err(expected),
                "{description}: {input:?}"
            );
        }
    }

    #[test]
    fn debug_and_display_show_the_domain_in_full() {
        let domain = DomainName::parse("Example.com").expect("valid");

        assert_eq!(format!("{domain:?}"), "DomainName(\"example.com\")");
        assert_eq!(format!("{domain}"), "example.com");
        assert_eq!(domain.as_ref(), "example.com");
        assert_eq!("example.com.".parse(), Ok(domain));
    }

    #[test]
    fn error_codes_are_stable_snake_case_strings() {
        use DomainNameError::*;
        let cases = [
            (Empty, "empty"),
            (TooLong, "too_long"),
            (InvalidLabel, "invalid_label"),
            (SingleLabel, "single_label"),
            (HasSchemeOrPath, "has_scheme_or_path"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "code of {error:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_strings_never_panics(raw in any::<String>()) {
            if let Ok(domain) = DomainName::parse(&raw) {
                prop_assert!(domain.as_str().len() <= MAX_LEN);
            }
        }

        #[test]
        fn generated_valid_names_parse_to_their_lowercase_form(
            name in "[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]{1,10}){0,3}\\.[a-zA-Z]{2,6}",
        ) {
            let parsed = DomainName::parse(&name);
            let expected = name.to_ascii_lowercase();
            prop_assert_eq!(parsed.as_ref().map(DomainName::as_str), Ok(expected.as_str()));
        }
    }
}
