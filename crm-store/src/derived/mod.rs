//! The derived index: every customer's relationship status and lead temperature, kept so that
//! `relationship_status = X` and `lead_temperature = X` are read from an index, not a scan.
//!
//! Both values change with time alone (a customer who stops buying drifts to AT_RISK, a lead's
//! engagement decays), so no entry written with a customer can stay right forever. Each one is
//! written with the instant until which it holds (`RelationshipRules::status_until`,
//! `ScoringModel::temperature_until`), and a query first brings the index to its own instant:
//!
//! - `D id` -> the customer's derived state: status, temperature, and `until`;
//! - `Z 1 status id`, `Z 2 temperature id` -> empty: the entries a query walks, in id order;
//! - `z until id` -> empty: the schedule, oldest first;
//! - `Mderived` -> the rules and model version every entry was evaluated with, and the latest
//!   instant any entry was evaluated at (`through`).
//!
//! Every write evaluates the customers it touches, in its own batch. Before a query at `now`
//! walks the index, [`Store::derived_index_at`] makes it exact for `now`:
//! 1. if the rules or the model differ from those recorded, or `now` is before `through` (the
//!    clock went back), every customer is evaluated again at `now` (a rebuild);
//! 2. every customer whose `until` is at or before `now` is evaluated again at `now` (a sweep).
//!
//! Then for every customer, the entry was evaluated at some `t <= now` and holds until some
//! instant after `now`, so it is the customer's value at `now`. Sweeps and rebuilds write
//! entries that can always be derived again, so they do not wait for the disk: a crash loses at
//! most some of that work, which the next query redoes.

pub(crate) mod lifespan;
pub(crate) mod scoring;
pub(crate) mod verify;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::{
    Customer, CustomerId, CustomerKind, LifecycleStage, RelationshipRules, RelationshipStatus,
    ScoringModel, Summary, Temperature,
};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::audit::changes::LogRecord;
use crate::customers::list::{fingerprint_text, prefix_end};
use crate::error::{Result, StoreError};
use crate::kv::Kv;
use crate::kv::{codec, keys};
use crate::write::{Touched, Write};

crate::store::handle!(
    /// What is derived about customers: the lead-scoring model, insights (status, score, value), RFM, the CLV lifespan.
    Insights,
    insights
);

/// Customers evaluated per batch by a sweep or a rebuild (writes wait between batches only).
const CHUNK: usize = 2_000;

/// The same on an engine other processes write to: a smaller transaction conflicts with fewer
/// concurrent writes, and a conflict redoes less.
const SHARED_CHUNK: usize = 200;

/// How far a write's change-log time may lie from the instant it evaluated its customers at.
const EVENT_SLACK: chrono::Duration = chrono::Duration::seconds(1);

/// A customer's derived values, and until when they hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DerivedState {
    pub(crate) status: RelationshipStatus,
    pub(crate) temperature: Temperature,
    /// The first instant at which either may differ; `None`: only a write can change them.
    pub(crate) until: Option<DateTime<Utc>>,
}

/// What the whole derived index was evaluated with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DerivedMeta {
    /// A fingerprint of the relationship rules (0: never built).
    pub(crate) rules: u64,
    /// The scoring model's version.
    pub(crate) model_version: u64,
    /// The latest instant any entry was evaluated at.
    pub(crate) through: Option<DateTime<Utc>>,
}

impl crate::kv::codec::Stored for DerivedState {}
impl crate::kv::codec::Stored for DerivedMeta {}

/// The derived index's bookkeeping in memory.
#[derive(Debug, Default)]
pub(crate) struct DerivedTrack {
    /// What the index was built with, and (exactly) the latest instant evaluated at.
    pub(crate) meta: DerivedMeta,
    /// `through` as last written to `Mderived`.
    persisted_through: Option<DateTime<Utc>>,
}

