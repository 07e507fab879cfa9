//! Entity families: each kind of stored record declares its key, its value type and its
//! keepers (garage's `updated(old, new)`): what the record implies elsewhere in the key space.
//!
//! - **index entries**: a key (and a fixed value) per record, for finding records by a value;
//! - **unique keys**: a key claimed by one record only, its value naming the owner; a second
//!   claim is refused with [`StoreError::AlreadyExists`];
//! - **counts**: a key counting how many records imply it (an 8-byte big-endian count, absent
//!   when zero).
//!
//! The write path ([`crate::write::Write::put_record`]) writes the difference between what the
//! old and the new record imply, in the write's transaction; `verify` recomputes what every
//! stored record implies with the same [`Family::keep`] and compares it with what is stored. So
//! each rule is stated once, and a new family needs no change to either: it implements
//! [`Family`] and is listed in [`registered`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::error::{Result, StoreError, UniqueField};
use crate::kv::codec::{self, Stored};
use crate::kv::{Kv, keys};

/// A unique key a record claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unique {
    /// The key.
    pub key: Vec<u8>,
    /// What the key holds: the owner's id.
    pub owner: Vec<u8>,
    /// The field of the record the value comes from, for the caller's error.
    pub field: UniqueField,
    /// The value, as the caller wrote it, for the caller's error.
    pub value: String,
}

/// What one record implies: filled by [`Family::keep`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kept {
    pub(crate) entries: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) uniques: Vec<Unique>,
    pub(crate) counts: Vec<Vec<u8>>,
}

impl Kept {
    /// An index entry `key` -> `value` (usually empty).
    pub fn index(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.entries.insert(key.into(), value.into());
    }

    /// A unique key `key` -> `owner`.
    pub fn unique(
        &mut self,
        key: impl Into<Vec<u8>>,
        owner: impl Into<Vec<u8>>,
        field: UniqueField,
        value: impl Into<String>,
    ) {
        self.uniques.push(Unique {
            key: key.into(),
            owner: owner.into(),
            field,
            value: value.into(),
        });
    }

    /// One more of `key`.
    pub fn count(&mut self, key: impl Into<Vec<u8>>) {
        self.counts.push(key.into());
    }
}

/// A kind of stored record and what it implies.
pub trait Family: Send + Sync + 'static {
    /// The record.
    type Record: Stored;

    /// The family's name, for `verify`'s report.
    const NAME: &'static str;

    /// The prefix every record key of the family starts with.
    const PREFIX: &'static [u8];

    /// Where a record is stored.
    fn key(record: &Self::Record) -> Vec<u8>;

    /// What a record implies.
    fn keep(record: &Self::Record, kept: &mut Kept);

    /// The key prefixes [`Family::keep`] writes under, which no other family writes under.
    fn kept_prefixes() -> Vec<Vec<u8>>;

    /// A record key, printable for `verify`'s report.
    fn describe(key: &[u8]) -> String {
        keys::describe(key)
    }

    /// The record key that implied a kept entry (`key`, `value`), where the entry says: `verify`
    /// does not report the entries of a record that does not decode.
    fn owner_of(key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let _ = (key, value);
        None
    }

    /// For a record that holds a state evaluated at an instant, with the instant until which
    /// it holds (a ticket's SLA status): the problem, if the state it holds is not its state at
    /// `now`. A state that expired by `now` is not a problem: the next query evaluates it again.
    fn stale_at(record: &Self::Record, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let _ = (record, now);
        None
    }

    /// The family's invariants across records, beyond what each implies (a loyalty account
    /// is the fold of its ledger entries): problems found, for `verify`.
    fn cross_check(kv: &Kv, problems: &mut Vec<String>) -> Result<()> {
        let _ = (kv, problems);
        Ok(())
    }
}

/// A family as `verify` sees it: records as bytes.
pub(crate) trait Registered: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    fn prefix(&self) -> &'static [u8];
    /// Decodes a record, checks that it sits at its key and that a state it holds is current at
    /// `now`, and adds what it implies.
    fn keep_stored(
        &self,
        key: &[u8],
        value: &[u8],
        kept: &mut Kept,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String>;
    fn kept_prefixes(&self) -> Vec<Vec<u8>>;
    fn owner_of(&self, key: &[u8], value: &[u8]) -> Option<Vec<u8>>;
    fn cross_check(&self, kv: &Kv, problems: &mut Vec<String>) -> Result<()>;
}

