//! The store handle and its write path.
//!
//! Writes are serialized by one mutex: a write reads what it needs (current record, unique keys,
//! counters), builds one batch (record, index entries, unique keys, change-log event, counters)
//! and applies it atomically, then releases the mutex and, in durable mode, waits for the group
//! commit. Reads never take the mutex. Serializing writes keeps unique checks exact and makes
//! change-log order equal commit order; the slow part (the flush) is shared outside the lock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use crm_core::{Customer, CustomerId, CustomerKind, LifecycleStage, Summary};

use crate::audit::Origin;
use crate::changes::{ChangeEvent, ChangeKind, LogRecord};
use crate::codec;
use crate::config::{Durability, StoreConfig};
use crate::durability::GroupCommit;
use crate::engine::{Engine, WriteBatch};
use crate::error::{Result, StoreError};
use crate::keys;

/// The on-disk format this build reads and writes (see DESIGN.md).
pub const FORMAT_VERSION: u8 = 2;

/// A handle to an open store. Cheap to clone; every clone shares the same store, and the store
/// closes (flushing what is pending) when the last clone is dropped.
///
/// Every call is blocking (it may wait for a disk flush): from async code, call it on a
/// blocking thread (`tokio::task::spawn_blocking`).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    origin: Arc<Origin>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) config: StoreConfig,
    writer: Mutex<Counters>,
    group: Option<GroupCommit>,
    /// The lead-scoring model in force (replaced under the writer lock).
    pub(crate) model: std::sync::RwLock<Arc<crm_core::ScoringModel>>,
    /// The portfolio's RFM distribution per currency, with when it was computed.
    pub(crate) rfm: Mutex<crate::scoring::RfmCache>,
    /// What the derived index was built with (changed under the writer lock).
    pub(crate) derived: Mutex<crate::derived::DerivedTrack>,
    /// The CLV lifespan measured from churn, when the configuration derives it.
    pub(crate) lifespan: Mutex<crate::lifespan::LifespanCache>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.engine.flush() {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}

/// Store-wide counters, persisted in the same batch as the writes that advance them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    /// The highest customer id handed out (persisted as `Mlast_id` by the writes that create).
    pub(crate) last_id: u64,
    /// The newest change-log sequence (the last `L` key: never persisted on its own).
    pub(crate) last_seq: u64,
    /// The newest configuration audit sequence (the last `A` key).
    pub(crate) last_config_seq: u64,
}

impl Store {
    /// Opens the store in `path` (created if missing) with the default configuration: durable
    /// writes, a 256 MiB cache.
    pub fn open(path: impl Into<std::path::PathBuf>) -> Result<Store> {
        Store::open_with(StoreConfig::new(path))
    }

    /// Opens the store with a configuration.
    pub fn open_with(config: StoreConfig) -> Result<Store> {
        let engine = Engine::open(&config)?;
        if engine
            .get(keys::META_FORMAT)?
            .is_some_and(|v| v.as_ref() == [1])
        {
            crate::derived::migrate_from_v1(&engine)?;
        }
        let counters = match engine.get(keys::META_FORMAT)? {
            Some(v) if v.as_ref() == [FORMAT_VERSION] => Counters {
                last_id: read_counter(&engine, keys::META_LAST_ID)?,
                last_seq: last_change(&engine)?,
                last_config_seq: crate::config_audit::last_seq(&engine)?,
            },
            Some(v) => {
                return Err(StoreError::UnsupportedFormat {
                    found: format!("{:?}", v.as_ref()),
                    supported: FORMAT_VERSION,
                });
            }
            None => {
                if engine.scan_prefix(&[]).next().is_some() {
                    return Err(StoreError::UnsupportedFormat {
                        found: "none".into(),
                        supported: FORMAT_VERSION,
                    });
                }
                // sled reads a damaged log as "nothing more to recover": a directory that held
                // engine files but yields no format marker is damaged (or not ours), never a
                // new, empty store.
                if engine.existed() {
                    return Err(StoreError::Corrupt {
                        key: keys::describe(keys::META_FORMAT),
                        detail: format!(
                            "{} holds storage files but no readable crm data: it is damaged or not a \
                             crm data directory; restore it from a backup or move it away",
                            config.path.display()
                        ),
                    });
                }
                let mut batch = WriteBatch::default();
                batch.put(keys::META_FORMAT, [FORMAT_VERSION]);
                engine.commit(batch)?;
                engine.flush()?;
                Counters::default()
            }
        };
        config.rules.validate()?;
        config.value_rules.validate()?;
        let model = crate::scoring::load_model(&engine)?;
        let derived = crate::derived::load_meta(&engine, &config.rules, &model)?;
        let group = match config.durability {
            Durability::Durable => Some(GroupCommit::start(engine.clone())?),
            Durability::Relaxed => None,
        };
        Ok(Store {
            origin: Arc::new(Origin::default()),
            inner: Arc::new(Inner {
                engine,
                config,
                writer: Mutex::new(counters),
                group,
                model: std::sync::RwLock::new(Arc::new(model)),
                rfm: Mutex::default(),
                derived: Mutex::new(derived),
                lifespan: Mutex::default(),
            }),
        })
    }