pub(crate) fn rules_print(rules: &RelationshipRules) -> u64 {
    // 0 marks an index never built: a real fingerprint never takes it.
    fingerprint_text(&format!("{rules:?}")).max(1)
}

/// A customer's derived state at `now`.
pub(crate) fn evaluate(
    c: &Customer,
    s: &Summary,
    model: &ScoringModel,
    rules: &RelationshipRules,
    now: DateTime<Utc>,
) -> DerivedState {
    let until = [
        rules.status_until(s, now),
        model.temperature_until(c, s, now),
    ]
    .into_iter()
    .flatten()
    .min();
    DerivedState {
        status: rules.status(s, now),
        temperature: model.score(c, s, now).temperature,
        until,
    }
}

/// Whether the stored state may stay: the same values, named as holding until no later than
/// the new evaluation says. Its instant is then early, never late: the sweep at that instant
/// finds the same values and names the next one. Most timeline writes (a repeat purchase that
/// moves every edge later, a contact with a cold lead) write nothing to the index this way.
/// An expired state (a sweep's) must be replaced.
fn still_holds(old: Option<&DerivedState>, new: Option<&DerivedState>, now: DateTime<Utc>) -> bool {
    let (Some(old), Some(new)) = (old, new) else {
        return false;
    };
    let sooner = match (old.until, new.until) {
        (Some(a), _) if a <= now => false,
        (Some(a), Some(b)) => a <= b,
        (Some(_), None) => true,
        (None, until) => until.is_none(),
    };
    old.status == new.status && old.temperature == new.temperature && sooner
}

/// The keys a customer's state stands for: its two index entries and its schedule entry.
pub(crate) fn state_keys(id: CustomerId, state: &DerivedState) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = keys::derived_entries(id, state.status, state.temperature).into();
    out.extend(state.until.map(|t| keys::derived_due(t, id).to_vec()));
    out
}

/// What the derived index was built with. A store without customers has nothing to build: its
/// (empty) index is current from the start.
///
/// Writes do not rewrite `Mderived` (one key rewritten by every write is the costliest key
/// there is): a write evaluates at the instant it started, and its change-log event carries a
/// time within [`EVENT_SLACK`] of it (a create's is the millisecond of its id, read before the
/// writer lock was taken), so the latest instant evaluated at is at most the later of
/// `Mderived.through` and the change log's last event plus that slack. `Mderived` is written by
/// sweeps and rebuilds (which no event records), and by a write whose clock went back (after
/// which the log's last event is no longer the latest instant). The cost of the slack: a query
/// less than a second (by the store's clock) after the last write before a restart rebuilds
/// the index.
pub(crate) fn load_meta(
    engine: &Kv,
    rules: &RelationshipRules,
    model: &ScoringModel,
) -> Result<DerivedTrack> {
    let stored = match engine.get(keys::META_DERIVED)? {
        Some(bytes) => Some(codec::decode::<DerivedMeta>(&bytes, &|| {
            keys::describe(keys::META_DERIVED)
        })?),
        None => None,
    };
    let mut meta = match stored {
        Some(meta) => meta,
        None if engine.scan_prefix(&[keys::CUSTOMER]).next().is_some() => DerivedMeta::default(),
        None => {
            let meta = DerivedMeta {
                rules: rules_print(rules),
                model_version: model.version,
                through: None,
            };
            let bytes = codec::encode(&meta)?;
            engine.transact(|tx| {
                tx.put(keys::META_DERIVED, &bytes);
                Ok(())
            })?;
            meta
        }
    };
    let persisted_through = meta.through;
    let tail = engine
        .scan(
            std::ops::Bound::Included(vec![keys::CHANGE]),
            std::ops::Bound::Excluded(vec![keys::CHANGE + 1]),
            true,
        )
        .next();
    if let Some(item) = tail {
        let (key, value) = item?;
        match codec::decode::<LogRecord>(&value, &|| keys::describe(&key)) {
            Ok(record) => {
                meta.through = meta
                    .through
                    .max(record.change.time.checked_add_signed(EVENT_SLACK));
            }
            // Without the last write's time the index cannot be trusted: rebuild it on first
            // use (verify() names the damaged event).
            Err(e) => {
                tracing::error!(error = %e, "the derived index will be rebuilt");
                meta.rules = 0;
            }
        }
    }
    Ok(DerivedTrack {
        meta,
        persisted_through,
    })
}

