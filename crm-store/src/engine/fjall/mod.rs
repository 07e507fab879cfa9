//! The fjall 3 engine (feature `fjall`): an embedded LSM tree, for write-heavy stores that
//! outgrow sled. The only module that calls fjall.
//!
//! - A main keyspace (`crm`), and for some first bytes of keys a keyspace of their own, named
//!   in [`FjallOptions::own_keyspaces`] when the store is created: customer records get one, so
//!   their tables hold nothing else ([`route`]). A range across keyspaces reads them in turn,
//!   in key order, as one tree.
//! - Transactions run one at a time (a writer mutex): a transaction's reads see the committed
//!   state plus its own writes ([`Buffered`]), and its writes are committed with one fjall
//!   `WriteBatch`, atomic for readers and for crash recovery (the journal holds the batch whole
//!   or not at all). Serial transactions never conflict.
//! - Snapshots are fjall's own (sequence-numbered, MVCC): they never hold writers back.
//! - Every commit reaches the operating system (the journal is written through at commit:
//!   a killed process loses nothing); [`Engine::sync`] is `persist(SyncAll)`, an fsync of the
//!   journal, which the store's group commit shares among concurrent writers. With relaxed
//!   durability a background thread does the same every `flush_every_ms`.
//! - A failed commit or fsync fences the engine (fjall poisons itself): writes are refused,
//!   reads served, until the process restarts and recovers from the journal.
//! - A directory holding a sled store is refused, as sled refuses a fjall one.
//! - Memory: the block cache (`cache_bytes`); the memtables, [`MEMTABLE_BYTES`] each, per
//!   keyspace: the active one and the sealed ones waiting for a flush (fjall holds a keyspace's
//!   writes back at four sealed ones, so at most five); every table's index and filter blocks,
//!   pinned (`keyspace_options`), which grow with the data. The documented bound (README,
//!   measured in BENCHMARKS.md): the cache plus 64 MiB for the rest of the process plus five
//!   memtables per keyspace (704 MiB with the customers' keyspace, 384 MiB for a store created
//!   with one keyspace) plus 64 bytes per customer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fjall::config::PinningPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use parking_lot::Mutex;

mod route;

use route::Routes;

use super::{Buffered, Decision, Engine, EngineError, EngineStats, Entries, KeyRange, Reader, Tx};

/// A memtable is sealed and flushed to a table past this size (fjall's default, named here
/// because the memory bound counts it).
pub const MEMTABLE_BYTES: u64 = 64 * 1024 * 1024;

/// How to open a fjall engine.
#[derive(Clone, Debug)]
pub struct FjallOptions {
    /// The data directory (created if missing).
    pub path: PathBuf,
    /// fjall's block cache, in bytes.
    pub cache_bytes: u64,
    /// `Some(ms)`: the journal is fsynced in the background every `ms` (relaxed durability);
    /// `None`: only [`Engine::sync`] does.
    pub flush_every_ms: Option<u64>,
    /// Free space, in bytes, that writes never take from the data directory's file system.
    pub reserve_bytes: u64,
    /// How long a transaction waits for the one before it before the engine reports a stall.
    pub stall_after: Duration,
    /// The first bytes of keys that get a keyspace of their own when the store is created. A
    /// store keeps the split it was created with: an existing one is opened as it is.
    pub own_keyspaces: Vec<u8>,
}

impl FjallOptions {
    /// Durable, a 256 MiB cache, the default reserve and stall limit.
    pub fn new(path: impl Into<PathBuf>) -> FjallOptions {
        FjallOptions {
            path: path.into(),
            cache_bytes: 256 * 1024 * 1024,
            flush_every_ms: None,
            reserve_bytes: super::sled::DEFAULT_RESERVE_BYTES,
            stall_after: super::sled::DEFAULT_STALL_AFTER,
            own_keyspaces: Vec::new(),
        }
    }
}

/// The fjall engine.
pub struct FjallEngine {
    shared: Arc<Shared>,
    existed: bool,
}

struct Shared {
    db: Database,
    routes: Routes,
    path: PathBuf,
    writer: Mutex<()>,
    syncing: Mutex<()>,
    commits: AtomicU64,
    syncs: AtomicU64,
    synced_commits: AtomicU64,
    fenced: OnceLock<String>,
    reserve_bytes: u64,
    stall_after: Duration,
}

impl std::fmt::Debug for FjallEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallEngine")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

fn failed(e: fjall::Error) -> EngineError {
    match e {
        fjall::Error::Io(source) => EngineError::Io {
            context: "fjall".into(),
            source,
        },
        other => EngineError::Failed {
            source: Box::new(other),
        },
    }
}