/// The adapter from a typed [`Family`] to [`Registered`].
pub(crate) struct Of<F>(std::marker::PhantomData<F>);

impl<F> std::fmt::Debug for Of<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("family")
    }
}

/// `F` as a registered family.
pub(crate) fn of<F: Family>() -> Arc<dyn Registered> {
    Arc::new(Of::<F>(std::marker::PhantomData))
}

impl<F: Family> Registered for Of<F> {
    fn name(&self) -> &'static str {
        F::NAME
    }

    fn prefix(&self) -> &'static [u8] {
        F::PREFIX
    }

    fn keep_stored(
        &self,
        key: &[u8],
        value: &[u8],
        kept: &mut Kept,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        let record: F::Record =
            codec::decode(value, &|| F::describe(key)).map_err(|e| e.to_string())?;
        if F::key(&record) != key {
            return Err(format!(
                "{} record at {} is out of place",
                F::NAME,
                F::describe(key)
            ));
        }
        F::keep(&record, kept);
        match F::stale_at(&record, now) {
            Some(problem) => Err(format!("{} {problem}", F::describe(key))),
            None => Ok(()),
        }
    }

    fn kept_prefixes(&self) -> Vec<Vec<u8>> {
        F::kept_prefixes()
    }

    fn owner_of(&self, key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        F::owner_of(key, value)
    }

    fn cross_check(&self, kv: &Kv, problems: &mut Vec<String>) -> Result<()> {
        F::cross_check(kv, problems)
    }
}

/// Every family of the store. A domain adds its family here.
pub(crate) fn registered() -> Vec<Arc<dyn Registered>> {
    vec![
        of::<crate::customers::family::CustomerFamily>(),
        of::<crate::segments::family::SegmentFamily>(),
        of::<crate::audit::changes::ChangeLog>(),
        of::<crate::audit::config::ConfigTrail>(),
        of::<crate::support::family::TicketFamily>(),
        of::<crate::support::family::MessageFamily>(),
        of::<crate::feedback::FeedbackFamily>(),
        of::<crate::loyalty::family::MemberFamily>(),
        of::<crate::loyalty::family::EntryFamily>(),
        of::<crate::loyalty::rewards::RewardFamily>(),
        of::<crate::deals::family::PipelineFamily>(),
        of::<crate::deals::family::DealFamily>(),
        of::<crate::tasks::TaskFamily>(),
        of::<crate::automation::RuleFamily>(),
        of::<crate::automation::FiringFamily>(),
    ]
}