/// Brings a format-1 store to format 2: adds the kind-and-stage counts. (The derived index is
/// built by the first query that needs it.)
pub(crate) fn migrate_from_v1(engine: &Kv) -> Result<()> {
    let mut counts: BTreeMap<(CustomerKind, LifecycleStage), u64> = BTreeMap::new();
    for item in engine.scan_prefix(&[keys::CUSTOMER]) {
        let (key, value) = item?;
        // A damaged record is left out (verify() names it, and its missing count).
        let c: Customer = match codec::decode(&value, &|| keys::describe(&key)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "damaged record left out of the counts");
                continue;
            }
        };
        *counts
            .entry((c.kind(), c.data.lifecycle_stage))
            .or_default() += 1;
    }
    engine.transact(|tx| {
        for ((kind, stage), n) in &counts {
            tx.put(&keys::stage_count(*kind, *stage), &n.to_be_bytes());
        }
        tx.put(keys::META_FORMAT, &[2]);
        Ok(())
    })?;
    engine.engine().sync()?;
    tracing::info!("data directory migrated from format 1 to 2");
    Ok(())
}

/// Evaluates, at `now`, the customers a write touched (or a sweep names), replacing their
/// entries in the write's batch.
///
/// `sweep`: the evaluation is a sweep's or a rebuild's, at a query's instant (see
/// [`load_meta`] for why that matters).
pub(crate) fn refresh(
    w: &mut Write<'_>,
    touched: BTreeMap<CustomerId, Touched>,
    now: DateTime<Utc>,
    sweep: bool,
) -> Result<()> {
    let store = w.store;
    let model = w.scoring_model()?;
    let rules = &store.inner.config.rules;
    for (id, t) in touched {
        if !t.reevaluate {
            continue;
        }
        let states = || -> Result<(Option<DerivedState>, Option<DerivedState>)> {
            let customer = match t.customer {
                Some(c) => c,
                None => w.customer(id)?,
            };
            let old = w.read(&keys::of_customer(keys::DERIVED, id), &|| {
                format!("derived state of {id}")
            })?;
            let new = match &customer {
                Some(c) => {
                    let summary = match t.summary {
                        Some(s) => s,
                        None => w.summary(id)?,
                    };
                    Some(evaluate(c, &summary, &model, rules, now))
                }
                None => None,
            };
            Ok((old, new))
        };
        let (old, new) = match states() {
            Ok(states) => states,
            // A damaged record keeps its old entries (its reads report the damage, and
            // verify() names it); it must not stop every other customer's evaluation.
            Err(StoreError::Corrupt { key, detail }) => {
                tracing::error!(%key, %detail, "damaged record left out of the derived index");
                continue;
            }
            Err(e) => return Err(e),
        };
        if old == new || still_holds(old.as_ref(), new.as_ref(), now) {
            continue;
        }
        let old_keys = old.map(|s| state_keys(id, &s)).unwrap_or_default();
        let new_keys = new.map(|s| state_keys(id, &s)).unwrap_or_default();
        for gone in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            w.delete_raw(gone);
        }
        for added in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            w.put_raw(added, []);
        }
        match new {
            Some(state) => w.put_raw(keys::of_customer(keys::DERIVED, id), codec::encode(&state)?),
            None => w.delete_raw(keys::of_customer(keys::DERIVED, id)),
        }
    }
    let mut track = store
        .inner
        .derived
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let went_back = track.meta.through > Some(now);
    if !went_back {
        track.meta.through = Some(now);
    }
    if (sweep || went_back) && track.persisted_through != track.meta.through {
        let meta = track.meta;
        drop(track);
        w.put_raw(keys::META_DERIVED, codec::encode(&meta)?);
        w.committed.derived = Some(meta);
    }
    Ok(())
}

