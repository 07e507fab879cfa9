//! Privacy by design (KVKK, Law 6698; GDPR): consent as a history that can be shown, erasure
//! that keeps anonymous facts, retention as data, and masked personal data for callers without
//! the permission to see it.

pub mod consent;
pub mod erasure;
pub mod masking;
pub mod retention;

pub use consent::{
    Consent, ConsentChannel, ConsentDecision, ConsentPurpose, ConsentRecord, ConsentSource,
    ConsentState, validate_consent_record,
};
pub use erasure::{Erasure, anonymized, scrub_entry};
pub use retention::RetentionPolicy;
