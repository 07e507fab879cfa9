//! The write path: one engine transaction per write.
//!
//! A write is a closure over a [`Write`]: every read it makes goes through the transaction (so
//! it sees its own writes), and the ids and sequences it takes are read from the key space in
//! the same transaction, never from process memory. The closure may run again after a
//! conflict. Before the commit, the write applies the counts its families' keepers changed and
//! evaluates the derived state of every customer it touched, in the same transaction; after it,
//! a durable write waits for the group commit ([`group`]).

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use crm_core::{Customer, CustomerId, EntryId, Summary};

use crate::Store;
use crate::engine::{Tx, prefix_range};
use crate::error::{Result, StoreError};
use crate::kv::codec::{self, Stored};
use crate::kv::family::{Family, Kept, count_value};
use crate::kv::keys;

pub(crate) mod group;

/// Low bits of a timeline entry id that number the entries of one write.
pub(crate) const ENTRY_BITS: u32 = 20;

impl Store {
    /// Runs one write: `f` reads and writes through the transaction; what it wrote is
    /// committed atomically; the call returns once the write is as durable as the store's
    /// mode promises. `f` may run more than once (after a conflict).
    pub(crate) fn write<T>(&self, f: impl FnMut(&mut Write<'_>) -> Result<T>) -> Result<T> {
        self.write_with(true, f)
    }

    /// [`Store::write`], waiting for the group commit only if `durable` (and the store is): a
    /// write of entries that can be derived again (the derived index) need not wait.
    pub(crate) fn write_with<T>(
        &self,
        durable: bool,
        f: impl FnMut(&mut Write<'_>) -> Result<T>,
    ) -> Result<T> {
        self.run_write(durable, false, f)
    }

    /// Runs `f` as a write and then drops everything it wrote: what a write would do, for a dry
    /// run. Its reads see its own writes, as a real write's do.
    pub(crate) fn write_nothing<T>(&self, f: impl FnMut(&mut Write<'_>) -> Result<T>) -> Result<T> {
        self.run_write(false, true, f)
    }

    fn run_write<T>(
        &self,
        durable: bool,
        dry_run: bool,
        mut f: impl FnMut(&mut Write<'_>) -> Result<T>,
    ) -> Result<T> {
        if durable && let Some(loss) = &self.inner.data_loss {
            return Err(StoreError::FailedPrecondition(
                crate::error::Precondition::DataLossAccepted {
                    detail: loss.clone(),
                },
            ));
        }
        let group = self.inner.group.as_ref().filter(|_| durable && !dry_run);
        let _entered = group.map(|group| group.enter());
        let mut committed = Committed::default();
        let mut dropped: Option<T> = None;
        let started = self.now();
        let run = crate::engine::transact(self.inner.engine.engine(), |tx| {
            let mut w = Write::new(self, tx, started);
            let out = f(&mut w).map_err(Failed::Store)?;
            w.apply_kept().map_err(Failed::Store)?;
            if dry_run {
                dropped = Some(out);
                return Err(Failed::DryRun);
            }
            if w.last_seq > w.floor_seq.unwrap_or(u64::MAX) {
                w.committed.last_seq = Some(w.last_seq);
            }
            committed = std::mem::take(&mut w.committed);
            Ok::<_, Failed>(out)
        });
        let out = match run {
            Ok(out) => out,
            Err(Failed::Store(e)) => return Err(e),
            Err(Failed::DryRun) => {
                return dropped
                    .ok_or_else(|| StoreError::Storage("a dry run lost its result".into()));
            }
        };
        // What this process caches follows what was committed, never what was attempted.
        self.caches_follow(&committed);
        if committed.writes > 0
            && let Some(group) = group
        {
            group.wait()?;
        }
        // The change feed delivers what is acknowledged: on disk, in durable mode.
        if let Some(seq) = committed.last_seq {
            self.inner.feed.advance(seq);
        }
        Ok(out)
    }
}

/// How a write's transaction ended other than by committing.
enum Failed {
    /// The write failed.
    Store(StoreError),
    /// A dry run: everything it wrote is dropped.
    DryRun,
}

impl From<crate::engine::EngineError> for Failed {
    fn from(e: crate::engine::EngineError) -> Self {
        Failed::Store(e.into())
    }
}

impl crate::engine::TxFailure for Failed {
    fn is_conflict(&self) -> bool {
        matches!(self, Failed::Store(StoreError::Conflict))
    }
}

/// What a write committed that caches in this process follow: how many keys it wrote, the
/// store-wide values (`M` keys) among them, and values to publish once it is committed.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    /// Keys put or deleted.
    pub(crate) writes: usize,
    /// The `M` keys written (the scoring model, the derived index's meta, counters).
    pub(crate) meta: Vec<Vec<u8>>,
    /// The derived index's meta as this write persisted it, if it did.
    pub(crate) derived: Option<crate::derived::DerivedMeta>,
    /// The newest change-log sequence the write took, if it logged.
    pub(crate) last_seq: Option<u64>,
}

/// One write in progress: reads and writes through its transaction.
pub(crate) struct Write<'a> {
    pub(crate) store: &'a Store,
    tx: &'a mut dyn Tx,
    /// What the write will have committed.
    pub(crate) committed: Committed,
    /// The change-log sequence before this write, once read.
    floor_seq: Option<u64>,
    /// The newest change-log sequence this write took.
    last_seq: u64,
    /// Timeline entries this write has added so far.
    entries: u64,
    /// The customers whose record or summary this write changed, with their new state where
    /// it is known: their derived state is evaluated once, before the commit.
    pub(crate) touched: BTreeMap<CustomerId, Touched>,
    /// How this write changes each count its families keep.
    counts: BTreeMap<Vec<u8>, i64>,
    /// When the write started: its customers' derived state is evaluated at this instant,
    /// which is at or before every time the write records (its change-log event's included).
    pub(crate) started: DateTime<Utc>,
    /// The operation every change-log event of this write names, when one call makes many
    /// kinds of change (`ImportCustomers`); otherwise each event names its own.
    pub(crate) operation: Option<&'static str>,
    /// The automation rule whose action is writing, stored with each change-log event.
    pub(crate) cause: Option<crm_core::automation::Cause>,
    /// Rule firings this write has recorded (each gets its own instant).
    pub(crate) firings: i64,
}

/// What [`Write::item`] restores when an item fails.
struct ItemSavepoint {
    last_seq: u64,
    entries: u64,
    writes: usize,
    meta: usize,
    derived: Option<crate::derived::DerivedMeta>,
    counts: BTreeMap<Vec<u8>, i64>,
    touched: BTreeMap<CustomerId, Touched>,
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

impl Store {
    /// Brings this process's caches in line with a committed write: a new scoring model is
    /// read back from the store, the derived index's persisted meta is recorded.
    fn caches_follow(&self, committed: &Committed) {
        if committed.meta.iter().any(|k| k == keys::META_SCORING_MODEL) {
            match crate::derived::scoring::load_model(&self.inner.engine) {
                Ok(model) => {
                    let mut cached = self.inner.model.write().unwrap_or_else(|e| e.into_inner());
                    // Two replacements can commit in either order: the cache keeps the newest.
                    if cached.version < model.version {
                        *cached = std::sync::Arc::new(model);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the committed scoring model"),
            }
        }
        if let Some(meta) = committed.derived {
            crate::derived::persisted(self, meta);
        }
    }
}

impl<'a> Write<'a> {
    fn new(store: &'a Store, tx: &'a mut dyn Tx, started: DateTime<Utc>) -> Write<'a> {
        Write {
            store,
            tx,
            committed: Committed::default(),
            floor_seq: None,
            last_seq: 0,
            entries: 0,
            touched: BTreeMap::new(),
            counts: BTreeMap::new(),
            started,
            operation: None,
            cause: None,
            firings: 0,
        }
    }

    /// The value of `key` as this write sees it.
    pub(crate) fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.tx.get(key.as_ref())?)
    }

    /// The entries with keys in `(start, end)` as this write sees them, in key order or
    /// reversed, at most `limit` of them.
    pub(crate) fn scan(
        &mut self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.tx.range((start, end), reverse).take(limit) {
            out.push(item?);
        }
        Ok(out)
    }

    /// Every entry whose key starts with `prefix`, as this write sees them.
    pub(crate) fn scan_prefix(&mut self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_prefix_first(prefix, usize::MAX)
    }

    /// The first `limit` entries whose key starts with `prefix`, as this write sees them.
    pub(crate) fn scan_prefix_first(
        &mut self,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (start, end) = prefix_range(prefix);
        self.scan(start, end, false, limit)
    }

    pub(crate) fn put_raw(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.tx.put(key.as_ref(), value.as_ref());
        self.wrote(key.as_ref());
    }

    pub(crate) fn delete_raw(&mut self, key: impl AsRef<[u8]>) {
        self.tx.delete(key.as_ref());
        self.wrote(key.as_ref());
    }

    fn wrote(&mut self, key: &[u8]) {
        self.committed.writes += 1;
        if key.first() == Some(&keys::META) {
            self.committed.meta.push(key.to_vec());
        }
    }

    /// Reads and decodes a value.
    pub(crate) fn read<T: Stored>(
        &mut self,
        key: &[u8],
        what: &dyn Fn() -> String,
    ) -> Result<Option<T>> {
        match self.get(key)? {
            Some(bytes) => codec::decode(&bytes, what).map(Some),
            None => Ok(None),
        }
    }

    /// A customer as this write sees it.
    pub(crate) fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>> {
        self.read(&keys::customer(id), &|| format!("customer {id}"))
    }

    /// A customer that must exist.
    pub(crate) fn existing_customer(&mut self, id: CustomerId) -> Result<Customer> {
        match self.customer(id)? {
            Some(c) => Ok(c),
            None => {
                let tomb = self.get(keys::of_customer(keys::MERGED, id))?;
                Err(crate::customers::merge::missing(tomb, id))
            }
        }
    }

    /// The timeline entry at `key`, which must exist.
    pub(crate) fn entry(&mut self, key: &[u8]) -> Result<crm_core::TimelineEntry> {
        self.read(key, &|| keys::describe(key))?
            .ok_or_else(|| StoreError::Corrupt {
                key: keys::describe(key),
                detail: "a key points to a timeline entry that does not exist".into(),
            })
    }

    /// The lead-scoring model in force, as this write sees it: the cached one, or on an engine
    /// other processes write to, the stored one read through this transaction (a read outside
    /// it would take a second connection while this one is held).
    pub(crate) fn scoring_model(&mut self) -> Result<std::sync::Arc<crm_core::ScoringModel>> {
        if !self.store.shared() {
            return Ok(self.store.insights().scoring_model());
        }
        let stored: Option<crm_core::ScoringModel> = self
            .read(keys::META_SCORING_MODEL, &|| {
                keys::describe(keys::META_SCORING_MODEL)
            })?;
        Ok(std::sync::Arc::new(stored.unwrap_or_default()))
    }

    /// A customer's summary as this write sees it (absent: the empty summary).
    pub(crate) fn summary(&mut self, id: CustomerId) -> Result<Summary> {
        let key = keys::of_customer(keys::SUMMARY, id);
        Ok(self
            .read(&key, &|| format!("summary of {id}"))?
            .unwrap_or_default())
    }

    /// Writes a record of family `F` (`new`), replacing `old`, with everything its keepers say
    /// the change implies: index entries and unique keys that differ, and counts. A unique key
    /// another record holds is refused with [`StoreError::AlreadyExists`], and nothing of the
    /// write is committed.
    pub(crate) fn put_record<F: Family>(
        &mut self,
        old: Option<&F::Record>,
        new: Option<&F::Record>,
    ) -> Result<()> {
        let Some(subject) = new.or(old) else {
            return Ok(());
        };
        let key = F::key(subject);
        match new {
            Some(record) => {
                let bytes = codec::encode(record)?;
                self.put_raw(&key, bytes);
            }
            None => self.delete_raw(&key),
        }
        let kept = |r: Option<&F::Record>| {
            let mut kept = Kept::default();
            if let Some(r) = r {
                F::keep(r, &mut kept);
            }
            kept
        };
        let (before, after) = (kept(old), kept(new));
        for (k, v) in &after.entries {
            if before.entries.get(k) != Some(v) {
                self.put_raw(k, v);
            }
        }
        for k in before.entries.keys() {
            if !after.entries.contains_key(k) {
                self.delete_raw(k);
            }
        }
        for u in &after.uniques {
            if before
                .uniques
                .iter()
                .any(|b| b.key == u.key && b.owner == u.owner)
            {
                continue;
            }
            if let Some(holder) = self.get(&u.key)?
                && holder != u.owner
            {
                return Err(StoreError::AlreadyExists {
                    field: u.field,
                    value: u.value.clone(),
                    existing: keys::describe_value(&holder),
                });
            }
            self.put_raw(&u.key, &u.owner);
        }
        for b in &before.uniques {
            if !after.uniques.iter().any(|u| u.key == b.key) {
                self.delete_raw(&b.key);
            }
        }
        for k in before.counts {
            *self.counts.entry(k).or_default() -= 1;
        }
        for k in after.counts {
            *self.counts.entry(k).or_default() += 1;
        }
        Ok(())
    }

    /// A count a keeper keeps, as this write sees it (before the write's own changes to it).
    pub(crate) fn count(&mut self, key: &[u8]) -> Result<u64> {
        let value = self.get(key)?;
        count_value(key, value.as_deref())
    }

    /// The sequence of the newest `family seq(8)` key (0 for none): a log's own tail, so its
    /// sequence needs no counter key rewritten by every write.
    pub(crate) fn tail_seq(&mut self, family: u8, what: &str) -> Result<u64> {
        let start = Bound::Included(vec![family]);
        let end = Bound::Excluded(vec![family + 1]);
        match self.scan(start, end, true, 1)?.pop() {
            None => Ok(0),
            Some((key, _)) => keys::seq_of(&key, what),
        }
    }

    /// The change-log sequence before this write, read from the log's tail on first use.
    fn floor_seq(&mut self) -> Result<u64> {
        if let Some(floor) = self.floor_seq {
            return Ok(floor);
        }
        let floor = self.tail_seq(keys::CHANGE, "change-log")?;
        self.floor_seq = Some(floor);
        self.last_seq = floor;
        Ok(floor)
    }

    /// The next change-log sequence: one past the log's tail, so gap-free in commit order.
    pub(crate) fn next_seq(&mut self) -> Result<u64> {
        self.floor_seq()?;
        self.last_seq += 1;
        Ok(self.last_seq)
    }

    /// The sequence the write's next change-log event will take (without taking it).
    pub(crate) fn next_seq_peek(&mut self) -> Result<u64> {
        self.floor_seq()?;
        Ok(self.last_seq + 1)
    }

    /// A new timeline entry id: the sequence of this write's first change-log event in the high
    /// bits, the entry's number within the write in the low [`ENTRY_BITS`]. Unique without a
    /// counter of its own: every write that adds entries logs at least one event.
    pub(crate) fn next_entry(&mut self) -> Result<EntryId> {
        let floor = self.floor_seq()?;
        let id = ((floor + 1) << ENTRY_BITS) | self.entries;
        self.entries += 1;
        Ok(EntryId(id))
    }

    /// A new customer id: the creation time in milliseconds in the high 44 bits, a sequence in
    /// the low 20, and always above every id handed out before (`Mlast_id`, written here).
    pub(crate) fn next_id(&mut self, now: DateTime<Utc>) -> Result<CustomerId> {
        self.next_id_in(keys::META_LAST_ID, now).map(CustomerId)
    }

    /// A new id of the kind whose newest id `counter` holds: the time in milliseconds in the
    /// high 44 bits, a sequence in the low 20, above every id handed out before.
    pub(crate) fn next_id_in(&mut self, counter: &[u8], now: DateTime<Utc>) -> Result<u64> {
        let last = self.count(counter)?;
        let floor = u64::try_from(now.timestamp_millis())
            .unwrap_or(0)
            .saturating_mul(1 << 20);
        let id = floor.max(last + 1);
        self.put_raw(counter, id.to_be_bytes());
        Ok(id)
    }

    /// Runs one item of a write of many independent items (a batch, an import): if `f` fails
    /// with an error about the item (invalid, not found, taken, stale, refused), everything it
    /// wrote is undone and the error is the item's; the write goes on with the next item. An
    /// error about the store (the engine, damage, a conflict) fails the whole write.
    pub(crate) fn item<T>(
        &mut self,
        f: impl FnOnce(&mut Write<'_>) -> Result<T>,
    ) -> Result<std::result::Result<T, StoreError>> {
        self.floor_seq()?;
        self.tx.savepoint();
        let saved = ItemSavepoint {
            last_seq: self.last_seq,
            entries: self.entries,
            writes: self.committed.writes,
            meta: self.committed.meta.len(),
            derived: self.committed.derived,
            counts: self.counts.clone(),
            touched: std::mem::take(&mut self.touched),
        };
        match f(self) {
            Ok(out) => {
                let mine = std::mem::replace(&mut self.touched, saved.touched);
                for (id, t) in mine {
                    let kept = self.touched.entry(id).or_default();
                    if t.customer.is_some() {
                        kept.customer = t.customer;
                    }
                    if t.summary.is_some() {
                        kept.summary = t.summary;
                    }
                    kept.reevaluate |= t.reevaluate;
                }
                Ok(Ok(out))
            }
            Err(e) if e.is_about_the_item() => {
                self.tx.rollback();
                self.last_seq = saved.last_seq;
                self.entries = saved.entries;
                self.committed.writes = saved.writes;
                self.committed.meta.truncate(saved.meta);
                self.committed.derived = saved.derived;
                self.counts = saved.counts;
                self.touched = saved.touched;
                Ok(Err(e))
            }
            Err(e) => Err(e),
        }
    }

    /// Applies the counts the families' keepers changed and the derived state of every
    /// customer this write touched: part of the same transaction.
    fn apply_kept(&mut self) -> Result<()> {
        for (key, delta) in std::mem::take(&mut self.counts) {
            if delta == 0 {
                continue;
            }
            let count = self.count(&key)?.saturating_add_signed(delta);
            if count == 0 {
                self.delete_raw(&key);
            } else {
                self.put_raw(&key, count.to_be_bytes());
            }
        }
        if !self.touched.is_empty() {
            let touched = std::mem::take(&mut self.touched);
            let started = self.started;
            crate::derived::refresh(self, touched, started, false)?;
        }
        Ok(())
    }
}
