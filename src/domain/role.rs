//! What a reviewer account may do.

use std::fmt;

/// A permission held by a reviewer account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Takes cases from the queue and decides them.
    Reviewer,
    /// Reads the audit log.
    Auditor,
}

/// A role name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (known: reviewer, auditor)")]
pub struct RoleError(pub String);

impl Role {
    /// Parses `reviewer` or `auditor`.
    pub fn parse(raw: &str) -> Result<Self, RoleError> {
        match raw.trim() {
            "reviewer" => Ok(Self::Reviewer),
            "auditor" => Ok(Self::Auditor),
            other => Err(RoleError(other.to_owned())),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::Auditor => "auditor",
        }
    }

    /// Parses a comma-separated list, dropping duplicates.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, RoleError> {
        let mut roles = raw
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        roles.sort();
        roles.dedup();
        Ok(roles)
    }

    /// Joins roles for storage.
    pub fn join(roles: &[Self]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_list_round_trips_without_duplicates() {
        let roles = Role::parse_list("auditor, reviewer,auditor").expect("valid");
        assert_eq!(roles, vec![Role::Reviewer, Role::Auditor]);
        assert_eq!(Role::join(&roles), "reviewer,auditor");
    }

    #[test]
    fn an_unknown_role_is_named() {
        assert_eq!(Role::parse_list("admin"), Err(RoleError("admin".into())));
    }
}
