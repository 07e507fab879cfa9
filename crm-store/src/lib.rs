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
//! let created = store.customers().create(ada, None)?;
//!
//! let found = store.customers().lookup_by_email("ada@example.COM")?;
//! assert_eq!(found.id, created.id);
//! assert_eq!(found.data.tags, vec!["vip"]);
//!
//! let page = store.customers().list(&ListQuery {
//!     filter: crm_core::Filter::parse(r#"tags:"vip""#)?,
//!     ..ListQuery::default()
//! })?;
//! assert_eq!(page.customers.len(), 1);
//! assert!(store.verify()?.is_clean());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`engine`]: the engine contract (transactions, ranges, snapshots, sync), its sled adapter
//!   (the only code that calls sled) and the conformance suite every engine passes.
//! - `kv` (private but for [`kv::family`]): the key layout, the versioned value codec, and the
//!   entity families with their keepers.
//! - `write` (private): the write path (one transaction per write) and group commit.
//! - [`store`]: the [`Store`] handle and opening.
//! - [`customers`]: create, get, update, delete, look up; listing, search and kept counts.
//! - [`timeline`]: each customer's timeline and summary; recording interactions, purchases,
//!   refunds, losses, qualifications and lifecycle moves, with the automatic moves they trigger.
//! - [`derived`]: what is derived about a customer as time passes: the lead-scoring model, the
//!   derived index of status and temperature, the churn-derived CLV lifespan.
//! - [`segments`]: saved filters; their members listed and counted as they are now.
//! - [`feedback`]: survey answers and reviews on the timeline, and the feedback report.
//! - [`support`]: support tickets, their threads, SLA clocks in business time, the support
//!   report.
//! - [`audit`]: the change log, the audit trail and the configuration trail.
//! - [`report`]: the portfolio report, one streaming pass.
//! - [`verify`]: the consistency check.
//! - [`config`]: [`StoreConfig`], [`Durability`], [`Clock`].
//! - [`error`]: the error type, [`StoreError`].
//!
//! `DESIGN.md` beside this crate states the engine contract, the key layout and the invariants.

pub mod engine;
pub mod kv;
pub mod mark;
mod write;

pub mod audit;
pub mod automation;
pub mod backup;
pub mod config;
pub mod customers;
pub mod deals;
pub mod derived;
pub mod error;
pub mod feedback;
pub mod loyalty;
pub mod privacy;
pub mod report;
pub mod segments;
pub mod settings;
pub mod store;
pub mod support;
pub mod tasks;
pub mod timeline;
pub mod verify;

pub use audit::changes::{ChangeEvent, ChangeKind, EntityKind, EntityRef};
pub use audit::feed::{FeedBatch, FeedEvent, FeedQuery, Watch};
pub use audit::{AuditEvent, AuditPage, AuditQuery, Origin};
pub use backup::{BackupInfo, restore};
pub use config::{Clock, Durability, Embedded, ManualClock, StoreConfig, SystemClock};
pub use customers::counts::CustomerCounts;
pub use customers::list::{CustomerPage, ListQuery};
pub use customers::search::SearchPage;
pub use error::{Precondition, Resource, Result, StoreError, UniqueField};
pub use segments::SegmentPage;
pub use store::Store;
pub use timeline::record::{EntryMeta, Recorded};
pub use timeline::{TimelinePage, TimelineQuery};

/// Decodes the bytes of a stored customer record (version byte and body), as the store does on
/// every read. For tools and fuzzing: damaged input is an error, never a panic.
pub fn decode_customer_record(bytes: &[u8]) -> Result<crm_core::Customer> {
    kv::codec::decode(bytes, &|| "record".into())
}

/// Decodes `bytes` as every kind of value the store keeps (customer, summary, timeline entry,
/// change-log record, segment, scoring model, derived state, configuration event, merge
/// record, ticket, ticket message, feedback fact, SLA policy, business calendar), and says how
/// many decoded. For fuzzing: damaged input is an error for each, never a panic.
#[doc(hidden)]
pub fn decode_every_kind(bytes: &[u8]) -> usize {
    use kv::codec;
    let label = || "value".to_string();
    [
        codec::decode::<crm_core::Customer>(bytes, &label).is_ok(),
        codec::decode::<crm_core::Summary>(bytes, &label).is_ok(),
        codec::decode::<crm_core::TimelineEntry>(bytes, &label).is_ok(),
        codec::decode::<audit::changes::LogRecord>(bytes, &label).is_ok(),
        codec::decode::<crm_core::Segment>(bytes, &label).is_ok(),
        codec::decode::<crm_core::ScoringModel>(bytes, &label).is_ok(),
        codec::decode::<derived::DerivedState>(bytes, &label).is_ok(),
        codec::decode::<derived::DerivedMeta>(bytes, &label).is_ok(),
        codec::decode::<audit::config::ConfigRecord>(bytes, &label).is_ok(),
        codec::decode::<customers::merge::MergeRecord>(bytes, &label).is_ok(),
        codec::decode::<crm_core::support::Ticket>(bytes, &label).is_ok(),
        codec::decode::<crm_core::support::TicketMessage>(bytes, &label).is_ok(),
        codec::decode::<feedback::FeedbackFact>(bytes, &label).is_ok(),
        codec::decode::<support::Configured<crm_core::support::SlaPolicy>>(bytes, &label).is_ok(),
        codec::decode::<support::Configured<crm_core::support::BusinessCalendar>>(bytes, &label)
            .is_ok(),
    ]
    .into_iter()
    .filter(|ok| *ok)
    .count()
}

/// The README's library example, compiled as a doc-test so that it stays correct as pasted.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeLibraryExample;