    /// A handle on an open store, with the default origin.
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Store {
        Store {
            inner,
            origin: Arc::new(Origin::default()),
        }
    }

    /// A handle to the same store whose writes are audited as coming from `origin`.
    pub fn with_origin(&self, origin: Origin) -> Store {
        Store {
            inner: Arc::clone(&self.inner),
            origin: Arc::new(origin),
        }
    }

    /// Who this handle's writes are audited as.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Makes every write so far durable (useful in relaxed mode, and before a backup).
    pub fn flush(&self) -> Result<()> {
        self.inner.engine.flush()
    }

    /// Bytes the data directory takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.inner.engine.size_on_disk()
    }

    /// Now, at the precision records keep (microseconds).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        crm_core::validate::to_micros(self.inner.config.clock.now())
    }

    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, Counters> {
        // Counters are only replaced after a successful commit, so a poisoned lock still holds
        // the last committed values.
        self.inner.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one write: `f` reads and fills the batch; the batch is applied atomically; the call
    /// returns once the write is as durable as the store's mode promises.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Write<'_>) -> Result<T>) -> Result<T> {
        self.write_with(true, f)
    }

    /// [`Store::write`], waiting for the group commit only if `durable` (and the store is): a
    /// write of entries that can be derived again (the derived index) need not wait.
    pub(crate) fn write_with<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&mut Write<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut counters = self.lock_writer();
        let mut w = Write {
            store: self,
            batch: WriteBatch::default(),
            counters: *counters,
            floor_seq: counters.last_seq,
            entries: 0,
            touched: BTreeMap::new(),
            stage_counts: BTreeMap::new(),
            started: self.now(),
        };
        let out = f(&mut w)?;
        w.finish_derived()?;
        if w.batch.is_empty() {
            return Ok(out);
        }
        let Write {
            mut batch,
            counters: next,
            ..
        } = w;
        // Only creates advance the id counter; the sequence is the change log's own tail.
        if next.last_id != counters.last_id {
            batch.put(keys::META_LAST_ID, next.last_id.to_be_bytes());
        }
        self.inner.engine.commit(batch)?;
        *counters = next;
        drop(counters);
        if let Some(group) = self.inner.group.as_ref().filter(|_| durable) {
            group.wait()?;
        }
        Ok(out)
    }

    /// Reads and decodes a customer record.
    pub(crate) fn read_customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        let key = keys::customer(id);
        match self.inner.engine.get(key)? {
            Some(bytes) => codec::decode(&bytes, &|| format!("customer {id}")).map(Some),
            None => Ok(None),
        }
    }
}

/// The sequence of the newest change-log event (0 for none).
fn last_change(engine: &Engine) -> Result<u64> {
    last_seq_in(engine, keys::CHANGE, "change-log")
}

/// The sequence of the newest `family seq(8)` key (0 for none): a log's own tail, so its
/// sequence needs no counter key rewritten by every write.
pub(crate) fn last_seq_in(engine: &Engine, family: u8, what: &str) -> Result<u64> {
    let start = std::ops::Bound::Included(vec![family]);
    let end = std::ops::Bound::Excluded(vec![family + 1]);
    match engine.scan(start, end, true).next() {
        None => Ok(0),
        Some(item) => {
            let (key, _) = item?;
            keys::trailing_id(&key)
                .map(|seq| seq.0)
                .filter(|_| key.len() == 9)
                .ok_or_else(|| StoreError::Corrupt {
                    key: keys::describe(&key),
                    detail: format!("a {what} key is not 9 bytes"),
                })
        }
    }
}

pub(crate) fn read_counter(engine: &Engine, key: &[u8]) -> Result<u64> {
    match engine.get(key)? {
        None => Ok(0),
        Some(v) => keys::u64_value(&v).ok_or_else(|| StoreError::Corrupt {
            key: keys::describe(key),
            detail: "a counter is not 8 bytes".into(),
        }),
    }
}

