//! Counts read without a scan: customers by kind and lifecycle stage are kept in every write's
//! batch (`K kind stage`), and customers by relationship status and lead temperature are the
//! entries of the derived index (see `derived.rs`), counted key by key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::{
    CustomerKind, Filter, IndexedTerm, LifecycleStage, RelationshipStatus, Temperature,
};

use crate::Store;
use crate::customers::Customers;
use crate::error::Result;
use crate::kv::keys;

/// How many customers there are now, by what the store can count without reading records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerCounts {
    /// By kind and lifecycle stage (kept in the write batch).
    pub by_kind_and_stage: BTreeMap<(CustomerKind, LifecycleStage), u64>,
    /// By relationship status now (the derived index).
    pub by_status: BTreeMap<RelationshipStatus, u64>,
    /// By lead temperature now, under the model in force (the derived index).
    pub by_temperature: BTreeMap<Temperature, u64>,
}

impl CustomerCounts {
    /// Every customer.
    pub fn total(&self) -> u64 {
        self.by_kind_and_stage.values().sum()
    }

    /// By kind.
    pub fn by_kind(&self) -> BTreeMap<CustomerKind, u64> {
        let mut out = BTreeMap::new();
        for ((kind, _), n) in &self.by_kind_and_stage {
            *out.entry(*kind).or_default() += n;
        }
        out
    }

    /// By lifecycle stage.
    pub fn by_stage(&self) -> BTreeMap<LifecycleStage, u64> {
        let mut out = BTreeMap::new();
        for ((_, stage), n) in &self.by_kind_and_stage {
            *out.entry(*stage).or_default() += n;
        }
        out
    }
}

impl Store {
    /// The counts as of `at`, if they say that: `at` no later than now and no earlier than
    /// any write or evaluation so far (so every write the counts hold happened by `at`, and
    /// the derived index can be brought to `at`). `None` for an instant in the past or the
    /// future.
    pub(crate) fn counts_as_of(&self, at: DateTime<Utc>) -> Result<Option<CustomerCounts>> {
        let present = |store: &Store| at <= store.now() && store.derived_through() <= Some(at);
        if !present(self) {
            return Ok(None);
        }
        let counts = match self.counts_at(at) {
            // The derived index cannot be brought up to date (writes refused): the caller
            // counts from the records.
            Err(e) if e.is_write_refusal() => return Ok(None),
            other => other?,
        };
        // A write that landed meanwhile (after `at`) would make them a mix.
        Ok(present(self).then_some(counts))
    }

    fn counts_at(&self, at: DateTime<Utc>) -> Result<CustomerCounts> {
        let mut counts = CustomerCounts {
            by_kind_and_stage: self.kind_and_stage_counts()?,
            ..CustomerCounts::default()
        };
        self.derived_index_at(at)?;
        for status in RelationshipStatus::ALL {
            let n = self.count_entries(&IndexedTerm::Status(status))?;
            if n > 0 {
                counts.by_status.insert(status, n);
            }
        }
        for t in Temperature::ALL {
            let n = self.count_entries(&IndexedTerm::Temperature(t))?;
            if n > 0 {
                counts.by_temperature.insert(t, n);
            }
        }
        Ok(counts)
    }

    fn kind_and_stage_counts(&self) -> Result<BTreeMap<(CustomerKind, LifecycleStage), u64>> {
        let mut out = BTreeMap::new();
        for kind in CustomerKind::ALL {
            for stage in LifecycleStage::ALL {
                let key = keys::stage_count(kind, stage);
                let n =
                    crate::kv::family::count_value(&key, self.inner.engine.get(key)?.as_deref())?;
                if n > 0 {
                    out.insert((kind, stage), n);
                }
            }
        }
        Ok(out)
    }

    fn count_entries(&self, term: &IndexedTerm) -> Result<u64> {
        let mut n = 0;
        for item in self.inner.engine.scan_prefix(&keys::term_prefix(term)) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// The number of customers matching `filter`, if it can be had without reading records:
    /// for no filter or equalities on kind and stage (the kept counts), and for one equality
    /// on relationship status or lead temperature (the derived index).
    pub(crate) fn count_without_records(&self, filter: &Filter) -> Result<Option<u64>> {
        let Some(terms) = filter.as_indexed_conjunction() else {
            return Ok(None);
        };
        if let [term @ IndexedTerm::LoyaltyTier(_)] = terms.as_slice() {
            return match self.loyalty().sweep(self.now()) {
                Err(e) if e.is_write_refusal() => Ok(None),
                Err(e) => Err(e),
                Ok(()) => self.count_entries(term).map(Some),
            };
        }
        if let [term @ (IndexedTerm::Status(_) | IndexedTerm::Temperature(_))] = terms.as_slice() {
            return match self.derived_index_at(self.now()) {
                Err(e) if e.is_write_refusal() => Ok(None),
                Err(e) => Err(e),
                Ok(()) => self.count_entries(term).map(Some),
            };
        }
        let mut kinds = None;
        let mut stages = None;
        for term in &terms {
            match term {
                IndexedTerm::Kind(k) if kinds.is_none_or(|x| x == *k) => kinds = Some(*k),
                IndexedTerm::Stage(s) if stages.is_none_or(|x| x == *s) => stages = Some(*s),
                // Two different kinds (or stages) at once: nobody.
                IndexedTerm::Kind(_) | IndexedTerm::Stage(_) => return Ok(Some(0)),
                _ => return Ok(None),
            }
        }
        let counts = self.kind_and_stage_counts()?;
        Ok(Some(
            counts
                .iter()
                .filter(|((k, s), _)| {
                    kinds.is_none_or(|x| x == *k) && stages.is_none_or(|x| x == *s)
                })
                .map(|(_, n)| n)
                .sum(),
        ))
    }
}

impl Customers<'_> {
    /// How many customers there are now by kind, stage, status and temperature: a dozen key
    /// reads and a key-only walk of the derived index, never a read of the records.
    pub fn counts(&self) -> Result<CustomerCounts> {
        self.counts_at(self.now())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use chrono::Duration;
    use crm_core::CustomerData;

    use super::*;
    use crate::{ManualClock, StoreConfig};

    /// The kept counts speak for the present only: not for an instant before the last write,
    /// nor for one ahead of the clock.
    #[test]
    fn kept_counts_answer_for_the_present_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_else(|| panic!("t"));
        let clock = ManualClock::new(start);
        let store = Store::open_with(StoreConfig::new(dir.path()).clock(clock.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let person = CustomerData::person("Ada");
        store
            .customers()
            .create(person, None)
            .unwrap_or_else(|e| panic!("{e}"));
        clock.advance(Duration::hours(1));
        let now = store.now();
        let counts = store.counts_as_of(now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counts.map(|c| c.total()), Some(1));
        let before = store
            .counts_as_of(start - Duration::seconds(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(before, None, "before the write");
        let ahead = store
            .counts_as_of(now + Duration::days(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ahead, None, "ahead of the clock");
    }
}
