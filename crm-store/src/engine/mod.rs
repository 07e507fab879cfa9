//! The engine contract: what crm needs from a storage engine, and nothing more.
//!
//! An engine is an ordered byte-key space with
//! - committed reads: [`Engine::get`] and bounded [`Engine::range`] scans, forward and reverse,
//!   each read seeing only whole transactions;
//! - read snapshots ([`Engine::snapshot`]): every read through one snapshot sees the same
//!   committed state;
//! - write transactions ([`Engine::transact_once`]): every read a transaction makes sees the
//!   committed state plus its own writes; its puts and deletes become visible together, to
//!   readers and to crash recovery, or not at all. A commit that would break serializability
//!   fails with [`EngineError::Conflict`], and the caller runs the transaction again
//!   ([`transact`] does);
//! - durability on demand ([`Engine::sync`]): once it returns, every transaction committed
//!   before the call survives a crash of the process, of the operating system and a power loss;
//! - a failure it cannot recover from stops writes, not reads ([`Engine::failure`]); a write it
//!   refuses for want of disk space ([`EngineError::DiskFull`]) writes nothing.
//!
//! Ids, sequences and counters are kept in the key space and allocated inside transactions, never
//! in process memory, so several processes can share an engine that allows it.
//!
//! Engines: [`sled`] (the default, embedded); with the `postgres` feature, `postgres` (many
//! crm processes on one database); with the `fjall` feature, `fjall` (embedded, an LSM tree,
//! for write-heavy stores). Every engine passes [`conformance`].

use std::fmt::Debug;
use std::ops::Bound;
use std::path::Path;

pub mod conformance;
#[cfg(feature = "fjall")]
pub mod fjall;
mod overlay;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sled;

pub use overlay::{Buffered, Overlay};

/// Which embedded engine's files `dir` holds (`sled`, `fjall`), if any. Each embedded engine
/// refuses a directory holding the other's ([`EngineError::OtherEngine`]).
pub fn files_in(dir: &Path) -> Option<&'static str> {
    if dir.join("conf").is_file() && dir.join("db").is_file() {
        Some("sled")
    } else if dir.join("version").is_file() && dir.join("keyspaces").is_dir() {
        Some("fjall")
    } else {
        None
    }
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The keys from `.0` to `.1`.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Entries in key order (or reversed), each read or an engine failure.
pub type Entries<'a> = Box<dyn Iterator<Item = Result<Entry, EngineError>> + Send + 'a>;

