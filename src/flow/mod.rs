//! Use cases: each function is one thing a user or operator does, orchestrating the ports
//! (store, blobs, clock, keys). Business rules live in `domain`; SQL in `store`; HTTP in
//! `http`. Errors are `FlowError`, in business terms.

pub mod accounts;

use crate::store::StoreError;

/// What went wrong, in business terms; `http::error` maps it to a status and code.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The input broke a rule; `field` names it and `code` says which rule.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field path, e.g. `name`.
        field: String,
        /// A stable code, e.g. `too_long`.
        code: &'static str,
        /// A human explanation.
        message: String,
    },
    /// The thing exists already (the name says what).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Not there, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// A fault of ours or a dependency's.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for FlowError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Backend(e) => Self::Internal(e),
        }
    }
}
