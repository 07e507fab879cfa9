//! The sled 0.34.7 engine: the embedded default, and the only file that calls sled.
//!
//! - One tree holds the whole key space.
//! - Transactions run one at a time (a writer mutex): a transaction's reads see the committed
//!   state plus its own writes ([`Overlay`]), and its writes are applied with one
//!   `Tree::apply_batch`, atomic for readers and for crash recovery. Serial transactions never
//!   conflict, so the ids and sequences allocated in them are gap-free and in commit order.
//! - A snapshot holds the writer mutex: no transaction commits while it is open (snapshots are
//!   for short, consistent multi-key reads such as `verify`; committed reads need none).
//! - [`Engine::sync`] is `Db::flush` followed by `fsync` of the log file: sled's own flush
//!   writes with `sync_file_range`, which survives a killed process but not a power loss.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{Decision, Engine, EngineError, EngineStats, Entries, KeyRange, Overlay, Reader, Tx};

/// How long opening waits for a directory lock to be released before reporting
/// [`EngineError::Locked`].
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// Held by the transaction running and by open snapshots.
    writer: Mutex<()>,
    commits: AtomicU64,
    syncs: AtomicU64,
    synced_commits: AtomicU64,
    /// One sync at a time, so `synced_commits` only grows.
    syncing: Mutex<()>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values are `()`: a panic elsewhere leaves nothing inconsistent behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SledEngine {
    /// Opens (or creates) the engine in `options.path`.
    pub fn open(options: &SledOptions) -> Result<SledEngine, EngineError> {
        let path = &options.path;
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
            let opened = sled::Config::new()
                .path(path)
                .cache_capacity(options.cache_bytes)
                .flush_every_ms(options.flush_every_ms)
                .open();
            match opened {
                Ok(db) => break db,
                Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= waited_until {
                        return Err(EngineError::Locked {
                            path: path.display().to_string(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(other) => return Err(failed(other)),
            }
        };
        let tree = db.open_tree("crm").map_err(failed)?;
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
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            synced_commits: AtomicU64::new(0),
            syncing: Mutex::new(()),
        })
    }
}

fn sync_dir(path: &Path) -> Result<(), EngineError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot sync directory {}", path.display())))
}

fn range_of(tree: &sled::Tree, range: KeyRange, reverse: bool) -> Entries<'static> {
    let iter = tree.range(range);
    let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send> = if reverse {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    Box::new(iter.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(failed)))
}

fn get_in(tree: &sled::Tree, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
    tree.get(key).map(|v| v.map(|v| v.to_vec())).map_err(failed)
}

/// Reads through a snapshot: the writer mutex keeps commits out while it is held.
struct SledSnapshot<'a> {
    tree: &'a sled::Tree,
    _writer: MutexGuard<'a, ()>,
}

impl Reader for SledSnapshot<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_in(self.tree, key)
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        range_of(self.tree, range, reverse)
    }
}

/// A transaction: the committed tree under the transaction's own writes.
struct SledTx<'a> {
    tree: &'a sled::Tree,
    overlay: Overlay,
}

impl Reader for SledTx<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        match self.overlay.get(key) {
            Some(mine) => Ok(mine),
            None => get_in(self.tree, key),
        }
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        let base = range_of(self.tree, range.clone(), reverse);
        if self.overlay.is_empty() {
            return base;
        }
        self.overlay.merge(base, range, reverse)
    }
}

impl Tx for SledTx<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.overlay.put(key, value);
    }

    fn delete(&mut self, key: &[u8]) {
        self.overlay.delete(key);
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

    fn range(&self, range: KeyRange, reverse: bool) -> Entries<'_> {
        range_of(&self.tree, range, reverse)
    }

    fn snapshot(&self) -> Result<Box<dyn Reader + '_>, EngineError> {
        Ok(Box::new(SledSnapshot {
            tree: &self.tree,
            _writer: lock(&self.writer),
        }))
    }

    fn transact_once(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Decision,
    ) -> Result<Decision, EngineError> {
        let _writer = lock(&self.writer);
        let mut tx = SledTx {
            tree: &self.tree,
            overlay: Overlay::default(),
        };
        let decision = f(&mut tx);
        if decision == Decision::Abort || tx.overlay.is_empty() {
            return Ok(decision);
        }
        let mut batch = sled::Batch::default();
        for (key, value) in tx.overlay.into_writes() {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        self.tree.apply_batch(batch).map_err(failed)?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(decision)
    }

    fn sync(&self) -> Result<(), EngineError> {
        let _one = lock(&self.syncing);
        // Every commit counted before the flush starts is covered by it.
        let covered = self.commits.load(Ordering::SeqCst);
        self.db.flush().map_err(failed)?;
        self.log.sync_all().map_err(io(format!(
            "cannot fsync {}",
            self.path.join("db").display()
        )))?;
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.synced_commits.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, EngineError> {
        self.db.size_on_disk().map_err(failed)
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            commits: self.commits.load(Ordering::SeqCst),
            syncs: self.syncs.load(Ordering::SeqCst),
            synced_commits: self.synced_commits.load(Ordering::SeqCst),
        }
    }
}