/// What a domain removes, in the delete's own write, when a customer is deleted: its records
/// that belong to the customer (a domain that keeps such records lists itself here, beside its
/// families).
pub(crate) type Cascade = fn(&mut crate::write::Write<'_>, crm_core::CustomerId) -> Result<()>;

/// Every domain's cascade, run before the customer's timeline and record go.
pub(crate) const CUSTOMER_CASCADES: &[Cascade] = &[
    crate::tasks::forget_customer,
    crate::deals::forget_customer,
    crate::feedback::forget_customer,
    crate::support::forget_customer,
    crate::loyalty::forget_customer,
];

/// What a domain does, in the erasure's own write, when a customer's personal data is erased:
/// it replaces the free texts it keeps about the person (see `privacy/mod.rs`). Records,
/// amounts and dates stay.
pub(crate) type Eraser = fn(&mut crate::write::Write<'_>, crm_core::CustomerId) -> Result<()>;

/// Every domain's eraser, run before the customer's record is anonymized.
pub(crate) const CUSTOMER_ERASERS: &[Eraser] = &[
    crate::timeline::erase::erase_customer,
    crate::support::erase_customer,
    crate::tasks::erase_customer,
    crate::deals::erase_customer,
];

/// What a domain does when an entry is added to a customer's timeline, in the same write (the
/// loyalty ledger earns on a purchase and reverses on a refund).
pub(crate) type TimelineHook = fn(
    &mut crate::write::Write<'_>,
    &crate::timeline::Subject,
    &crm_core::TimelineEntry,
) -> Result<()>;

/// Every domain's timeline hook, run as each entry is appended.
pub(crate) const TIMELINE_HOOKS: &[TimelineHook] = &[crate::loyalty::on_timeline_entry];

/// What `verify` found for the families: records read, kept entries checked.
#[derive(Debug, Default)]
pub(crate) struct FamilyCheck {
    pub(crate) records: BTreeMap<&'static str, u64>,
    /// Kept entries read, per family.
    pub(crate) entries: BTreeMap<&'static str, u64>,
    pub(crate) uniques: u64,
    pub(crate) counts: u64,
}

/// Recomputes what every record of every family implies and compares it with what is stored.
pub(crate) fn verify(
    kv: &Kv,
    families: &[Arc<dyn Registered>],
    now: chrono::DateTime<chrono::Utc>,
    problems: &mut Vec<String>,
) -> Result<FamilyCheck> {
    let mut check = FamilyCheck::default();
    for family in families {
        let mut expected = Kept::default();
        let mut damaged = BTreeSet::new();
        let mut read = 0;
        for item in kv.scan_prefix(family.prefix()) {
            let (key, value) = item?;
            read += 1;
            let mut kept = Kept::default();
            match family.keep_stored(&key, &value, &mut kept, now) {
                Ok(()) => {
                    expected.entries.extend(kept.entries);
                    expected.uniques.extend(kept.uniques);
                    expected.counts.extend(kept.counts);
                }
                Err(problem) => {
                    // A record whose state is stale still implies its entries; one that does
                    // not decode, or sits elsewhere, implies none.
                    if kept != Kept::default() {
                        expected.entries.extend(kept.entries);
                        expected.uniques.extend(kept.uniques);
                        expected.counts.extend(kept.counts);
                    } else {
                        damaged.insert(key);
                    }
                    problems.push(problem);
                }
            }
        }
        check.records.insert(family.name(), read);
        let of_damaged = |key: &[u8], value: &[u8]| {
            family
                .owner_of(key, value)
                .is_some_and(|owner| damaged.contains(&owner))
        };
        let mut uniques = BTreeMap::new();
        for u in expected.uniques {
            if let Some(previous) = uniques.insert(u.key.clone(), u.owner.clone()) {
                problems.push(format!(
                    "{} is claimed by {} and {}",
                    keys::describe(&u.key),
                    keys::describe_value(&previous),
                    keys::describe_value(&u.owner)
                ));
            }
        }
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for key in expected.counts {
            *counts.entry(key).or_default() += 1;
        }
        let mut wanted: BTreeMap<Vec<u8>, (Vec<u8>, &str)> = BTreeMap::new();
        for (k, v) in expected.entries {
            wanted.insert(k, (v, "index entry"));
        }
        check.uniques += uniques.len() as u64;
        for (k, owner) in uniques {
            wanted.insert(k, (owner, "unique key"));
        }
        check.counts += counts.len() as u64;
        for (k, n) in counts {
            wanted.insert(k, (n.to_be_bytes().to_vec(), "count"));
        }
        for prefix in family.kept_prefixes() {
            for item in kv.scan_prefix(&prefix) {
                let (key, value) = item?;
                *check.entries.entry(family.name()).or_default() += 1;
                match wanted.remove(&key) {
                    Some((v, _)) if v == value => {}
                    _ if of_damaged(&key, &value) => {}
                    Some((v, what)) => problems.push(format!(
                        "{what} {} holds {}, records say {}",
                        keys::describe(&key),
                        keys::describe_value(&value),
                        keys::describe_value(&v)
                    )),
                    None => problems.push(format!(
                        "{} entry {} has no matching record",
                        family.name(),
                        keys::describe(&key)
                    )),
                }
            }
        }
        for (key, (_, what)) in wanted {
            problems.push(format!("{what} {} is missing", keys::describe(&key)));
        }
        family.cross_check(kv, problems)?;
    }
    Ok(check)
}

/// Counts read as they are stored (absent: zero).
pub(crate) fn count_value(key: &[u8], value: Option<&[u8]>) -> Result<u64> {
    match value {
        None => Ok(0),
        Some(v) => keys::u64_value(v).ok_or_else(|| StoreError::Corrupt {
            key: keys::describe(key),
            detail: "a count is not 8 bytes".into(),
        }),
    }
}

#[cfg(test)]
#[path = "family_tests.rs"]
mod tests;