/// What an engine call can fail with.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(feature = "exhaustive-errors"), non_exhaustive)]
pub enum EngineError {
    /// The transaction conflicted with a concurrent one and was not committed: run it again.
    #[error("the transaction conflicted with a concurrent one; run it again")]
    Conflict,
    /// Another process holds the data directory.
    #[error("the data directory {path} is in use by another process")]
    Locked {
        /// The data directory.
        path: String,
    },
    /// The directory holds another engine's store: open it with that engine, or copy it to a
    /// new directory with `crm-server migrate`.
    #[error(
        "{path} holds a {found} store, not a {wanted} one: open it with --engine {found}, or copy it with crm-server migrate"
    )]
    OtherEngine {
        /// The data directory.
        path: String,
        /// The engine whose files it holds.
        found: &'static str,
        /// The engine asked to open it.
        wanted: &'static str,
    },
    /// The engine found damaged data of its own (not a crm value that does not decode).
    #[error("the storage engine found damaged data: {detail}")]
    Corrupt {
        /// What and where.
        detail: String,
    },
    /// The write would leave the data directory's file system with less free space than the
    /// reserve: nothing was written; it succeeds again once space is freed.
    #[error(
        "the disk holding {path} is full: {available} bytes free, a write needs {needed} \
         (the reserve and the write); free space or grow the disk"
    )]
    DiskFull {
        /// The data directory.
        path: String,
        /// Bytes free.
        available: u64,
        /// Bytes the write needed free.
        needed: u64,
    },
    /// The file system failed.
    #[error("{context}: {source}")]
    Io {
        /// What the engine was doing.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The engine cannot be reached now (a database that is down or restarting, no free
    /// connection): nothing was written; try again later.
    #[error("the storage engine is unavailable: {source}")]
    Unavailable {
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A statement ran past the engine's time limit and was cancelled: nothing was written.
    #[error("the storage engine timed out: {source}")]
    Timeout {
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other failure of the engine, with the engine's own error.
    #[error("the storage engine failed: {source}")]
    Failed {
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Something held until it is dropped ([`Engine::hold_writes`]).
pub trait Held {}

impl<T> Held for T {}

/// Reads: committed state, or a transaction's view of it.
pub trait Reader {
    /// The value of `key`.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError>;
    /// The entries in `range`, in key order or reversed.
    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_>;
}

/// A write transaction: reads see the committed state and the transaction's own writes.
pub trait Tx: Reader {
    /// Sets `key` to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// Removes `key` (nothing happens if it is absent).
    fn delete(&mut self, key: &[u8]);
    /// Marks a savepoint: [`Tx::rollback`] undoes every write made after it. Marking again
    /// moves it. (For writes of many independent items in one transaction: an item that fails
    /// is undone, the others commit.)
    fn savepoint(&mut self);
    /// Undoes the writes made since the savepoint, which stays where it is; reads see the
    /// transaction as it was there. Without a savepoint, undoes nothing.
    fn rollback(&mut self);
}

/// What a transaction function tells the engine: commit what was written, or drop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Commit the writes.
    Commit,
    /// Write nothing.
    Abort,
}

/// Counters an engine keeps about itself, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Transactions committed with at least one write.
    pub commits: u64,
    /// Completed [`Engine::sync`] calls that reached the disk (fsync).
    pub syncs: u64,
    /// How many of the `commits` the last completed sync covered: every commit numbered up to
    /// this one was on disk (fsynced) when it returned.
    pub synced_commits: u64,
}

/// A storage engine (see the module documentation for the contract).
pub trait Engine: Send + Sync + Debug {
    /// The engine's name, for messages (`sled`).
    fn name(&self) -> &'static str;

    /// Whether the engine held data before it was opened (as opposed to being created now).
    fn existed(&self) -> bool;

    /// Whether other processes may write to the same data (then a process caches nothing it
    /// cannot check).
    fn shared(&self) -> bool {
        false
    }

    /// The committed value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError>;

    /// Hands the committed value of `key` to `read` where the engine keeps it, without copying
    /// it out (a hot read decodes straight from it); false when the key is absent. `read`
    /// runs after the engine's read has returned, outside its guard.
    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, EngineError> {
        Ok(self.get(key)?.map(|value| read(&value)).is_some())
    }

    /// The committed entries in `range`, in key order or reversed.
    fn range(&self, range: KeyRange, reverse: bool) -> Entries<'_>;

    /// A view in which every read sees the same committed state, while writers go on (an engine
    /// may keep what they overwrite in memory while it is open: hold it as long as needed, no
    /// longer).
    fn snapshot(&self) -> Result<Box<dyn Reader + '_>, EngineError>;

    /// Holds every write of this process back until the guard is dropped (writers wait, within
    /// the engine's stall limit), for a check that reads the committed state through ordinary
    /// reads and must see it still (`verify`). An engine other processes write to cannot hold
    /// them: it returns a guard that holds nothing.
    fn hold_writes(&self) -> Result<Box<dyn Held + '_>, EngineError>;

    /// Runs `f` once in a new transaction, and commits its writes if it says
    /// [`Decision::Commit`]. Returns what `f` decided, or [`EngineError::Conflict`] when the
    /// commit conflicted with another transaction (nothing was written: run it again). `f` may
    /// run again after a conflict, so it must have no effect outside the transaction.
    fn transact_once(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Decision,
    ) -> Result<Decision, EngineError>;

    /// Makes every transaction committed before the call durable (see the module docs).
    ///
    /// When it fails, the transactions it was to cover are committed but of unknown
    /// durability: readers of this process may see them, and after a restart each is there or
    /// not. An engine that cannot tell what reached the disk then stops accepting writes
    /// ([`Engine::failure`]) until the process restarts and recovers. The store never
    /// acknowledges such a write (`StoreError::Durability`).
    fn sync(&self) -> Result<(), EngineError>;

    /// Bytes the engine's files take.
    fn size_on_disk(&self) -> Result<u64, EngineError>;

    /// The engine's counters.
    fn stats(&self) -> EngineStats;

    /// Why the engine stopped accepting writes, once it did (a failed flush or fsync, a stall):
    /// it serves reads, and fails every write and sync with [`EngineError::Unavailable`] until
    /// the process restarts and recovers what reached the disk.
    fn failure(&self) -> Option<String> {
        None
    }

    /// The local directory holding the engine's files, for an engine that has one: the store
    /// keeps its acknowledgement mark there.
    fn directory(&self) -> Option<&Path> {
        None
    }
}

/// An error a transaction function can fail with, which may say that the engine conflicted.
pub trait TxFailure: From<EngineError> {
    /// Whether the transaction should run again: a conflict, not a decision of the function.
    fn is_conflict(&self) -> bool;
}

impl TxFailure for EngineError {
    fn is_conflict(&self) -> bool {
        matches!(self, EngineError::Conflict)
    }
}

/// How many times [`transact`] runs a transaction that keeps conflicting (with the pauses
/// between, about ten seconds of trying).
pub const MAX_ATTEMPTS: u32 = 500;

/// The pause before attempt `attempt + 1`: growing from 100 µs to 20 ms, each drawn at random
/// between half and one and a half of that, so that writers that conflicted do not all come
/// back at the same instant.
fn pause(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = (100u64 << attempt.min(8)).min(20_000);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    std::time::Duration::from_micros(base / 2 + hasher.finish() % base)
}

/// Runs `f` in a transaction until it commits or fails for a reason other than a conflict: an
/// error from `f` aborts the transaction (nothing is written) and is returned. Conflicts are
/// retried after a growing, randomized pause, at most [`MAX_ATTEMPTS`] times.
pub fn transact<T, E: TxFailure>(
    engine: &dyn Engine,
    mut f: impl FnMut(&mut dyn Tx) -> Result<T, E>,
) -> Result<T, E> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut outcome: Option<Result<T, E>> = None;
        let run = engine.transact_once(&mut |tx| {
            let result = f(tx);
            let decision = if result.is_ok() {
                Decision::Commit
            } else {
                Decision::Abort
            };
            outcome = Some(result);
            decision
        });
        let retry = match (run, outcome) {
            (Ok(_), Some(result)) => match result {
                Err(e) if e.is_conflict() => e,
                done => return done,
            },
            (Ok(_), None) => {
                return Err(E::from(EngineError::Failed {
                    source: "the engine committed without running the transaction".into(),
                }));
            }
            (Err(e), _) if e.is_conflict() => E::from(e),
            (Err(e), _) => return Err(E::from(e)),
        };
        if attempt >= MAX_ATTEMPTS {
            return Err(retry);
        }
        std::thread::sleep(pause(attempt));
    }
}

/// The keys that start with `prefix`.
pub fn prefix_range(prefix: &[u8]) -> KeyRange {
    (Bound::Included(prefix.to_vec()), prefix_end(prefix))
}

/// The first key after every key that starts with `prefix` (unbounded for an all-`0xff` one).
pub fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// Whether `key` lies in `range`.
pub fn contains(range: &KeyRange, key: &[u8]) -> bool {
    let above = match &range.0 {
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match &range.1 {
        Bound::Included(e) => key <= e.as_slice(),
        Bound::Excluded(e) => key < e.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}
