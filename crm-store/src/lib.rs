//! # crm-store: the embedded customer store
//!
//! Link this crate to keep customers in your own process: no server, no schema to write. Every
//! write updates the record, its secondary indexes and the change log atomically, and (by
//! default) returns only once it is on disk.
//!
//! ```
//! use crm_core::{CustomerData, Email, Party, Person};
//! use crm_store::{ListQuery, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//!
//! let mut ada = CustomerData::new(Party::Person(Person {
//!     given_name: "Ada".into(),
//!     family_name: "Lovelace".into(),
//!     ..Person::default()
//! }));
//! ada.emails.push(Email { address: "Ada@Example.com".into(), label: "work".into(), primary: true });
//! ada.tags = vec!["VIP".into()];
//! let created = store.create_customer(ada, None)?;
//!
//! let found = store.lookup_by_email("ada@example.COM")?;
//! assert_eq!(found.id, created.id);
//! assert_eq!(found.data.tags, vec!["vip"]);
//!
//! let page = store.list_customers(&ListQuery {
//!     filter: crm_core::Filter::parse(r#"tags:"vip""#)?,
//!     ..ListQuery::default()
//! })?;
//! assert_eq!(page.customers.len(), 1);
//! assert!(store.verify()?.is_clean());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`store`]: the [`Store`] handle, opening, and the write path (one writer at a time, one
//!   atomic batch per write, group commit).
//! - [`customers`]: create, get, update, delete, look up.
//! - [`list`]: filtered, ordered, paginated listing.
//! - [`timeline`]: each customer's timeline and summary: storing, listing, deleting.
//! - [`record`]: recording interactions, purchases, refunds, losses, qualifications, and
//!   lifecycle moves, with the automatic moves they trigger.
//! - [`report`]: the portfolio report, one streaming pass.
//! - [`scoring`]: the lead-scoring model, and what is derived about a customer when read.
//! - [`search`]: finding customers by words of their names, emails and phones.
//! - [`segments`]: saved filters; their members listed and counted as they are now.
//! - [`changes`]: the change log.
//! - [`audit`]: the audit trail: who changed which customer's which fields.
//! - [`verify`]: the consistency check.
//! - [`config`]: [`StoreConfig`], [`Durability`], [`Clock`].
//! - [`error`]: the error type, [`StoreError`].
//! - `engine` (private): every call into sled. `keys` (private): the key layout.
//!   `codec` (private): the versioned record encoding. `durability` (private): group commit.
//!
//! `DESIGN.md` beside this crate states the key layout and the invariants.

mod codec;
mod config_audit;
mod derived;
mod durability;
mod engine;
mod keys;
mod lifespan;
mod verify_derived;
mod verify_timeline;

pub mod audit;
pub mod changes;
pub mod config;
pub mod counts;
pub mod customers;
pub mod error;
pub mod list;
pub mod record;
pub mod report;
pub mod scoring;
pub mod search;
pub mod segments;
pub mod store;
pub mod timeline;
pub mod verify;

pub use audit::{AuditEvent, AuditPage, AuditQuery, Origin};
pub use changes::{ChangeEvent, ChangeKind};
pub use config::{Clock, Durability, ManualClock, StoreConfig, SystemClock};
pub use counts::CustomerCounts;
pub use error::{Result, StoreError};
pub use list::{CustomerPage, ListQuery};
pub use record::{EntryMeta, Recorded};
pub use search::SearchPage;
pub use segments::SegmentPage;
pub use store::Store;
pub use timeline::{TimelinePage, TimelineQuery};

/// Decodes the bytes of a stored customer record (version byte and body), as the store does on
/// every read. For tools and fuzzing: damaged input is an error, never a panic.
pub fn decode_customer_record(bytes: &[u8]) -> Result<crm_core::Customer> {
    codec::decode(bytes, &|| "record".into())
}

/// Decodes `bytes` as every kind of value the store keeps (customer, summary, timeline entry,
/// change-log record, segment, scoring model, derived state, configuration event), and says how
/// many decoded. For fuzzing: damaged input is an error for each, never a panic.
#[doc(hidden)]
pub fn decode_every_kind(bytes: &[u8]) -> usize {
    let label = || "value".to_string();
    [
        codec::decode::<crm_core::Customer>(bytes, &label).is_ok(),
        codec::decode::<crm_core::Summary>(bytes, &label).is_ok(),
        codec::decode::<crm_core::TimelineEntry>(bytes, &label).is_ok(),
        codec::decode::<changes::LogRecord>(bytes, &label).is_ok(),
        codec::decode::<crm_core::Segment>(bytes, &label).is_ok(),
        codec::decode::<crm_core::ScoringModel>(bytes, &label).is_ok(),
        codec::decode::<derived::DerivedState>(bytes, &label).is_ok(),
        codec::decode::<derived::DerivedMeta>(bytes, &label).is_ok(),
        codec::decode::<config_audit::ConfigRecord>(bytes, &label).is_ok(),
    ]
    .into_iter()
    .filter(|ok| *ok)
    .count()
}
pub use verify::VerifyReport;
