//! Conversions between `crm.v1` messages and `crm-core` types, one file per domain: customers,
//! the timeline, what is derived about a customer (insights and the scoring model), segments,
//! reports, and the audit trail and keys.
//!
//! Input conversions destructure every field of the message, so adding a field to the contract
//! without deciding what it means here does not compile. Field paths in violations are relative
//! to the converted message (`emails[0].address`); [`crate::status`] adds the request's prefix.

use chrono::{DateTime, Utc};
use crm_core::{CustomerId, Violations};
use prost_types::Timestamp;

pub mod admin;
pub mod automation;
pub mod customer;
pub mod deals;
pub mod feed;
pub mod feedback;
pub mod insight;
pub mod loyalty;
pub mod privacy;
pub mod report;
pub mod segment;
pub mod support;
pub mod tasks;
pub mod timeline;

pub use admin::*;
pub use customer::*;
pub use feed::*;
pub use insight::*;
pub use privacy::{Sight, mask_customer};
pub use report::*;
pub use segment::*;
pub use timeline::*;

/// A `google.protobuf.Timestamp` as a time, if it is a valid one.
pub fn time_from_proto(t: &Timestamp) -> Option<DateTime<Utc>> {
    // google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
    const FIRST: i64 = -62_135_596_800;
    const LAST: i64 = 253_402_300_799;
    if !(FIRST..=LAST).contains(&t.seconds) {
        return None;
    }
    let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    DateTime::from_timestamp(t.seconds, nanos)
}

/// A time as a `google.protobuf.Timestamp`.
pub fn time_to_proto(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Parses a customer id, naming `field` in the violation.
pub fn parse_id(field: &str, text: &str) -> Result<CustomerId, Violations> {
    text.trim()
        .parse()
        .map_err(|e: crm_core::customer::InvalidCustomerId| Violations::one(field, e.to_string()))
}
