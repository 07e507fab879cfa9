//! The key layout. Everything lives in one ordered keyspace; the first byte says what a key is.
//! DESIGN.md describes each family. This file allocates every first byte; it builds and takes
//! apart the keys of the store's first families, and a domain added later builds the keys under
//! its own first bytes in its folder's `keys.rs` (`support/keys.rs`, `feedback/keys.rs`).
//!
//! Integers and times are big-endian (times with the sign bit flipped) so byte order is numeric
//! order. Variable-length text inside a key ends with a 0 byte; validation forbids control
//! characters in indexed text, so the terminator cannot occur inside it.

use chrono::{DateTime, Utc};
use crm_core::{
    Customer, CustomerId, CustomerKind, EntryId, IndexedTerm, LifecycleStage, RelationshipStatus,
    Temperature,
};

/// `C id` -> a customer record.
pub(crate) const CUSTOMER: u8 = b'C';
/// `I kind ... id` -> empty: a secondary-index entry.
pub(crate) const INDEX: u8 = b'I';
/// `U kind value` -> id: a unique value (email, external id).
pub(crate) const UNIQUE: u8 = b'U';
/// `L seq` -> a change-log event with its audit fields (who, which operation, request id).
pub(crate) const CHANGE: u8 = b'L';
/// `R request_id` -> id and time: a create already done for this request id.
pub(crate) const REQUEST: u8 = b'R';
/// `W row_key` -> customer id, time, digest (32): an import row already written.
pub(crate) const IMPORT_ROW: u8 = b'W';
/// `X id` -> survivor id, merge id: a customer merged into another.
pub(crate) const MERGED: u8 = b'X';
/// `Y merge_id` -> a merge record: what a merge changed, to undo it.
pub(crate) const MERGE: u8 = b'Y';
/// `a id seq` -> empty: a customer's audit events.
pub(crate) const AUDIT_BY_CUSTOMER: u8 = b'a';
/// `N org_id` -> count: how many people belong to an organization.
pub(crate) const MEMBERS: u8 = b'N';

/// `T id occurred_at seq` -> a timeline entry.
pub(crate) const TIMELINE: u8 = b'T';
/// `S id` -> a customer's summary.
pub(crate) const SUMMARY: u8 = b'S';
/// `O id order_ref` -> entry id, occurred_at, refunded: a customer's purchase by order.
pub(crate) const ORDER: u8 = b'O';
/// `P id occurred_at seq` -> empty: a customer's purchase times.
pub(crate) const PURCHASE_TIME: u8 = b'P';
/// `F referred referrer entry` -> the referral's time, then the conversion's once it converted
/// (micros, 8 bytes each; empty in keys written before 2026-11-30): a referral made by
/// `referrer`.
pub(crate) const REFERRAL: u8 = b'F';
/// `E request_id` -> a timeline key: a timeline write already done for this request id.
pub(crate) const ENTRY_REQUEST: u8 = b'E';

/// `G id` -> a segment.
pub(crate) const SEGMENT: u8 = b'G';
/// `H name` -> id: segment names, unique case-insensitively.
pub(crate) const SEGMENT_NAME: u8 = b'H';

/// `D id` -> a customer's derived state: relationship status, lead temperature, and until when
/// they hold.
pub(crate) const DERIVED: u8 = b'D';
/// `Z dimension value id` -> empty: the customers with a derived value (see `derived.rs`).
pub(crate) const DERIVED_INDEX: u8 = b'Z';
/// `z until id` -> empty: when a customer's derived state must be evaluated again.
pub(crate) const DERIVED_DUE: u8 = b'z';
/// `K kind stage` -> count: customers of a kind in a lifecycle stage.
pub(crate) const STAGE_COUNT: u8 = b'K';

