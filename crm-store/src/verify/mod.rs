//! `Store::verify`: recompute every derived entry from the records and compare with what is
//! stored. A clean report means every index entry, unique key and counter agrees with the
//! records, and every record decodes.

use std::collections::{BTreeMap, BTreeSet};

use crm_core::{CustomerId, CustomerKind};

use crate::Store;
use crate::audit::changes::ChangeLog;
use crate::audit::config::ConfigTrail;
use crate::customers::family::CustomerFamily;
use crate::error::Result;
use crate::kv::family::{self, Family};
use crate::kv::{Kv, codec, keys};
use crate::segments::family::SegmentFamily;

/// What [`Store::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Customer records read.
    pub customers: u64,
    /// Entries the customers imply (index entries, unique keys, counts) checked.
    pub index_entries: u64,
    /// Unique keys checked.
    pub unique_keys: u64,
    /// Change-log events checked.
    pub changes: u64,
    /// Audit events checked.
    pub audit_events: u64,
    /// Timeline entries checked (each summary is recomputed from its timeline).
    pub timeline_entries: u64,
    /// SegmentFamily checked.
    pub segments: u64,
    /// Configuration audit events checked.
    pub configuration_events: u64,
    /// Derived-index entries checked (relationship status, lead temperature, their schedule).
    pub derived_entries: u64,
    /// Merge tombstones checked (each names a merge that stands).
    pub merged: u64,
    /// Every difference found, for a person to read; empty when the store is consistent.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Checks every record against what it implies (index entries, unique keys, counts, audit
    /// entries: each family's keepers, the same the write path applies), every timeline against
    /// its summary and keys, the change log's order and the derived index; and that the store
    /// still holds everything its acknowledgement mark says was acknowledged (a loss accepted
    /// when opening is reported here).
    ///
    /// Writes wait while it runs (on sled; on PostgreSQL other processes' writes go on), so the
    /// picture is consistent. It reads
    /// the whole store and keeps the expected keys in memory: run it offline or in quiet hours
    /// on a large store.
    pub fn verify(&self) -> Result<VerifyReport> {
        let kv = &self.inner.engine;
        let _quiet = kv.engine().hold_writes()?;
        let mut report = VerifyReport::default();
        let problems = &mut report.problems;
        let families = family::verify(kv, &self.inner.families, self.now(), problems)?;
        let records = |name: &str| families.records.get(name).copied().unwrap_or(0);
        report.customers = records(CustomerFamily::NAME);
        report.changes = records(ChangeLog::NAME);
        report.audit_events = report.changes;
        report.segments = records(SegmentFamily::NAME);
        report.configuration_events = records(ConfigTrail::NAME);
        report.index_entries = families
            .entries
            .get(CustomerFamily::NAME)
            .copied()
            .unwrap_or(0);
        report.unique_keys = families.uniques;

        let (customers, damaged) = customers_check(kv, problems)?;
        let last_seq = change_log_check(kv, problems)?;
        report.timeline_entries =
            crate::timeline::verify::check(kv, &customers, &damaged, last_seq, problems)?;
        crate::segments::verify_counter(kv, problems)?;
        report.merged = crate::customers::merge::verify(kv, problems)?;
        report.derived_entries =
            crate::derived::verify::verify(self, &customers, &damaged, problems)?;
        if let Some(loss) = &self.inner.data_loss {
            problems.push(format!(
                "acknowledged data is missing (the store was opened with the loss accepted): {loss}"
            ));
        }
        if let Some(missing) = self.inner.syncer.missing()? {
            problems.push(format!(
                "the acknowledgement mark is ahead of the store: {missing}"
            ));
        }
        Ok(report)
    }
}

/// The customers (decoded, and damaged), with what their family does not state: each
/// organization members belong to is one, and the id counter is above every id.
fn customers_check(
    kv: &Kv,
    problems: &mut Vec<String>,
) -> Result<(BTreeSet<CustomerId>, BTreeSet<CustomerId>)> {
    let mut kinds = BTreeMap::new();
    let mut members: BTreeMap<CustomerId, u64> = BTreeMap::new();
    let mut damaged = BTreeSet::new();
    let mut max_id = 0;
    for entry in kv.scan_prefix(&[keys::CUSTOMER]) {
        let (key, value) = entry?;
        match codec::decode::<crm_core::Customer>(&value, &|| keys::describe(&key)) {
            Ok(c) => {
                max_id = max_id.max(c.id.0);
                kinds.insert(c.id, c.kind());
                if let Some(org) = c.data.organization_id {
                    *members.entry(org).or_default() += 1;
                }
            }
            // The family's check names it.
            Err(_) => damaged.extend(keys::trailing_id(&key)),
        }
    }
    for (org, count) in &members {
        if kinds
            .get(org)
            .is_some_and(|k| *k != CustomerKind::Organization)
        {
            problems.push(format!(
                "{count} people belong to {org}, which is not an organization"
            ));
        }
    }
    let last_id = kv
        .get(keys::META_LAST_ID)?
        .and_then(|v| keys::u64_value(&v))
        .unwrap_or(0);
    if max_id > last_id {
        problems.push(format!(
            "customer id {max_id:016x} is above the id counter {last_id:016x}"
        ));
    }
    Ok((kinds.into_keys().collect(), damaged))
}

/// The change log is gap-free from 1, in order; returns its last sequence.
fn change_log_check(kv: &Kv, problems: &mut Vec<String>) -> Result<u64> {
    let mut previous = 0;
    for entry in kv.scan_prefix(&[keys::CHANGE]) {
        let (key, _) = entry?;
        let seq = keys::seq_of(&key, "change-log")?;
        if seq != previous + 1 {
            problems.push(format!("the change log jumps from {previous} to {seq}"));
        }
        previous = seq;
    }
    Ok(previous)
}
