//! Offline compaction: the data directory rewritten with only its live keys.
//!
//! sled keeps a deleted or overwritten value in its log segments until it happens to rewrite
//! them, so an erased email can stay in `db` for a long time. Compaction takes a consistent
//! snapshot of every live key (the backup stream, `backup.rs`), restores it into a new sibling
//! directory through a pipe (nothing reaches a temporary file), copies the files beside the
//! engine's (the API keys), and swaps the directories: the old one is renamed aside, the new
//! one into place, the parent fsynced, and then the old one removed. A crash before the swap
//! leaves the old directory in place (and a `.NAME.compacting` to delete); a crash after it,
//! the compacted one (and a `.NAME.precompact` to delete). It needs the directory to itself:
//! a server holding it makes the open fail with `Locked`.
//!
//! What it cannot reach: blocks of the removed files that the file system or the disk keeps
//! until they are reused (use an encrypted volume), and backups taken before (DESIGN.md).

use std::path::{Path, PathBuf};

use crate::backup::restore;
use crate::error::{Result, StoreError};
use crate::{Store, StoreConfig};

/// What a compaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactInfo {
    /// Keys copied.
    pub keys: u64,
    /// Bytes in the directory before.
    pub bytes_before: u64,
    /// Bytes in the directory after.
    pub bytes_after: u64,
}

/// The engine's own files and the mark, which the compacted store writes afresh.
fn engine_file(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs" | crate::mark::FILE) || name.starts_with("snap.")
}

fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "crm-data".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!(".{name}.{what}"))
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => size_of(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// Compacts the sled store in `config.path` (see the module). Returns what it did.
///
/// Errors: [`StoreError::Locked`] (a server holds the directory), I/O and engine errors; on
/// any error before the swap the directory is as it was.
pub fn compact(config: StoreConfig) -> Result<CompactInfo> {
    let dir = config.path.clone();
    if !dir.join("db").exists() {
        return Err(StoreError::Storage(format!(
            "{} holds no store to compact",
            dir.display()
        )));
    }
    let bytes_before = size_of(&dir);
    let staging = sibling(&dir, "compacting");
    let aside = sibling(&dir, "precompact");
    for stale in [&staging, &aside] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(io(format!("removing {}", stale.display())))?;
        }
    }
    let store = Store::open_with(config.clone())?;
    let (reader, writer) = std::io::pipe().map_err(io("opening a pipe".into()))?;
    let restored = std::thread::scope(|s| {
        let taking = s.spawn(|| {
            let out = std::io::BufWriter::with_capacity(1 << 20, writer);
            store.backup(out)
        });
        let input = std::io::BufReader::with_capacity(1 << 20, reader);
        let restored = restore(input, &staging, config.clone());
        let taken = taking
            .join()
            .map_err(|_| StoreError::Storage("the snapshot thread panicked".into()))?;
        taken?;
        restored
    });
    drop(store);
    let (compacted, info) = match restored {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    drop(compacted);
    for entry in std::fs::read_dir(&dir).map_err(io(format!("reading {}", dir.display())))? {
        let entry = entry.map_err(io(format!("reading {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !engine_file(&name) && entry.path().is_file() {
            let to = staging.join(&name);
            std::fs::copy(entry.path(), &to).map_err(io(format!("copying {name}")))?;
            std::fs::File::open(&to)
                .and_then(|f| f.sync_all())
                .map_err(io(format!("syncing {name}")))?;
        }
    }
    std::fs::rename(&dir, &aside).map_err(io(format!("moving {} aside", dir.display())))?;
    std::fs::rename(&staging, &dir).map_err(io(format!(
        "moving the compacted store to {}",
        dir.display()
    )))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("syncing {}", parent.display())))?;
    }
    std::fs::remove_dir_all(&aside).map_err(io(format!("removing {}", aside.display())))?;
    Ok(CompactInfo {
        keys: info.entries,
        bytes_before,
        bytes_after: size_of(&dir),
    })
}
