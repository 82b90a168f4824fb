//! Opaque identifiers for heyan's own records: random, prefixed by kind so an operator can
//! tell a client id from a case id, and never derived from personal data.

use std::fmt;

use rand::RngCore;

/// Declares an id newtype with a fixed prefix and 128 random bits in hex.
macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn new() -> Self {
                let mut bytes = [0u8; 16];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                Self(format!("{}{}", $prefix, hex::encode(bytes)))
            }

            /// Accepts an id read back from storage or a URL path.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let hex_part = raw.strip_prefix($prefix).ok_or(IdError)?;
                let well_formed = hex_part.len() == 32
                    && hex_part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if well_formed {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(IdError)
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A string that is not a well-formed id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed identifier")]
pub struct IdError;

define_id!(
    /// A filing-system client (a hosting provider's integration).
    ClientId,
    "cli_"
);
define_id!(
    /// One API key of a client; a client holds two during a rotation.
    ClientKeyId,
    "key_"
);
define_id!(
    /// A reviewer account.
    ReviewerId,
    "rev_"
);
define_id!(
    /// A verification case: one filing's App check.
    CaseId,
    "case_"
);
define_id!(
    /// A webhook event; receivers drop duplicates by it.
    EventId,
    "evt_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_id_parses_back() {
        let id = ClientId::new();
        assert_eq!(ClientId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn ids_of_another_kind_or_shape_are_refused() {
        let cases = [
            ("reviewer id as client id", ReviewerId::new().to_string()),
            ("empty", String::new()),
            ("short", "cli_abc".into()),
            ("uppercase hex", format!("cli_{}", "A".repeat(32))),
            ("path traversal", format!("cli_../{}", "a".repeat(29))),
        ];
        for (what, raw) in cases {
            assert_eq!(ClientId::parse(&raw), Err(IdError), "{what}");
        }
    }

    #[test]
    fn two_new_ids_differ() {
        assert_ne!(ClientId::new(), ClientId::new());
    }
}