impl FjallEngine {
    /// Opens (or creates) the engine in `options.path`.
    pub fn open(options: &FjallOptions) -> Result<FjallEngine, EngineError> {
        let path = &options.path;
        let found = super::files_in(path);
        if let Some(found) = found.filter(|&e| e != "fjall") {
            return Err(EngineError::OtherEngine {
                path: path.display().to_string(),
                found,
                wanted: "fjall",
            });
        }
        let existed = found == Some("fjall");
        let db = Database::builder(path)
            .cache_size(options.cache_bytes)
            .open()
            .map_err(|e| match e {
                fjall::Error::Locked => EngineError::Locked {
                    path: path.display().to_string(),
                },
                other => failed(other),
            })?;
        let routes = open_keyspaces(&db, &options.own_keyspaces)?;
        let shared = Arc::new(Shared {
            db,
            routes,
            path: path.clone(),
            writer: Mutex::new(()),
            syncing: Mutex::new(()),
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            synced_commits: AtomicU64::new(0),
            fenced: OnceLock::new(),
            reserve_bytes: options.reserve_bytes,
            stall_after: options.stall_after,
        });
        if let Some(ms) = options.flush_every_ms {
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("crm-fjall-flush".into())
                .spawn(move || {
                    while let Some(shared) = weak.upgrade() {
                        drop(shared);
                        std::thread::sleep(Duration::from_millis(ms));
                        let Some(shared) = weak.upgrade() else { return };
                        if shared.sync().is_err() {
                            return;
                        }
                    }
                })
                .map_err(|source| EngineError::Io {
                    context: "cannot start fjall's flush thread".into(),
                    source,
                })?;
        }
        Ok(FjallEngine { shared, existed })
    }

    /// The first bytes of keys that have a keyspace of their own in this store, ascending.
    pub fn own_keyspaces(&self) -> Vec<u8> {
        self.shared.routes.own_bytes()
    }
}

/// The store's keyspaces: the main one, and every one named for a first byte. A store is new
/// until its main keyspace exists (it is made last): then the keyspaces `own` names are made
/// too, beside any an interrupted creation left, which keep their keys' place.
fn open_keyspaces(db: &Database, own: &[u8]) -> Result<Routes, EngineError> {
    let mut own_bytes: Vec<u8> = db
        .list_keyspace_names()
        .iter()
        .filter_map(|name| route::byte_of(name))
        .collect();
    if !db.keyspace_exists(route::MAIN) {
        own_bytes.extend_from_slice(own);
    }
    let own = own_bytes;
    let own = own
        .into_iter()
        .map(|b| {
            Ok((
                b,
                db.keyspace(&route::own_name(b), keyspace_options)
                    .map_err(failed)?,
            ))
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let main = db.keyspace(route::MAIN, keyspace_options).map_err(failed)?;
    Ok(Routes::new(main, own))
}

impl Shared {
    fn writable(&self) -> Result<(), EngineError> {
        match self.fenced.get() {
            Some(why) => Err(EngineError::Unavailable {
                source: format!("writes are stopped until a restart: {why}").into(),
            }),
            None => Ok(()),
        }
    }

    /// Stops writes after a failure whose effect on the disk is unknown.
    fn fence(&self, what: &str, e: EngineError) -> EngineError {
        let _ = self.fenced.set(format!("{what} failed: {e}"));
        e
    }

    fn lock<'a>(
        &self,
        m: &'a Mutex<()>,
        what: &str,
    ) -> Result<parking_lot::MutexGuard<'a, ()>, EngineError> {
        m.try_lock_for(self.stall_after)
            .ok_or_else(|| EngineError::Unavailable {
                source: format!(
                    "{what} waited {} s for the one before it: the engine is stalled",
                    self.stall_after.as_secs()
                )
                .into(),
            })
    }

    fn sync(&self) -> Result<(), EngineError> {
        self.writable()?;
        let _one = self.lock(&self.syncing, "a flush")?;
        self.writable()?;
        let covered = self.commits.load(Ordering::SeqCst);
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| self.fence("an fsync of the journal", failed(e)))?;
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.synced_commits.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }
}

/// How the keyspace is created (fjall keeps these with it: a store keeps the options it was
/// created with). Every table's index and filter blocks are pinned in memory (fjall's default
/// pins the first levels only), so a read that misses the block cache reads one data block
/// instead of the index and filter blocks before it.
fn keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .max_memtable_size(MEMTABLE_BYTES)
        .index_block_pinning_policy(PinningPolicy::all(true))
        .filter_block_pinning_policy(PinningPolicy::all(true))
}

/// Where reads go: the latest committed state ([`Latest`]) or one snapshot of it.
trait Source: Sync {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> fjall::Result<Option<fjall::UserValue>>;
    fn range(&self, keyspace: &Keyspace, range: KeyRange) -> fjall::Iter;
}

/// The latest committed state.
struct Latest;

impl Source for Latest {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> fjall::Result<Option<fjall::UserValue>> {
        keyspace.get(key)
    }

    fn range(&self, keyspace: &Keyspace, range: KeyRange) -> fjall::Iter {
        keyspace.range(range)
    }
}

