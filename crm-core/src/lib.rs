//! # crm-core: the customer domain
//!
//! The vocabulary of crm, as plain Rust types and rules: no I/O, no storage, no network. A
//! reader learns the domain here; the store (`crm-store`) persists these types and the gRPC edge
//! (`crm-grpc`) converts them to and from the `crm.v1` contract.
//!
//! # Layout
//! - [`customer`]: who a customer is: [`Customer`], [`CustomerData`], persons and organizations,
//!   contact points, address, consent.
//! - [`lifecycle`]: the six stages from Awareness to Advocacy and the rules for moving.
//! - [`timeline`]: what happened, one entry each: interactions, purchases, refunds, stage
//!   changes, qualifications, losses, conversions.
//! - [`money`]: ISO 4217 currencies and integer minor units.
//! - [`summary`]: what a timeline adds up to, kept beside it.
//! - [`relationship`]: what it means: relationship status, lead state, automatic stage moves.
//! - [`report`]: the portfolio report: counts, funnel, retention, revenue concentration, CLV,
//!   RFM groups, cohorts.
//! - [`scoring`]: lead scoring: fit and decaying engagement, temperature; the model as data.
//! - [`search`]: the words a customer is found by, folded for case and diacritics.
//! - [`segment`]: saved filters with a name and a persona.
//! - [`value`]: what a customer is worth: historical value and CLV per currency.
//! - [`validate`]: what a customer may contain; every violation with its field path.
//! - [`normalize`]: one spelling per email, phone (E.164) and tag.
//! - [`country`]: ISO 3166-1 alpha-2 codes.
//! - [`mask`]: partial updates by field mask (AIP-134).
//! - [`filter`]: the list filter language (AIP-160 subset).
//! - [`order`]: list order (AIP-132).
//! - [`feedback`]: survey answers (NPS, CSAT, CES) and reviews; how they move the relationship.
//! - [`support`]: tickets, business calendars, SLA clocks in business time.
//! - [`loyalty`]: the points program, the ledger (lots, expiry, reversals, debt), tiers, rewards.
//! - [`deals`]: pipelines, deals and their history, the weighted and calibrated forecast.
//! - [`tasks`]: what a person must do by when, about a customer, deal or ticket.
//! - [`automation`]: rules as data: triggers on changes and on states reached, actions.
//! - [`privacy`]: consent history, erasure, retention policies, masked personal data.

pub mod automation;
pub mod country;
pub mod customer;
pub mod deals;
pub mod feedback;
pub mod filter;
mod ids;
pub mod lifecycle;
pub mod loyalty;
pub mod mask;
pub mod merge;
pub mod money;
pub mod normalize;
pub mod order;
pub mod privacy;
pub mod relationship;
pub mod report;
pub mod scoring;
pub mod search;
pub mod segment;
pub mod summary;
pub mod support;
pub mod tasks;
pub mod timeline;
pub mod validate;
pub mod value;

pub use customer::{
    Address, Consent, ConsentDecision, ConsentPurpose, Customer, CustomerData, CustomerId,
    CustomerKind, Email, Gender, IncomeBand, Organization, Party, Person, Phone,
};
pub use filter::{Filter, FilterError, IndexedTerm};
pub use lifecycle::LifecycleStage;
pub use mask::UpdateMask;
pub use money::Money;
pub use order::{OrderBy, OrderField};
pub use relationship::{Insight, LeadStatus, RelationshipRules, RelationshipStatus};
pub use scoring::{LeadScore, ScoringModel, Temperature};
pub use segment::{Segment, SegmentData, SegmentId};
pub use summary::Summary;
pub use timeline::{EntryId, EntryKind, Event, InteractionKind, TimelineEntry};
pub use validate::{Violation, Violations, validate_customer};
pub use value::{CurrencyValue, LifespanSource, ValueRules, customer_value};