/// A write committed `Mderived` as `meta`: what the index was built with is now that, and
/// `meta.through` is what the store holds.
pub(crate) fn persisted(store: &Store, meta: DerivedMeta) {
    let mut track = store
        .inner
        .derived
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    track.meta.rules = meta.rules;
    track.meta.model_version = meta.model_version;
    track.persisted_through = meta.through;
}

impl Store {
    /// What the derived index was built with, as it stands in memory.
    pub(crate) fn derived_meta(&self) -> DerivedMeta {
        self.inner
            .derived
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .meta
    }

    /// Customers evaluated per transaction by a sweep or a rebuild.
    fn derived_chunk(&self) -> usize {
        if self.shared() { SHARED_CHUNK } else { CHUNK }
    }

    /// The latest instant any derived state was evaluated at.
    pub(crate) fn derived_through(&self) -> Option<DateTime<Utc>> {
        self.derived_meta().through
    }

    /// Makes the derived index exact at `now` (see the module notes): rebuilds it if it was
    /// evaluated with other rules or another model, or later than `now`; then evaluates again
    /// every customer whose entries expired by `now`.
    pub(crate) fn derived_index_at(&self, now: DateTime<Utc>) -> Result<()> {
        let meta = self.derived_meta();
        let rules = rules_print(&self.inner.config.rules);
        let model = self.insights().scoring_model().version;
        if meta.rules != rules || meta.model_version != model || meta.through > Some(now) {
            self.rebuild_derived(now, rules, model)?;
        }
        self.sweep_derived(now)
    }

    /// Evaluates every customer at `now`, in batches, and records what the index was built
    /// with once every customer is done.
    fn rebuild_derived(&self, now: DateTime<Utc>, rules: u64, model: u64) -> Result<()> {
        tracing::info!("building the derived index (status and temperature)");
        // Everything is about to be evaluated at `now`: from here, `through` is `now` and
        // whatever later instant a write evaluates at.
        {
            let mut track = self.inner.derived.lock().unwrap_or_else(|e| e.into_inner());
            track.meta.through = Some(now);
        }
        let mut after = vec![keys::CUSTOMER];
        loop {
            let start = std::ops::Bound::Excluded(after.clone());
            let ids: Vec<(CustomerId, Vec<u8>)> = self
                .inner
                .engine
                .scan(start, prefix_end(&[keys::CUSTOMER]), false)
                .take(self.derived_chunk())
                .map(|item| {
                    let (key, _) = item?;
                    keys::trailing_id(&key)
                        .map(|id| (id, key.to_vec()))
                        .ok_or_else(|| StoreError::Corrupt {
                            key: keys::describe(&key),
                            detail: "a customer key without an id".into(),
                        })
                })
                .collect::<Result<_>>()?;
            let Some((_, last)) = ids.last() else { break };
            after = last.clone();
            let done = ids.len() < self.derived_chunk();
            self.write_with(false, |w| {
                let touched = ids.iter().map(|(id, _)| (*id, Touched::due()));
                refresh(w, touched.collect(), now, true)
            })?;
            if done {
                break;
            }
        }
        // Stale entries of customers gone meanwhile cannot remain: a delete removes its
        // customer's entries in its own batch.
        self.write_with(false, |w| {
            let meta = DerivedMeta {
                rules,
                model_version: model,
                ..w.store.derived_meta()
            };
            w.put_raw(keys::META_DERIVED, codec::encode(&meta)?);
            w.committed.derived = Some(meta);
            Ok(())
        })
    }