/// `Q ticket_id` -> a support ticket (see `support/keys.rs`).
pub(crate) const TICKET: u8 = b'Q';
/// `q kind ...` -> what tickets imply: their indexes, SLA states and schedule, backlog counts.
pub(crate) const TICKET_KEPT: u8 = b'q';
/// `J ticket_id number` -> a ticket's message.
pub(crate) const TICKET_MESSAGE: u8 = b'J';
/// `j request_id` -> ticket id: a ticket already created for this request id.
pub(crate) const TICKET_REQUEST: u8 = b'j';
/// `B customer_id` -> a loyalty member's account (see `loyalty/keys.rs`).
pub(crate) const LOYALTY_ACCOUNT: u8 = b'B';
/// `b kind ...` -> what accounts imply: the tier index and the schedule.
pub(crate) const LOYALTY_KEPT: u8 = b'b';
/// `e customer_id number` -> a loyalty ledger entry.
pub(crate) const LOYALTY_ENTRY: u8 = b'e';
/// `k reward_id` -> a loyalty reward of the catalog.
pub(crate) const LOYALTY_REWARD: u8 = b'k';
/// `V time entry_id` -> a feedback fact: who answered what, for the feedback report.
pub(crate) const FEEDBACK: u8 = b'V';
/// `p pipeline_id` -> a sales pipeline (see `deals/keys.rs`).
pub(crate) const PIPELINE: u8 = b'p';
/// `d deal_id` -> a deal.
pub(crate) const DEAL: u8 = b'd';
/// `f kind ...` -> what deals imply: their indexes and the rotting schedule.
pub(crate) const DEAL_KEPT: u8 = b'f';
/// `t task_id` -> a task (see `tasks/keys.rs`).
pub(crate) const TASK: u8 = b't';
/// `u kind ...` -> what tasks imply: their indexes, the open tasks by owner and due time.
pub(crate) const TASK_KEPT: u8 = b'u';
/// `r rule_id` -> an automation rule (see `automation/keys.rs`).
pub(crate) const RULE: u8 = b'r';
/// `w kind ...` -> the automation worker's record: firings and the entities in a state.
pub(crate) const AUTOMATION: u8 = b'w';

/// `x kind hash(32)` -> customer id(8), time(8): an erased email (kind 1) or phone (kind 2),
/// by its keyed hash (see `privacy/mod.rs`).
pub(crate) const SUPPRESSED: u8 = b'x';

/// `A seq` -> a configuration audit event (segments, the scoring model).
pub(crate) const CONFIG_AUDIT: u8 = b'A';

/// The first byte of every store-wide value (`M name`).
pub(crate) const META: u8 = b'M';
/// `M name` -> a store-wide value: the format version and the counters.
pub(crate) const META_FORMAT: &[u8] = b"Mformat";
pub(crate) const META_LAST_ID: &[u8] = b"Mlast_id";
pub(crate) const META_SCORING_MODEL: &[u8] = b"Mscoring_model";
pub(crate) const META_LAST_SEGMENT: &[u8] = b"Mlast_segment";
/// What the derived index was built with, and the latest instant it was evaluated at.
pub(crate) const META_DERIVED: &[u8] = b"Mderived";
/// The CLV lifespan last measured from churn, for every process sharing the store.
pub(crate) const META_LIFESPAN: &[u8] = b"Mlifespan";
/// The secret page tokens are sealed with (32 random bytes, made on first open).
pub(crate) const META_PAGE_SECRET: &[u8] = b"Mpage_secret";
/// The newest ticket id handed out.
pub(crate) const META_LAST_TICKET: &[u8] = b"Mlast_ticket";
/// The SLA policy in force.
pub(crate) const META_SLA_POLICY: &[u8] = b"Msla_policy";
/// The business calendar in force.
pub(crate) const META_CALENDAR: &[u8] = b"Mbusiness_calendar";
/// The newest reward id handed out.
pub(crate) const META_LAST_REWARD: &[u8] = b"Mlast_reward";
/// The loyalty program in force.
pub(crate) const META_LOYALTY_PROGRAM: &[u8] = b"Mloyalty_program";
/// The loyalty program version every account's state was evaluated with.
pub(crate) const META_LOYALTY_EVALUATED: &[u8] = b"Mloyalty_evaluated";

/// The retention policy in force.
pub(crate) const META_RETENTION: &[u8] = b"Mretention_policy";

/// The newest pipeline id handed out.
pub(crate) const META_LAST_PIPELINE: &[u8] = b"Mlast_pipeline";
/// The newest deal id handed out.
pub(crate) const META_LAST_DEAL: &[u8] = b"Mlast_deal";
/// The newest task id handed out.
pub(crate) const META_LAST_TASK: &[u8] = b"Mlast_task";
/// The newest rule id handed out.
pub(crate) const META_LAST_RULE: &[u8] = b"Mlast_rule";
/// The automation worker's cursor: the change-log position it has handled up to, written in
/// the same transaction as the actions it took.
pub(crate) const META_AUTOMATION_CURSOR: &[u8] = b"Mautomation_cursor";

/// `Mlease:NAME` -> holder(8) expiry(8, micros): who runs a job that must run once, until when.
pub(crate) fn lease(name: &str) -> Vec<u8> {
    [b"Mlease:", name.as_bytes()].concat()
}

