//! The sled 0.34.7 engine: the embedded default, and the only file that calls sled.
//!
//! - One tree holds the whole key space.
//! - Transactions run one at a time (a writer mutex): a transaction's reads see the committed
//!   state plus its own writes ([`Buffered`]), and its writes are applied with one
//!   `Tree::apply_batch`, atomic for readers and for crash recovery. Serial transactions never
//!   conflict, so the ids and sequences allocated in them are gap-free and in commit order.
//! - A snapshot does not stop writers: commits record the before-images of the keys they
//!   write while it is open ([`snapshot`]), so a backup or an export of a large store reads one
//!   state while writes go on.
//! - [`Engine::sync`] is `Db::flush` followed by `fsync` of the log file: sled's own flush
//!   writes with `sync_file_range`, which survives a killed process but not a power loss.
//! - [`guard`]: a transaction that would leave less than the reserve of free disk space is
//!   refused before it reaches sled; a failed or stalled apply, flush or fsync fences the engine
//!   (writes refused, reads served); sled's panics become errors. Waits for the writer mutex
//!   are bounded.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use super::{Buffered, Decision, Engine, EngineError, EngineStats, Entries, KeyRange, Reader, Tx};

/// How long opening waits for a directory lock to be released before reporting
/// [`EngineError::Locked`].
const LOCK_WAIT: Duration = Duration::from_secs(2);

pub(super) mod guard;
mod snapshot;
use guard::{Health, Shielded, shielded};

/// The default free space kept on the data directory's file system: 64 MiB.
pub const DEFAULT_RESERVE_BYTES: u64 = 64 * 1024 * 1024;
/// The default time sled may spend inside one apply or flush before the engine is fenced.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(20);

/// How to open a sled engine.
#[derive(Clone, Debug)]
pub struct SledOptions {
    /// The data directory (created if missing).
    pub path: PathBuf,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// `Some(ms)`: sled writes its log in the background every `ms` (relaxed durability);
    /// `None`: only [`Engine::sync`] does.
    pub flush_every_ms: Option<u64>,
    /// Free space, in bytes, that writes never take from the data directory's file system
    /// (0: no check): a write that would go below it fails with [`EngineError::DiskFull`].
    pub reserve_bytes: u64,
    /// How long sled may stay inside one apply or flush before the engine is fenced, and how
    /// long a transaction waits for the one before it.
    pub stall_after: Duration,
}

impl SledOptions {
    /// Durable, a 256 MiB cache, the default reserve and stall limit.
    pub fn new(path: impl Into<PathBuf>) -> SledOptions {
        SledOptions {
            path: path.into(),
            cache_bytes: 256 * 1024 * 1024,
            flush_every_ms: None,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            stall_after: DEFAULT_STALL_AFTER,
        }
    }
}

/// The sled engine.
#[derive(Debug)]
pub struct SledEngine {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    /// The log file, fsynced after every flush.
    log: File,
    existed: bool,
    /// Held by the transaction running (and while a snapshot registers).
    writer: Mutex<()>,
    /// The open snapshots, which commits record before-images for.
    snapshots: snapshot::OpenSnapshots,
    commits: AtomicU64,
    syncs: AtomicU64,
    synced_commits: AtomicU64,
    /// One sync at a time, so `synced_commits` only grows.
    syncing: Mutex<()>,
    reserve_bytes: u64,
    stall_after: Duration,
    health: Arc<Health>,
}

fn failed(e: sled::Error) -> EngineError {
    match e {
        sled::Error::Corruption { at, .. } => EngineError::Corrupt {
            detail: format!("sled found a damaged page at {at:?}"),
        },
        sled::Error::Io(source) => EngineError::Io {
            context: "sled".into(),
            source,
        },
        other => EngineError::Failed {
            source: Box::new(other),
        },
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> EngineError {
    move |source| EngineError::Io { context, source }
}

/// Takes `m` within `within`, or fails as the engine being stalled.
fn lock_within<'a>(
    m: &'a Mutex<()>,
    within: Duration,
    what: &str,
) -> Result<MutexGuard<'a, ()>, EngineError> {
    m.try_lock_for(within)
        .ok_or_else(|| EngineError::Unavailable {
            source: format!(
                "{what} waited {} s for the one before it: the engine is stalled",
                within.as_secs()
            )
            .into(),
        })
}