    /// Evaluates again, at `now`, every customer whose entries expired by `now`.
    fn sweep_derived(&self, now: DateTime<Utc>) -> Result<()> {
        let Some(end) = now.checked_add_signed(chrono::Duration::microseconds(1)) else {
            return Ok(());
        };
        let range = (
            std::ops::Bound::Included(vec![keys::DERIVED_DUE]),
            std::ops::Bound::Excluded(keys::derived_due_before(end).to_vec()),
        );
        loop {
            let due: Vec<Vec<u8>> = self
                .inner
                .engine
                .scan(range.0.clone(), range.1.clone(), false)
                .take(self.derived_chunk())
                .map(|item| item.map(|(key, _)| key.to_vec()))
                .collect::<Result<_>>()?;
            if due.is_empty() {
                return Ok(());
            }
            self.write_with(false, |w| {
                // The expired keys go whatever the states say: an entry without a state (a
                // damaged store) must not be found due again and again.
                for key in &due {
                    w.delete_raw(key);
                }
                let touched = due.iter().filter_map(|key| keys::trailing_id(key));
                refresh(
                    w,
                    touched.map(|id| (id, Touched::due())).collect(),
                    now,
                    true,
                )
            })?;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use crm_core::{CustomerData, LifecycleStage};

    use super::*;
    use crate::StoreConfig;

    /// A store written by the previous format (no counts, no derived index) opens, gains its
    /// counts, builds its derived index at the first query that needs it, and verifies clean.
    #[test]
    fn a_format_1_store_is_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = || StoreConfig::new(dir.path()).durability(crate::Durability::Relaxed);
        {
            let store = Store::open_with(config()).unwrap_or_else(|e| panic!("{e}"));
            for i in 0..5 {
                let mut data = CustomerData::person(format!("P{i}"));
                data.lifecycle_stage = LifecycleStage::ALL[i % 2];
                store
                    .customers()
                    .create(data, None)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            let org = CustomerData::organization("Acme");
            store
                .customers()
                .create(org, None)
                .unwrap_or_else(|e| panic!("{e}"));
            // Take it back to format 1: drop what format 2 added.
            let engine = &store.inner.engine;
            let mut doomed = Vec::new();
            for family in [
                keys::STAGE_COUNT,
                keys::DERIVED,
                keys::DERIVED_INDEX,
                keys::DERIVED_DUE,
            ] {
                for item in engine.scan_prefix(&[family]) {
                    doomed.push(item.unwrap_or_else(|e| panic!("{e}")).0);
                }
            }
            engine
                .transact(|tx| {
                    for key in &doomed {
                        tx.delete(key);
                    }
                    tx.delete(keys::META_DERIVED);
                    tx.put(keys::META_FORMAT, &[1]);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let store = Store::open_with(config()).unwrap_or_else(|e| panic!("{e}"));
        let count = |kind, stage| {
            store
                .inner
                .engine
                .get(keys::stage_count(kind, stage))
                .unwrap_or_else(|e| panic!("{e}"))
                .and_then(|v| keys::u64_value(&v))
        };
        assert_eq!(count(CustomerKind::Person, LifecycleStage::ALL[0]), Some(3));
        assert_eq!(count(CustomerKind::Person, LifecycleStage::ALL[1]), Some(2));
        assert_eq!(
            count(CustomerKind::Organization, LifecycleStage::ALL[0]),
            Some(1)
        );
        let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
        assert!(report.is_clean(), "{:?}", report.problems);
        let prospects = crate::ListQuery {
            filter: crm_core::Filter::parse("relationship_status = PROSPECT")
                .unwrap_or_else(|e| panic!("{e}")),
            ..crate::ListQuery::default()
        };
        let page = store
            .customers()
            .list(&prospects)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.customers.len(), 6);
        let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!(
            report.derived_entries, 12,
            "two entries a customer, none due"
        );
    }
}