const DX_STATUS: u8 = 1;
const DX_TEMPERATURE: u8 = 2;

const IX_STAGE: u8 = 1;
const IX_KIND: u8 = 2;
const IX_TAG: u8 = 3;
const IX_OWNER: u8 = 4;
const IX_ORG: u8 = 5;
const IX_COUNTRY: u8 = 6;
pub(crate) const IX_UPDATE_TIME: u8 = 0x10;
pub(crate) const IX_DISPLAY_NAME: u8 = 0x11;
pub(crate) const IX_SEARCH: u8 = 0x20;

const UQ_EMAIL: u8 = 1;
const UQ_EXTERNAL_ID: u8 = 2;

pub(crate) fn customer(id: CustomerId) -> [u8; 9] {
    let mut k = [CUSTOMER; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn change(seq: u64) -> [u8; 9] {
    let mut k = [CHANGE; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn config_audit(seq: u64) -> [u8; 9] {
    let mut k = [CONFIG_AUDIT; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn audit_by_customer_prefix(id: CustomerId) -> [u8; 9] {
    let mut k = [AUDIT_BY_CUSTOMER; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn audit_by_customer(id: CustomerId, seq: u64) -> [u8; 17] {
    let mut k = [0; 17];
    k[..9].copy_from_slice(&audit_by_customer_prefix(id));
    k[9..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn members(org: CustomerId) -> [u8; 9] {
    let mut k = [MEMBERS; 9];
    k[1..].copy_from_slice(&org.0.to_be_bytes());
    k
}

/// `X id` for the per-customer families (`T`, `S`, `O`, `P`, and `F` by referred customer).
pub(crate) fn of_customer(family: u8, id: CustomerId) -> [u8; 9] {
    let mut k = [family; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// `T id occurred_at entry`: entries sort by customer, then time, then recording order.
pub(crate) fn timeline(id: CustomerId, occurred_at: DateTime<Utc>, entry: EntryId) -> Vec<u8> {
    [
        &of_customer(TIMELINE, id)[..],
        &time_bytes(occurred_at),
        &entry.0.to_be_bytes(),
    ]
    .concat()
}

/// `T id occurred_at`: where a customer's entries at or after a time start.
pub(crate) fn timeline_from(id: CustomerId, t: DateTime<Utc>) -> Vec<u8> {
    [&of_customer(TIMELINE, id)[..], &time_bytes(t)].concat()
}

/// `P id occurred_at entry`.
pub(crate) fn purchase_time(id: CustomerId, occurred_at: DateTime<Utc>, entry: EntryId) -> Vec<u8> {
    [
        &of_customer(PURCHASE_TIME, id)[..],
        &time_bytes(occurred_at),
        &entry.0.to_be_bytes(),
    ]
    .concat()
}

/// `P id occurred_at`.
pub(crate) fn purchase_time_from(id: CustomerId, t: DateTime<Utc>) -> Vec<u8> {
    [&of_customer(PURCHASE_TIME, id)[..], &time_bytes(t)].concat()
}

/// The time in a `P` key.
pub(crate) fn purchase_time_of(key: &[u8]) -> Option<DateTime<Utc>> {
    let raw: [u8; 8] = key.get(9..17)?.try_into().ok()?;
    let micros = (u64::from_be_bytes(raw) ^ (1 << 63)) as i64;
    DateTime::from_timestamp_micros(micros)
}

/// `O id order_ref`.
pub(crate) fn order(id: CustomerId, order_ref: &str) -> Vec<u8> {
    [&of_customer(ORDER, id)[..], order_ref.as_bytes()].concat()
}

/// `F referred referrer entry`.
pub(crate) fn referral(referred: CustomerId, referrer: CustomerId, entry: EntryId) -> Vec<u8> {
    [
        &of_customer(REFERRAL, referred)[..],
        &referrer.0.to_be_bytes(),
        &entry.0.to_be_bytes(),
    ]
    .concat()
}

/// The referrer in an `F` key.
pub(crate) fn referrer_of(key: &[u8]) -> Option<CustomerId> {
    Some(CustomerId(u64::from_be_bytes(
        key.get(9..17)?.try_into().ok()?,
    )))
}

pub(crate) fn segment(id: crm_core::SegmentId) -> [u8; 9] {
    let mut k = [SEGMENT; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn segment_name(name_key: &str) -> Vec<u8> {
    [&[SEGMENT_NAME], name_key.as_bytes()].concat()
}

pub(crate) fn entry_request(request_id: &str) -> Vec<u8> {
    [&[ENTRY_REQUEST], request_id.as_bytes()].concat()
}

/// `Y merge_id`.
pub(crate) fn merge(id: u64) -> [u8; 9] {
    let mut k = [MERGE; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `I org id`: where the people of an organization are indexed.
pub(crate) fn org_members_prefix(org: CustomerId) -> Vec<u8> {
    [&[INDEX, IX_ORG][..], &org.0.to_be_bytes()].concat()
}

pub(crate) fn import_row(row_key: &str) -> Vec<u8> {
    [&[IMPORT_ROW], row_key.as_bytes()].concat()
}

pub(crate) fn request(request_id: &str) -> Vec<u8> {
    [&[REQUEST], request_id.as_bytes()].concat()
}

pub(crate) fn unique_email(address: &str) -> Vec<u8> {
    [&[UNIQUE, UQ_EMAIL], address.as_bytes()].concat()
}

pub(crate) fn unique_external_id(external_id: &str) -> Vec<u8> {
    [&[UNIQUE, UQ_EXTERNAL_ID], external_id.as_bytes()].concat()
}

/// The last 8 bytes of a key, as the customer id they end with.
pub(crate) fn trailing_id(key: &[u8]) -> Option<CustomerId> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(CustomerId(u64::from_be_bytes(tail)))
}

/// A big-endian u64 value (ids, counters).
pub(crate) fn u64_value(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

pub(crate) fn time_bytes(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

/// How display names sort: case-insensitively.
pub(crate) fn collate(name: &str) -> String {
    name.to_lowercase()
}

fn text_entry(kind: u8, text: &str, id: CustomerId) -> Vec<u8> {
    let mut k = Vec::with_capacity(text.len() + 11);
    k.extend_from_slice(&[INDEX, kind]);
    k.extend_from_slice(text.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

fn fixed_entry(kind: u8, value: &[u8], id: CustomerId) -> Vec<u8> {
    [&[INDEX, kind], value, &id.0.to_be_bytes()].concat()
}

fn kind_byte(kind: CustomerKind) -> u8 {
    match kind {
        CustomerKind::Person => 1,
        CustomerKind::Organization => 2,
    }
}

fn stage_byte(stage: LifecycleStage) -> u8 {
    stage.rank()
}

fn status_byte(s: RelationshipStatus) -> u8 {
    s as u8
}

fn temperature_byte(t: Temperature) -> u8 {
    t as u8
}

/// `Z 1 status id` and `Z 2 temperature id`: a customer's entries in the derived index.
pub(crate) fn derived_entries(
    id: CustomerId,
    status: RelationshipStatus,
    temperature: Temperature,
) -> [Vec<u8>; 2] {
    let tail = id.0.to_be_bytes();
    [
        [&[DERIVED_INDEX, DX_STATUS, status_byte(status)][..], &tail].concat(),
        [
            &[DERIVED_INDEX, DX_TEMPERATURE, temperature_byte(temperature)][..],
            &tail,
        ]
        .concat(),
    ]
}

/// `z until id`.
pub(crate) fn derived_due(until: DateTime<Utc>, id: CustomerId) -> [u8; 17] {
    let mut k = [DERIVED_DUE; 17];
    k[1..9].copy_from_slice(&time_bytes(until));
    k[9..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// `z t`: every due key before this one is due at or before `t - 1µs`.
pub(crate) fn derived_due_before(t: DateTime<Utc>) -> [u8; 9] {
    let mut k = [DERIVED_DUE; 9];
    k[1..].copy_from_slice(&time_bytes(t));
    k
}

/// `K kind stage`.
pub(crate) fn stage_count(kind: CustomerKind, stage: LifecycleStage) -> [u8; 3] {
    [STAGE_COUNT, kind_byte(kind), stage_byte(stage)]
}

/// The key prefix under which an index lists, in id order, the customers matching `term`.
pub(crate) fn term_prefix(term: &IndexedTerm) -> Vec<u8> {
    match term {
        IndexedTerm::Stage(s) => vec![INDEX, IX_STAGE, stage_byte(*s)],
        IndexedTerm::Kind(k) => vec![INDEX, IX_KIND, kind_byte(*k)],
        IndexedTerm::Tag(t) => text_prefix(IX_TAG, t),
        IndexedTerm::Owner(o) => text_prefix(IX_OWNER, o),
        IndexedTerm::Organization(id) => [&[INDEX, IX_ORG][..], &id.0.to_be_bytes()].concat(),
        IndexedTerm::Country(c) => [&[INDEX, IX_COUNTRY][..], c.as_bytes()].concat(),
        IndexedTerm::Status(s) => vec![DERIVED_INDEX, DX_STATUS, status_byte(*s)],
        IndexedTerm::Temperature(t) => vec![DERIVED_INDEX, DX_TEMPERATURE, temperature_byte(*t)],
        IndexedTerm::LoyaltyTier(t) => crate::loyalty::family::tier_prefix(t),
    }
}

fn text_prefix(kind: u8, text: &str) -> Vec<u8> {
    let mut k = vec![INDEX, kind];
    k.extend_from_slice(text.as_bytes());
    k.push(0);
    k
}

/// The prefix of an ordering index (`IX_UPDATE_TIME`, `IX_DISPLAY_NAME`).
pub(crate) fn order_prefix(kind: u8) -> Vec<u8> {
    vec![INDEX, kind]
}

/// The ordering-index entry a customer has in index `kind`.
pub(crate) fn order_entry(kind: u8, c: &Customer) -> Vec<u8> {
    if kind == IX_UPDATE_TIME {
        fixed_entry(IX_UPDATE_TIME, &time_bytes(c.update_time), c.id)
    } else {
        text_entry(IX_DISPLAY_NAME, &collate(&c.data.display_name), c.id)
    }
}

/// Every secondary-index entry of a customer. A write removes the old record's entries that the
/// new one lacks and adds the new one's entries that the old one lacked.
pub(crate) fn index_entries(c: &Customer) -> Vec<Vec<u8>> {
    let d = &c.data;
    let id = c.id;
    let mut keys = Vec::with_capacity(6 + d.tags.len());
    keys.push(fixed_entry(IX_STAGE, &[stage_byte(d.lifecycle_stage)], id));
    keys.push(fixed_entry(IX_KIND, &[kind_byte(c.kind())], id));
    for tag in &d.tags {
        keys.push(text_entry(IX_TAG, tag, id));
    }
    if let Some(owner) = &d.owner {
        keys.push(text_entry(IX_OWNER, owner, id));
    }
    if let Some(org) = d.organization_id {
        keys.push(fixed_entry(IX_ORG, &org.0.to_be_bytes(), id));
    }
    if let Some(country) = d
        .address
        .as_ref()
        .map(|a| &a.country)
        .filter(|c| !c.is_empty())
    {
        keys.push(fixed_entry(IX_COUNTRY, country.as_bytes(), id));
    }
    keys.push(order_entry(IX_UPDATE_TIME, c));
    keys.push(order_entry(IX_DISPLAY_NAME, c));
    for word in crm_core::search::customer_words(c) {
        keys.push(text_entry(IX_SEARCH, &word, id));
    }
    keys
}

/// `I 20 word`: where the search entries of words starting with `word` are.
pub(crate) fn search_prefix(word: &str) -> Vec<u8> {
    let mut k = vec![INDEX, IX_SEARCH];
    k.extend_from_slice(word.as_bytes());
    k
}

/// The word of a search entry (`I 20 word 00 id`).
pub(crate) fn search_word(key: &[u8]) -> Option<&str> {
    let body = key.get(2..key.len().checked_sub(9)?)?;
    std::str::from_utf8(body).ok()
}

/// The sequence in a `family seq(8)` key.
pub(crate) fn seq_of(key: &[u8], what: &str) -> crate::Result<u64> {
    trailing_id(key)
        .map(|seq| seq.0)
        .filter(|_| key.len() == 9)
        .ok_or_else(|| crate::StoreError::Corrupt {
            key: describe(key),
            detail: format!("a {what} key is not 9 bytes"),
        })
}

/// A value, printable: an id (8 bytes) as ids print, anything else as [`describe`] does.
pub(crate) fn describe_value(value: &[u8]) -> String {
    match u64_value(value) {
        Some(id) if value.len() == 8 => CustomerId(id).to_string(),
        _ => describe(value),
    }
}

/// A key, printable for error messages and verify reports.
pub(crate) fn describe(key: &[u8]) -> String {
    key.iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_sort_as_bytes() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
        assert!(time_bytes(t(-5)) < time_bytes(t(0)));
        assert!(time_bytes(t(0)) < time_bytes(t(1_700_000_000)));
    }

    #[test]
    fn trailing_ids_come_back() {
        let key = text_entry(IX_TAG, "vip", CustomerId(0x0102_0304_0506_0708));
        assert_eq!(trailing_id(&key), Some(CustomerId(0x0102_0304_0506_0708)));
        assert_eq!(trailing_id(b"short"), None);
    }
}
