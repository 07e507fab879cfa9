//! Online backup and restore.
//!
//! A backup is one consistent snapshot of the whole key space, taken while writes go on
//! ([`crate::engine::Engine::snapshot`]), written as a stream:
//!
//! | part | bytes |
//! |---|---|
//! | magic | `CRMBKUP1` |
//! | header | format version (1), cursor: the newest change-log sequence in the snapshot (8, big-endian), time in µs (8), engine name (1 + n) |
//! | entries | key length (4), key, value length (4), value; keys strictly ascending |
//! | end | 0 (4), entry count (8) |
//! | checksum | SHA-256 of everything before it (32) |
//!
//! [`restore`] reads a backup into an empty directory. It writes into a sibling temporary
//! directory and renames it into place only after the checksum matched and the engine synced,
//! so a truncated or damaged file leaves nothing behind.

use std::io::{Read, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::engine::{Engine, EngineError, transact};
use crate::error::{Precondition, Result, StoreError};
use crate::kv::keys;
use crate::store::FORMAT_VERSION;
use crate::{Store, StoreConfig};

const MAGIC: &[u8; 8] = b"CRMBKUP1";
const MAX_KEY: usize = 64 * 1024;
const MAX_VALUE: usize = 256 * 1024 * 1024;
/// Bytes restored per engine transaction.
const RESTORE_BATCH: usize = 8 * 1024 * 1024;

/// What a backup holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupInfo {
    /// The store's format version.
    pub format: u8,
    /// The state it holds: every change up to this change-feed cursor, nothing after.
    pub cursor: u64,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// The engine it was taken from.
    pub engine: String,
    /// Keys it holds.
    pub entries: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, data: &[u8]) -> Result<()> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.inner.write_all(data).map_err(|source| StoreError::Io {
            context: "writing the backup".into(),
            source,
        })
    }
}

impl Store {
    /// Writes a consistent backup of the whole store to `out`, while writes go on, and
    /// returns what it holds. Everything in it is on disk first (the store is flushed after
    /// the snapshot is taken).
    ///
    /// Errors: [`StoreError::Io`] (writing `out` failed: the backup is incomplete), engine
    /// errors.
    pub fn backup(&self, out: impl Write) -> Result<BackupInfo> {
        let engine = self.inner.engine.engine();
        let mut snap = engine.snapshot()?;
        self.flush()?;
        let cursor = match snap
            .range(
                (
                    Bound::Included(vec![keys::CHANGE]),
                    Bound::Excluded(vec![keys::CHANGE + 1]),
                ),
                true,
            )
            .next()
        {
            None => 0,
            Some(item) => keys::seq_of(&item?.0, "change-log")?,
        };
        let time = self.now();
        let name = engine.name().as_bytes();
        let mut w = Hashing {
            inner: out,
            hash: Sha256::new(),
            bytes: 0,
        };
        w.put(MAGIC)?;
        w.put(&[FORMAT_VERSION])?;
        w.put(&cursor.to_be_bytes())?;
        w.put(&time.timestamp_micros().to_be_bytes())?;
        w.put(&[u8::try_from(name.len()).unwrap_or(u8::MAX)])?;
        w.put(name.get(..255).unwrap_or(name))?;
        let mut entries = 0u64;
        for item in snap.range((Bound::Unbounded, Bound::Unbounded), false) {
            let (key, value) = item?;
            w.put(&len32(key.len())?)?;
            w.put(&key)?;
            w.put(&len32(value.len())?)?;
            w.put(&value)?;
            entries += 1;
        }
        w.put(&0u32.to_be_bytes())?;
        w.put(&entries.to_be_bytes())?;
        let digest = w.hash.clone().finalize();
        w.inner
            .write_all(&digest)
            .and_then(|()| w.inner.flush())
            .map_err(|source| StoreError::Io {
                context: "writing the backup".into(),
                source,
            })?;
        Ok(BackupInfo {
            format: FORMAT_VERSION,
            cursor,
            time,
            engine: engine.name().into(),
            entries,
            bytes: w.bytes + 32,
        })
    }
}

fn len32(n: usize) -> Result<[u8; 4]> {
    u32::try_from(n)
        .map(u32::to_be_bytes)
        .map_err(|_| StoreError::Storage(format!("a stored value of {n} bytes is too large")))
}

/// A reader that hashes what it reads and reports a short file as a bad backup.
struct Reading<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Reading<R> {
    fn take(&mut self, n: usize, what: &str) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => bad(format!(
                    "the file ends inside {what}: it is truncated (an interrupted copy or backup)"
                )),
                _ => StoreError::Io {
                    context: "reading the backup".into(),
                    source: e,
                },
            })?;
        self.hash.update(&buf);
        self.bytes += n as u64;
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<usize> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(u64::from_be_bytes(a))
    }
}

fn bad(detail: String) -> StoreError {
    StoreError::BadBackup { detail }
}

