//! `Store::verify`: recompute every derived entry from the records and compare with what is
//! stored. A clean report means every index entry, unique key and counter agrees with the
//! records, and every record decodes.

use std::collections::{BTreeMap, BTreeSet};

use crm_core::{CustomerId, CustomerKind};

use crate::changes::LogRecord;
use crate::error::Result;
use crate::{Store, codec, keys};

/// What [`Store::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Customer records read.
    pub customers: u64,
    /// Index entries checked.
    pub index_entries: u64,
    /// Unique keys checked.
    pub unique_keys: u64,
    /// Change-log events checked.
    pub changes: u64,
    /// Audit events checked.
    pub audit_events: u64,
    /// Timeline entries checked (each summary is recomputed from its timeline).
    pub timeline_entries: u64,
    /// Segments checked.
    pub segments: u64,
    /// Configuration audit events checked.
    pub configuration_events: u64,
    /// Derived-index entries checked (relationship status, lead temperature, their schedule).
    pub derived_entries: u64,
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
    /// Checks every index entry, unique key, counter and change-log event against the records.
    ///
    /// Writes wait while it runs (it holds the writer lock), so the picture is consistent. It
    /// reads the whole store and keeps the expected index keys in memory: run it offline or in
    /// quiet hours on a large store.
    pub fn verify(&self) -> Result<VerifyReport> {
        let counters = self.lock_writer();
        let engine = &self.inner.engine;
        let mut report = VerifyReport::default();
        let mut expected_index = BTreeSet::new();
        let mut expected_unique = BTreeMap::new();
        let mut members: BTreeMap<CustomerId, u64> = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        let mut stages: BTreeMap<[u8; 3], u64> = BTreeMap::new();
        let mut max_id = 0;
        // Records that do not decode: their derived entries cannot be checked, only reported.
        let mut damaged = BTreeSet::new();

        for entry in engine.scan_prefix(&[keys::CUSTOMER]) {
            let (key, value) = entry?;
            report.customers += 1;
            let label = || match keys::trailing_id(&key) {
                Some(id) if key.len() == 9 => format!("customer {id}"),
                _ => keys::describe(&key),
            };
            let customer: crm_core::Customer = match codec::decode(&value, &label) {
                Ok(c) => c,
                Err(e) => {
                    report.problems.push(e.to_string());
                    damaged.extend(keys::trailing_id(&key));
                    continue;
                }
            };
            if key.as_ref() != keys::customer(customer.id) {
                report.problems.push(format!(
                    "record at {} holds customer {}",
                    keys::describe(&key),
                    customer.id
                ));
            }
            max_id = max_id.max(customer.id.0);
            kinds.insert(customer.id, customer.kind());
            *stages
                .entry(keys::stage_count(
                    customer.kind(),
                    customer.data.lifecycle_stage,
                ))
                .or_default() += 1;
            if let Some(org) = customer.data.organization_id {
                *members.entry(org).or_default() += 1;
            }
            expected_index.extend(keys::index_entries(&customer));
            for (k, _) in keys::unique_entries(&customer) {
                if let Some(previous) = expected_unique.insert(k.clone(), customer.id) {
                    report.problems.push(format!(
                        "{} is claimed by customers {previous} and {}",
                        keys::describe(&k),
                        customer.id
                    ));
                }
            }
        }

        for entry in engine.scan_prefix(&[keys::INDEX]) {
            let (key, _) = entry?;
            report.index_entries += 1;
            let of_damaged = keys::trailing_id(&key).is_some_and(|id| damaged.contains(&id));
            if !expected_index.remove(key.as_ref()) && !of_damaged {
                report.problems.push(format!(
                    "index entry {} has no matching record",
                    keys::describe(&key)
                ));
            }
        }
        for missing in expected_index {
            report.problems.push(format!(
                "index entry {} is missing",
                keys::describe(&missing)
            ));
        }

        for entry in engine.scan_prefix(&[keys::UNIQUE]) {
            let (key, value) = entry?;
            report.unique_keys += 1;
            let holder = keys::u64_value(&value).map(CustomerId);
            match expected_unique.remove(key.as_ref()) {
                Some(id) if holder == Some(id) => {}
                Some(id) => report.problems.push(format!(
                    "unique key {} points to {holder:?}, not {id}",
                    keys::describe(&key)
                )),
                None if holder.is_some_and(|id| damaged.contains(&id)) => {}
                None => report.problems.push(format!(
                    "unique key {} has no matching record",
                    keys::describe(&key)
                )),
            }
        }
        for missing in expected_unique.keys() {
            report
                .problems
                .push(format!("unique key {} is missing", keys::describe(missing)));
        }

        for (org, count) in &members {
            if kinds.get(org) != Some(&CustomerKind::Organization) {
                report.problems.push(format!(
                    "{count} people belong to {org}, which is not an organization"
                ));
            }
        }
        for entry in engine.scan_prefix(&[keys::MEMBERS]) {
            let (key, value) = entry?;
            let org = keys::trailing_id(&key);
            let stored = keys::u64_value(&value);
            let actual = org.and_then(|o| members.remove(&o));
            if stored != actual {
                report.problems.push(format!(
                    "member count {} is {stored:?}, records say {actual:?}",
                    keys::describe(&key)
                ));
            }
        }
        for (org, count) in members {
            report.problems.push(format!(
                "member count of {org} is missing (records say {count})"
            ));
        }

        let mut previous = 0;
        let mut audited = BTreeSet::new();
        for entry in engine.scan_prefix(&[keys::CHANGE]) {
            let (key, value) = entry?;
            report.changes += 1;
            report.audit_events += 1;
            match codec::decode::<LogRecord>(&value, &|| keys::describe(&key)) {
                Ok(r) if keys::change(r.change.seq) == key.as_ref() && r.change.seq > previous => {
                    previous = r.change.seq;
                    audited.insert(
                        keys::audit_by_customer(r.change.customer_id, r.change.seq).to_vec(),
                    );
                }
                Ok(r) => report
                    .problems
                    .push(format!("change event {} is out of place", r.change.seq)),
                Err(e) => report.problems.push(e.to_string()),
            }
        }
        for entry in engine.scan_prefix(&[keys::AUDIT_BY_CUSTOMER]) {
            let (key, _) = entry?;
            if !audited.remove(key.as_ref()) {
                report.problems.push(format!(
                    "audit index entry {} has no audit event",
                    keys::describe(&key)
                ));
            }
        }
        for missing in audited {
            report.problems.push(format!(
                "audit index entry {} is missing",
                keys::describe(&missing)
            ));
        }

        let customers: BTreeSet<CustomerId> = kinds.keys().copied().collect();
        report.timeline_entries = crate::verify_timeline::check(
            engine,
            &customers,
            &damaged,
            counters.last_seq,
            &mut report.problems,
        )?;

        report.segments = crate::segments::verify(engine, &mut report.problems)?;
        report.configuration_events = crate::config_audit::verify(engine, &mut report.problems)?;
        report.derived_entries =
            crate::verify_derived::verify(self, &customers, &damaged, &mut report.problems)?;
        for entry in engine.scan_prefix(&[keys::STAGE_COUNT]) {
            let (key, value) = entry?;
            let stored = keys::u64_value(&value);
            let actual = stages.remove(key.as_ref());
            if stored != actual {
                report.problems.push(format!(
                    "customer count {} is {stored:?}, records say {actual:?}",
                    keys::describe(&key)
                ));
            }
        }
        for (key, count) in stages {
            report.problems.push(format!(
                "customer count {} is missing (records say {count})",
                keys::describe(&key)
            ));
        }

        if previous != counters.last_seq {
            report.problems.push(format!(
                "change log reaches {previous} but the writer is at sequence {}",
                counters.last_seq
            ));
        }
        if max_id > counters.last_id {
            report.problems.push(format!(
                "customer id {max_id:016x} is above the id counter {:016x}",
                counters.last_id
            ));
        }
        Ok(report)
    }
}