/// One write in progress: reads through the store, writes into one batch.
pub(crate) struct Write<'a> {
    pub(crate) store: &'a Store,
    batch: WriteBatch,
    counters: Counters,
    /// The change-log sequence before this write.
    floor_seq: u64,
    /// Timeline entries this write has added so far.
    entries: u64,
    /// The customers whose record or summary this write changed, with their new state where
    /// it is known: their derived state is evaluated once, before the batch is applied.
    pub(crate) touched: BTreeMap<CustomerId, Touched>,
    /// How this write changes the customer count of each kind and stage.
    stage_counts: BTreeMap<(CustomerKind, LifecycleStage), i64>,
    /// When the write started: its customers' derived state is evaluated at this instant,
    /// which is at or before every time the write records (its change-log event's included).
    started: DateTime<Utc>,
}

/// What a write changed about one customer.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// The new record (`Some(None)`: deleted), if the write stored it.
    pub(crate) customer: Option<Option<Customer>>,
    /// The new summary, if the write stored it.
    pub(crate) summary: Option<Summary>,
    /// Whether the customer's derived state may have changed: it was created or deleted, or
    /// its summary or the record fields its lead score reads changed. (Status reads only the
    /// summary; a score only the summary and the fit rules' fields. A state whose inputs did
    /// not change still holds until its own instant.)
    pub(crate) reevaluate: bool,
}

impl Touched {
    /// A customer whose state must be evaluated again, with nothing known about it.
    pub(crate) fn due() -> Touched {
        Touched {
            reevaluate: true,
            ..Touched::default()
        }
    }
}

/// Low bits of a timeline entry id that number the entries of one write.
pub(crate) const ENTRY_BITS: u32 = 20;