/// Restores the backup read from `input` into `dir`, which must be empty or not exist, and
/// opens the restored store with `config` (its path set to `dir`). Returns the store and what
/// the backup held. On any error nothing is left in `dir`.
///
/// Errors: [`StoreError::BadBackup`] (not a backup, truncated, a checksum that does not
/// match, a newer format), [`Precondition::RestoreTargetNotEmpty`], engine errors.
pub fn restore(
    input: impl Read,
    dir: &Path,
    mut config: StoreConfig,
) -> Result<(Store, BackupInfo)> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(StoreError::FailedPrecondition(
            Precondition::RestoreTargetNotEmpty {
                path: dir.display().to_string(),
            },
        ));
    }
    let staging = staging_dir(dir);
    let _ = std::fs::remove_dir_all(&staging);
    let restored = restore_into(input, &staging, &config);
    let info = match restored {
        Ok(info) => info,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(|source| StoreError::Io {
            context: format!("replacing the empty directory {}", dir.display()),
            source,
        })?;
    }
    std::fs::rename(&staging, dir).map_err(|source| StoreError::Io {
        context: format!("moving the restored store into {}", dir.display()),
        source,
    })?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
    }
    config.path = dir.to_path_buf();
    Ok((Store::open_with(config)?, info))
}

/// A sibling of `dir` to restore into before the rename.
fn staging_dir(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "crm-data".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!(".{name}.restoring"))
}

fn restore_into(input: impl Read, staging: &Path, config: &StoreConfig) -> Result<BackupInfo> {
    let mut r = Reading {
        inner: std::io::BufReader::with_capacity(1 << 20, input),
        hash: Sha256::new(),
        bytes: 0,
    };
    if r.take(MAGIC.len(), "the header")? != MAGIC {
        return Err(bad("this is not a crm backup (no CRMBKUP1 header)".into()));
    }
    let format = r.take(1, "the header")?[0];
    if !(2..=FORMAT_VERSION).contains(&format) {
        return Err(bad(format!(
            "the backup has format version {format}; this build restores versions 2 to \
             {FORMAT_VERSION}"
        )));
    }
    let cursor = r.u64("the header")?;
    let micros = i64::try_from(r.u64("the header")?).unwrap_or(i64::MAX);
    let time = DateTime::from_timestamp_micros(micros).unwrap_or_default();
    let name_len = r.take(1, "the header")?[0] as usize;
    let engine_name = String::from_utf8_lossy(&r.take(name_len, "the header")?).into_owned();
    // The engine the configuration names, with its defaults otherwise.
    let mut target = StoreConfig::new(staging).engine(config.engine);
    target.reserve_bytes = config.reserve_bytes;
    let engine = crate::store::open_embedded(&target)?;
    let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut entries = 0u64;
    let mut last: Option<Vec<u8>> = None;
    loop {
        let klen = r.u32("an entry")?;
        if klen == 0 {
            break;
        }
        if klen > MAX_KEY {
            return Err(bad(format!(
                "entry {entries} has a {klen}-byte key: the file is damaged"
            )));
        }
        let key = r.take(klen, "an entry")?;
        let vlen = r.u32("an entry")?;
        if vlen > MAX_VALUE {
            return Err(bad(format!(
                "entry {entries} has a {vlen}-byte value: the file is damaged"
            )));
        }
        let value = r.take(vlen, "an entry")?;
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(bad(format!(
                "entry {entries} is out of order: the file is damaged"
            )));
        }
        last = Some(key.clone());
        batch_bytes += key.len() + value.len();
        batch.push((key, value));
        entries += 1;
        if batch_bytes >= RESTORE_BATCH {
            apply(&engine, &mut batch)?;
            batch_bytes = 0;
        }
    }
    let count = r.u64("the end")?;
    let expected = r.hash.clone().finalize();
    let mut digest = [0u8; 32];
    r.inner
        .read_exact(&mut digest)
        .map_err(|_| bad("the file ends before its checksum: it is truncated".into()))?;
    if digest[..] != expected[..] {
        return Err(bad(
            "the checksum does not match the contents: the file is damaged".into(),
        ));
    }
    let mut extra = [0u8; 1];
    if r.inner.read(&mut extra).is_ok_and(|n| n > 0) {
        return Err(bad(
            "there are bytes after the checksum: the file is damaged".into(),
        ));
    }
    if count != entries {
        return Err(bad(format!(
            "the file says it holds {count} entries but holds {entries}: it is damaged"
        )));
    }
    apply(&engine, &mut batch)?;
    engine.sync()?;
    Ok(BackupInfo {
        format,
        cursor,
        time,
        engine: engine_name,
        entries,
        bytes: r.bytes + 32,
    })
}

fn apply(engine: &Arc<dyn Engine>, batch: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    transact(&**engine, |tx| {
        for (k, v) in batch.iter() {
            tx.put(k, v);
        }
        Ok::<_, EngineError>(())
    })?;
    batch.clear();
    Ok(())
}