impl Source for fjall::Snapshot {
    fn get(&self, keyspace: &Keyspace, key: &[u8]) -> fjall::Result<Option<fjall::UserValue>> {
        Readable::get(self, keyspace, key)
    }

    fn range(&self, keyspace: &Keyspace, range: KeyRange) -> fjall::Iter {
        Readable::range(self, keyspace, range)
    }
}

fn get_in(read: &impl Source, routes: &Routes, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
    read.get(routes.of(key), key)
        .map(|v| v.map(|v| v.to_vec()))
        .map_err(failed)
}

/// The entries of `range` in `read`, from each keyspace it crosses in turn.
fn range_in<'a, R: Source>(
    read: &'a R,
    routes: &'a Routes,
    range: &KeyRange,
    reverse: bool,
) -> Entries<'a> {
    let mut pieces = routes.pieces(range);
    if pieces.len() == 1 {
        let (keyspace, piece) = pieces.remove(0);
        return entries(read.range(keyspace, piece), reverse);
    }
    if reverse {
        pieces.reverse();
    }
    Box::new(
        pieces
            .into_iter()
            .flat_map(move |(keyspace, piece)| entries(read.range(keyspace, piece), reverse)),
    )
}

fn entries(iter: fjall::Iter, reverse: bool) -> Entries<'static> {
    let pairs = |g: fjall::Guard| {
        g.into_inner()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(failed)
    };
    if reverse {
        Box::new(iter.rev().map(pairs))
    } else {
        Box::new(iter.map(pairs))
    }
}

/// Reads of the committed state, or of one snapshot of it.
struct FjallReader<'a> {
    snapshot: fjall::Snapshot,
    routes: &'a Routes,
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_in(&self.snapshot, self.routes, key)
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        range_in(&self.snapshot, self.routes, &range, reverse)
    }
}

/// The committed state, read in place: a transaction's base (writers are serial, so it cannot
/// change under the transaction).
struct Committed<'a>(&'a Shared);

impl Reader for Committed<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_in(&Latest, &self.0.routes, key)
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        range_in(&Latest, &self.0.routes, &range, reverse)
    }
}

impl Engine for FjallEngine {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn existed(&self) -> bool {
        self.existed
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_in(&Latest, &self.shared.routes, key)
    }

    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, EngineError> {
        // The value is fjall's own reference-counted slice: nothing is copied.
        let value = self.shared.routes.of(key).get(key).map_err(failed)?;
        Ok(value.map(|value| read(&value)).is_some())
    }

    fn range(&self, range: KeyRange, reverse: bool) -> Entries<'_> {
        range_in(&Latest, &self.shared.routes, &range, reverse)
    }

    fn snapshot(&self) -> Result<Box<dyn Reader + '_>, EngineError> {
        Ok(Box::new(FjallReader {
            snapshot: self.shared.db.snapshot(),
            routes: &self.shared.routes,
        }))
    }

    fn hold_writes(&self) -> Result<Box<dyn super::Held + '_>, EngineError> {
        Ok(Box::new(
            self.shared.lock(&self.shared.writer, "holding writes")?,
        ))
    }

    fn transact_once(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Decision,
    ) -> Result<Decision, EngineError> {
        let s = &self.shared;
        s.writable()?;
        let _writer = s.lock(&s.writer, "a write")?;
        s.writable()?;
        let mut tx = Buffered::new(Committed(s));
        let decision = f(&mut tx);
        if decision == Decision::Abort || tx.overlay.is_empty() {
            return Ok(decision);
        }
        let mut batch = s.db.batch();
        let mut bytes = 0u64;
        for (key, value) in tx.overlay.into_writes() {
            bytes += (key.len() + value.as_ref().map_or(0, Vec::len)) as u64;
            match value {
                Some(v) => batch.insert(s.routes.of(&key), key, v),
                None => batch.remove(s.routes.of(&key), key),
            }
        }
        super::sled::guard::free_space_check(&s.path, s.reserve_bytes, bytes)?;
        batch.commit().map_err(|e| s.fence("a commit", failed(e)))?;
        s.commits.fetch_add(1, Ordering::SeqCst);
        Ok(decision)
    }

    fn sync(&self) -> Result<(), EngineError> {
        self.shared.sync()
    }

    fn size_on_disk(&self) -> Result<u64, EngineError> {
        self.shared.db.disk_space().map_err(failed)
    }

    fn stats(&self) -> EngineStats {
        let s = &self.shared;
        EngineStats {
            commits: s.commits.load(Ordering::SeqCst),
            syncs: s.syncs.load(Ordering::SeqCst),
            synced_commits: s.synced_commits.load(Ordering::SeqCst),
        }
    }

    fn failure(&self) -> Option<String> {
        self.shared.fenced.get().cloned()
    }

    fn directory(&self) -> Option<&Path> {
        Some(&self.shared.path)
    }
}