impl Write<'_> {
    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<crate::engine::Bytes>> {
        self.store.inner.engine.get(key)
    }

    /// A new customer id: the creation time in milliseconds in the high 44 bits, a sequence in
    /// the low 20, and always above every id handed out before.
    pub(crate) fn next_id(&mut self, now: DateTime<Utc>) -> CustomerId {
        let floor = u64::try_from(now.timestamp_millis())
            .unwrap_or(0)
            .saturating_mul(1 << 20);
        let id = floor.max(self.counters.last_id + 1);
        self.counters.last_id = id;
        CustomerId(id)
    }

    /// Writes a customer's new state (`new`), replacing `old`, and logs it: see
    /// [`Write::store_customer`] and [`Write::log`].
    pub(crate) fn put_customer(
        &mut self,
        old: Option<&Customer>,
        new: Option<&Customer>,
        kind: ChangeKind,
        fields: Vec<String>,
    ) -> Result<()> {
        let Some(subject) = new.or(old) else {
            return Ok(());
        };
        let (id, version) = (subject.id, subject.version);
        let time = new.map_or_else(|| self.store.now(), |c| c.update_time);
        self.store_customer(old, new)?;
        let operation = match kind {
            ChangeKind::Created => "CreateCustomer",
            ChangeKind::Updated => "UpdateCustomer",
            ChangeKind::Deleted => "DeleteCustomer",
            ChangeKind::Recorded => "RecordTimelineEntry",
        };
        self.log(id, kind, version, time, fields, operation)
    }

    /// Writes a customer's new state (`new`), replacing `old`: the record, the index entries
    /// that differ, the unique keys and the organization member counts.
    pub(crate) fn store_customer(
        &mut self,
        old: Option<&Customer>,
        new: Option<&Customer>,
    ) -> Result<()> {
        let Some(subject) = new.or(old) else {
            return Ok(());
        };
        let id = subject.id;
        match new {
            Some(c) => self.batch.put(keys::customer(id), codec::encode(c)?),
            None => self.batch.delete(keys::customer(id)),
        }
        let inputs_changed = match (old, new) {
            (Some(o), Some(n)) => {
                let model = self.store.scoring_model();
                model.fit(o) != model.fit(n)
            }
            _ => true,
        };
        let touched = self.touched.entry(id).or_default();
        touched.customer = Some(new.cloned());
        touched.reevaluate |= inputs_changed;
        let place = |c: &Customer| (c.kind(), c.data.lifecycle_stage);
        if old.map(place) != new.map(place) {
            if let Some(c) = old {
                *self.stage_counts.entry(place(c)).or_default() -= 1;
            }
            if let Some(c) = new {
                *self.stage_counts.entry(place(c)).or_default() += 1;
            }
        }
        let old_ix: BTreeSet<Vec<u8>> = old
            .map(keys::index_entries)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let new_ix: BTreeSet<Vec<u8>> = new
            .map(keys::index_entries)
            .unwrap_or_default()
            .into_iter()
            .collect();
        for gone in old_ix.difference(&new_ix) {
            self.batch.delete(gone);
        }
        for added in new_ix.difference(&old_ix) {
            self.batch.put(added, []);
        }
        let old_uq: BTreeSet<Vec<u8>> = old
            .map(keys::unique_entries)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let new_uq: BTreeSet<Vec<u8>> = new
            .map(keys::unique_entries)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for gone in old_uq.difference(&new_uq) {
            self.batch.delete(gone);
        }
        for added in new_uq.difference(&old_uq) {
            self.batch.put(added, id.0.to_be_bytes());
        }
        let old_org = old.and_then(|c| c.data.organization_id);
        let new_org = new.and_then(|c| c.data.organization_id);
        if old_org != new_org {
            if let Some(org) = old_org {
                self.add_member(org, -1)?;
            }
            if let Some(org) = new_org {
                self.add_member(org, 1)?;
            }
        }
        if old.is_some_and(|c| c.kind() == CustomerKind::Organization) && new.is_none() {
            self.batch.delete(keys::members(id));
        }
        Ok(())
    }

    /// Appends a change-log event (with who made it, for the audit trail) for a write to a
    /// customer, and its entry in the customer's audit index.
    pub(crate) fn log(
        &mut self,
        id: CustomerId,
        kind: ChangeKind,
        version: u64,
        time: DateTime<Utc>,
        fields: Vec<String>,
        operation: &str,
    ) -> Result<()> {
        self.counters.last_seq += 1;
        let seq = self.counters.last_seq;
        let origin = &self.store.origin;
        let record = LogRecord {
            change: ChangeEvent {
                seq,
                time,
                customer_id: id,
                kind,
                version,
                fields,
            },
            actor: origin.actor.clone(),
            operation: operation.into(),
            request_id: origin.request_id.clone(),
        };
        self.batch.put(keys::change(seq), codec::encode(&record)?);
        self.batch.put(keys::audit_by_customer(id, seq), []);
        Ok(())
    }

    /// A new timeline entry id: the sequence of this write's first change-log event in the high
    /// bits, the entry's number within the write in the low [`ENTRY_BITS`]. Unique without a
    /// counter of its own: every write that adds entries logs at least one event.
    pub(crate) fn next_entry(&mut self) -> crm_core::EntryId {
        let id = ((self.floor_seq + 1) << ENTRY_BITS) | self.entries;
        self.entries += 1;
        crm_core::EntryId(id)
    }

    pub(crate) fn delete_raw(&mut self, key: impl AsRef<[u8]>) {
        self.batch.delete(key);
    }

    /// How many people belong to an organization.
    pub(crate) fn members(&self, org: CustomerId) -> Result<u64> {
        let key = keys::members(org);
        match self.get(key)? {
            None => Ok(0),
            Some(v) => keys::u64_value(&v).ok_or_else(|| StoreError::Corrupt {
                key: keys::describe(&key),
                detail: "a member count is not 8 bytes".into(),
            }),
        }
    }

    fn add_member(&mut self, org: CustomerId, delta: i64) -> Result<()> {
        let count = self.members(org)?.saturating_add_signed(delta);
        if count == 0 {
            self.batch.delete(keys::members(org));
        } else {
            self.batch.put(keys::members(org), count.to_be_bytes());
        }
        Ok(())
    }

    pub(crate) fn put_raw(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.batch.put(key, value);
    }

    /// The sequence of a new configuration audit event.
    pub(crate) fn next_config_seq(&mut self) -> u64 {
        self.counters.last_config_seq += 1;
        self.counters.last_config_seq
    }

    /// Writes a customer's summary.
    pub(crate) fn put_summary(&mut self, id: CustomerId, summary: &Summary) -> Result<()> {
        self.batch.put(
            keys::of_customer(keys::SUMMARY, id),
            codec::encode(summary)?,
        );
        let touched = self.touched.entry(id).or_default();
        touched.summary = Some(summary.clone());
        touched.reevaluate = true;
        Ok(())
    }

    /// Applies the kind-and-stage counts and the derived state of every customer this write
    /// touched: part of the same batch.
    fn finish_derived(&mut self) -> Result<()> {
        for ((kind, stage), delta) in std::mem::take(&mut self.stage_counts) {
            if delta == 0 {
                continue;
            }
            let key = keys::stage_count(kind, stage);
            let count = read_counter(&self.store.inner.engine, &key)?.saturating_add_signed(delta);
            if count == 0 {
                self.batch.delete(key);
            } else {
                self.batch.put(key, count.to_be_bytes());
            }
        }
        if !self.touched.is_empty() {
            let touched = std::mem::take(&mut self.touched);
            crate::derived::refresh(self, touched, self.started, false)?;
        }
        Ok(())
    }
}