impl SledEngine {
    /// Opens (or creates) the engine in `options.path`.
    pub fn open(options: &SledOptions) -> Result<SledEngine, EngineError> {
        let path = &options.path;
        if let Some(found) = super::files_in(path).filter(|&e| e != "sled") {
            // Another engine's files: sled would start a new store beside them.
            return Err(EngineError::OtherEngine {
                path: path.display().to_string(),
                found,
                wanted: "sled",
            });
        }
        let created = !path.exists();
        std::fs::create_dir_all(path).map_err(io(format!(
            "cannot create data directory {}",
            path.display()
        )))?;
        let existed = std::fs::metadata(path.join("db")).is_ok_and(|m| m.len() > 0);
        // A directory this process closed a moment ago can still be locked by sled's own
        // threads winding down: a lock that stays held for LOCK_WAIT is another process's.
        let waited_until = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            let opened = shielded("opening the data directory", || {
                match sled::Config::new()
                    .path(path)
                    .cache_capacity(options.cache_bytes)
                    .flush_every_ms(options.flush_every_ms)
                    .open()
                {
                    Ok(db) => Ok(Some(db)),
                    // Still locked: by this process's closed engine, or another process.
                    Err(sled::Error::Io(io))
                        if io.to_string().contains("could not acquire lock") =>
                    {
                        Ok(None)
                    }
                    // At open, sled says "unsupported" for a settings file (conf) it cannot
                    // parse: on a directory that held data, that is damage.
                    Err(sled::Error::Unsupported(what)) if existed => Err(EngineError::Corrupt {
                        detail: format!(
                            "sled cannot read its files in {} ({what}): they are damaged or \
                             were not written by sled 0.34",
                            path.display()
                        ),
                    }),
                    Err(other) => Err(failed(other)),
                }
            })?;
            match opened {
                Some(db) => break db,
                None => {
                    if std::time::Instant::now() >= waited_until {
                        return Err(EngineError::Locked {
                            path: path.display().to_string(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        let tree = shielded("opening the tree", || db.open_tree("crm").map_err(failed))?;
        let log = File::open(path.join("db"))
            .map_err(io(format!("cannot open {}", path.join("db").display())))?;
        if !existed {
            // New files: their directory entries must reach the disk too.
            sync_dir(path)?;
            if created && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        Ok(SledEngine {
            db,
            tree,
            path: path.clone(),
            log,
            existed,
            writer: Mutex::new(()),
            snapshots: snapshot::OpenSnapshots::default(),
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            synced_commits: AtomicU64::new(0),
            syncing: Mutex::new(()),
            reserve_bytes: options.reserve_bytes,
            stall_after: options.stall_after,
            health: Health::start(options.stall_after),
        })
    }
}

fn sync_dir(path: &Path) -> Result<(), EngineError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot sync directory {}", path.display())))
}

fn range_of(tree: &sled::Tree, range: KeyRange, reverse: bool) -> Entries<'static> {
    let iter = match shielded("reading a range", || Ok(tree.range(range))) {
        Ok(iter) => iter,
        Err(e) => return Box::new(std::iter::once(Err(e))),
    };
    let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send> = if reverse {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    Box::new(Shielded {
        inner: iter.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(failed)),
        done: false,
    })
}

fn get_in(tree: &sled::Tree, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
    shielded("reading a key", || {
        tree.get(key).map(|v| v.map(|v| v.to_vec())).map_err(failed)
    })
}

/// The committed tree, read in place: a transaction's base (writers are serial, so it cannot
/// change under the transaction).
struct Committed<'a>(&'a sled::Tree);

impl Reader for Committed<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_in(self.0, key)
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        range_of(self.0, range, reverse)
    }
}

impl Engine for SledEngine {
    fn name(&self) -> &'static str {
        "sled"
    }

    fn existed(&self) -> bool {
        self.existed
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_in(&self.tree, key)
    }

    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, EngineError> {
        // The value is sled's own reference-counted buffer: nothing is copied.
        let value = shielded("reading a key", || self.tree.get(key).map_err(failed))?;
        Ok(value.map(|value| read(&value)).is_some())
    }

    fn range(&self, range: KeyRange, reverse: bool) -> Entries<'_> {
        range_of(&self.tree, range, reverse)
    }

    fn snapshot(&self) -> Result<Box<dyn Reader + '_>, EngineError> {
        let captured = {
            let _writer = lock_within(&self.writer, self.stall_after, "a snapshot")?;
            self.snapshots.register()
        };
        Ok(Box::new(snapshot::SledSnapshot {
            tree: &self.tree,
            captured,
        }))
    }

    fn hold_writes(&self) -> Result<Box<dyn super::Held + '_>, EngineError> {
        Ok(Box::new(lock_within(
            &self.writer,
            self.stall_after,
            "holding writes",
        )?))
    }

    fn transact_once(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Decision,
    ) -> Result<Decision, EngineError> {
        self.health.writable()?;
        let _writer = lock_within(&self.writer, self.stall_after, "a write")?;
        self.health.writable()?;
        let mut tx = Buffered::new(Committed(&self.tree));
        let decision = f(&mut tx);
        if decision == Decision::Abort || tx.overlay.is_empty() {
            return Ok(decision);
        }
        let writes: Vec<_> = tx.overlay.into_writes().collect();
        self.snapshots
            .before_commit(&self.tree, writes.iter().map(|(k, _)| k.as_slice()))?;
        let mut batch = sled::Batch::default();
        let mut bytes = 0u64;
        for (key, value) in writes {
            bytes += (key.len() + value.as_ref().map_or(0, Vec::len)) as u64;
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        guard::free_space_check(&self.path, self.reserve_bytes, bytes)?;
        self.health.track(false, "applying a write", || {
            self.tree.apply_batch(batch).map_err(failed)
        })?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(decision)
    }

    fn sync(&self) -> Result<(), EngineError> {
        self.health.writable()?;
        let _one = lock_within(&self.syncing, self.stall_after, "a flush")?;
        self.health.writable()?;
        // Every commit counted before the flush starts is covered by it.
        let covered = self.commits.load(Ordering::SeqCst);
        self.health.track(true, "flushing", || {
            self.db.flush().map_err(failed)?;
            // After a failed fsync the kernel may have dropped the dirty pages: never retry
            // (the engine is fenced), restart and recover from what reached the disk.
            self.log.sync_all().map_err(io(format!(
                "cannot fsync {}",
                self.path.join("db").display()
            )))
        })?;
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.synced_commits.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, EngineError> {
        shielded("measuring its files", || {
            self.db.size_on_disk().map_err(failed)
        })
    }

    fn failure(&self) -> Option<String> {
        self.health.failure().map(str::to_owned)
    }

    fn directory(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            commits: self.commits.load(Ordering::SeqCst),
            syncs: self.syncs.load(Ordering::SeqCst),
            synced_commits: self.synced_commits.load(Ordering::SeqCst),
        }
    }
}
