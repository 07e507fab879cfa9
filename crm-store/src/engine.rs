//! The engine boundary: every sled call of the crate is in this file.
//!
//! The store sees an ordered byte-key space with point reads, range scans, atomic batches and
//! flushes. Swapping the engine means rewriting this file and keeping its contract.

use std::ops::Bound;

use crate::error::{Result, StoreError};

/// Bytes read from the engine (cheaply cloneable).
pub(crate) type Bytes = sled::IVec;

/// The one keyspace everything lives in (see DESIGN.md for the prefixes).
#[derive(Clone, Debug)]
pub(crate) struct Engine {
    db: sled::Db,
    tree: sled::Tree,
    existed: bool,
}

/// Writes applied together, atomically: readers and crash recovery see all or none of them.
#[derive(Debug, Default)]
pub(crate) struct WriteBatch {
    batch: sled::Batch,
    len: usize,
}

impl WriteBatch {
    pub(crate) fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.batch.insert(key.as_ref(), value.as_ref());
        self.len += 1;
    }

    pub(crate) fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.batch.remove(key.as_ref());
        self.len += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn engine_error(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { at, .. } => StoreError::Corrupt {
            key: format!("engine page {at:?}"),
            detail: "the storage engine found a damaged page".into(),
        },
        other => StoreError::Storage(other.to_string()),
    }
}

impl Engine {
    /// Opens (or creates) the keyspace in `config.path`.
    pub(crate) fn open(config: &crate::StoreConfig) -> Result<Engine> {
        let path = &config.path;
        std::fs::create_dir_all(path).map_err(|e| {
            StoreError::Storage(format!(
                "cannot create data directory {}: {e}",
                path.display()
            ))
        })?;
        let flush = match config.durability {
            crate::Durability::Durable => None,
            crate::Durability::Relaxed => Some(config.flush_every_ms.max(1)),
        };
        let existed = std::fs::metadata(path.join("db")).is_ok_and(|m| m.len() > 0);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(config.cache_bytes)
            .flush_every_ms(flush)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked {
                        path: path.display().to_string(),
                    }
                }
                other => engine_error(other),
            })?;
        let tree = db.open_tree("crm").map_err(engine_error)?;
        Ok(Engine { db, tree, existed })
    }

    /// Whether the directory held engine files before this open (as opposed to being new).
    pub(crate) fn existed(&self) -> bool {
        self.existed
    }

    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.tree.get(key).map_err(engine_error)
    }

    /// Entries with keys in `(start, end)`, in key order or reversed.
    pub(crate) fn scan(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + use<> {
        let iter = self.tree.range((start, end));
        let iter: Box<dyn Iterator<Item = sled::Result<(Bytes, Bytes)>>> = if reverse {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        iter.map(|r| r.map_err(engine_error))
    }

    /// Entries whose keys start with `prefix`, in key order.
    pub(crate) fn scan_prefix(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + use<> {
        self.tree
            .scan_prefix(prefix)
            .map(|r| r.map_err(engine_error))
    }

    /// Applies a batch atomically.
    pub(crate) fn commit(&self, batch: WriteBatch) -> Result<()> {
        self.tree.apply_batch(batch.batch).map_err(engine_error)
    }

    /// Makes every write applied so far durable.
    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush().map(drop).map_err(engine_error)
    }

    /// Bytes the data directory takes on disk.
    pub(crate) fn size_on_disk(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(engine_error)
    }
}
