//! Pure value types and rules of heyan's domain: the newtypes that untrusted input is
//! parsed into once, at the edge, and the masking helpers used wherever personal data is
//! shown. Nothing here is async or does I/O (no clock, no database, no network), so every
//! rule can be unit-tested in isolation.

pub mod calendar;
pub mod case;
pub mod domain_name;
pub mod filing_id;
pub mod geo;
pub mod ids;
pub mod liveness;
pub mod mask;
pub mod mobile;
pub mod person_name;
pub mod platform;
pub mod resident_id;
pub mod review;
pub mod role;
pub mod verification_code;

pub use domain_name::{DomainName, DomainNameError};
pub use filing_id::{FilingId, FilingIdError};
pub use mask::{mask_id_number, mask_mobile, mask_name};
pub use mobile::{MobileNumber, MobileNumberError};
pub use person_name::{PersonName, PersonNameError};
pub use resident_id::{ResidentIdNumber, ResidentIdNumberError};
