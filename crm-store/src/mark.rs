//! The acknowledgement mark: what the store has promised is on disk, kept outside the engine.
//!
//! sled recovers a damaged log by stopping at the first bad checksum and treating the rest as
//! never written, so a truncated or bit-flipped data file opens as an older store without a
//! word. The store therefore keeps its own record of what it acknowledged: after every
//! successful sync (each group commit, each flush), the newest change-log event and the newest
//! configuration event that the sync covered, each as its sequence and a fingerprint of its
//! stored bytes, go to a small file beside the engine's files (`crm-ack-mark`), written in
//! place before any writer of that group is answered. It is written only after the engine's
//! fsync, so it never claims more than is durable. It is fsynced at every flush and close, by a
//! group commit when its last fsync is 100 ms old, and by the flusher 100 ms after writes
//! pause: fsyncing it with every group cost a fifth of single-writer durable throughput
//! (BENCHMARKS.md), and an older mark on disk is still a true lower bound.
//!
//! On open, the engine must still hold both events, byte for byte. If it does not, the store is
//! refused with [`StoreError::DataLoss`] naming what is missing, unless the operator accepts
//! the loss ([`crate::StoreConfig::accept_data_loss`]): then it opens without accepting writes,
//! and `verify` reports the loss.
//!
//! The file has two 64-byte slots, 4 KiB apart, written alternately, each with a generation
//! and a checksum: a write torn by a crash leaves the other slot, one group older, which is
//! still a true lower bound.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::engine::{Engine, prefix_range};
use crate::error::{Result, StoreError};
use crate::kv::keys;

/// The mark's file name, in the engine's directory.
pub const FILE: &str = "crm-ack-mark";

const MAGIC: &[u8; 8] = b"crmmark1";
const SLOT_BYTES: usize = 64;
const SLOT_GAP: u64 = 4096;

/// The newest event of one sequence: its number (0: none yet) and a fingerprint of its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tail {
    seq: u64,
    fingerprint: u64,
}

/// What the store has acknowledged: the newest change-log and configuration events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    changes: Tail,
    configuration: Tail,
}

/// FNV-1a, 64 bits: a fingerprint, not a defence against someone forging bytes.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn tail_of(engine: &dyn Engine, prefix: u8) -> Result<Tail> {
    match engine.range(prefix_range(&[prefix]), true).next() {
        None => Ok(Tail::default()),
        Some(item) => {
            let (key, value) = item?;
            Ok(Tail {
                seq: keys::seq_of(&key, "event")?,
                fingerprint: fingerprint(&value),
            })
        }
    }
}

impl Mark {
    /// What the engine holds now.
    pub(crate) fn read(engine: &dyn Engine) -> Result<Mark> {
        Ok(Mark {
            changes: tail_of(engine, keys::CHANGE)?,
            configuration: tail_of(engine, keys::CONFIG_AUDIT)?,
        })
    }

    /// What of this mark the engine no longer holds, in words; `None` when it holds it all.
    pub(crate) fn missing_from(&self, engine: &dyn Engine) -> Result<Option<String>> {
        let mut missing = Vec::new();
        for (tail, prefix, what) in [
            (self.changes, keys::CHANGE, "change-log event"),
            (
                self.configuration,
                keys::CONFIG_AUDIT,
                "configuration event",
            ),
        ] {
            if tail.seq == 0 {
                continue;
            }
            let key = [&[prefix][..], &tail.seq.to_be_bytes()].concat();
            match engine.get(&key)? {
                Some(value) if fingerprint(&value) == tail.fingerprint => {}
                Some(_) => missing.push(format!(
                    "{what} {} differs from the one acknowledged",
                    tail.seq
                )),
                None => {
                    let now = tail_of(engine, prefix)?.seq;
                    missing.push(format!(
                        "{what}s up to {} were acknowledged, but the store ends at {now}: {} \
                         acknowledged {what}s and the writes they record are missing",
                        tail.seq,
                        tail.seq.saturating_sub(now)
                    ));
                }
            }
        }
        Ok((!missing.is_empty()).then(|| missing.join("; ")))
    }

    fn encode(&self, generation: u64) -> [u8; SLOT_BYTES] {
        let mut slot = [0u8; SLOT_BYTES];
        slot[..8].copy_from_slice(MAGIC);
        let fields = [
            generation,
            self.changes.seq,
            self.changes.fingerprint,
            self.configuration.seq,
            self.configuration.fingerprint,
            0,
        ];
        for (i, field) in fields.iter().enumerate() {
            slot[8 + i * 8..16 + i * 8].copy_from_slice(&field.to_be_bytes());
        }
        let sum = fingerprint(&slot[..56]);
        slot[56..].copy_from_slice(&sum.to_be_bytes());
        slot
    }

    fn decode(slot: &[u8]) -> Option<(u64, Mark)> {
        if slot.len() < SLOT_BYTES || &slot[..8] != MAGIC {
            return None;
        }
        let field = |i: usize| -> Option<u64> {
            Some(u64::from_be_bytes(
                slot.get(8 + i * 8..16 + i * 8)?.try_into().ok()?,
            ))
        };
        if field(6)? != fingerprint(&slot[..56]) {
            return None;
        }
        let mark = Mark {
            changes: Tail {
                seq: field(1)?,
                fingerprint: field(2)?,
            },
            configuration: Tail {
                seq: field(3)?,
                fingerprint: field(4)?,
            },
        };
        Some((field(0)?, mark))
    }
}

/// The mark's file, open for writing.
#[derive(Debug)]
pub(crate) struct MarkFile {
    path: PathBuf,
    state: Mutex<Written>,
}

#[derive(Debug)]
struct Written {
    file: File,
    generation: u64,
    mark: Mark,
    /// The file holds a slot written since its last fsync.
    unsynced: bool,
    /// When the file was last fsynced by this process (`None`: not yet).
    synced: Option<std::time::Instant>,
    /// How many times this process fsynced the file.
    fsyncs: u64,
}

impl Written {
    fn fsync(&mut self, path: &Path) -> Result<()> {
        self.file.sync_data().map_err(io(path, "fsync"))?;
        self.unsynced = false;
        self.synced = Some(std::time::Instant::now());
        self.fsyncs += 1;
        Ok(())
    }
}

/// How stale the mark on disk may be after a power loss: a group commit fsyncs it when the last
/// fsync is older than this, and the flusher fsyncs it once it has been idle this long with the
/// mark unsynced (every flush and the final one always do). In the page cache the mark is
/// always current, so a killed process leaves an exact mark.
pub(crate) const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

fn io(path: &Path, doing: &str) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = format!("cannot {doing} the acknowledgement mark {}", path.display());
    move |e| StoreError::Storage(format!("{what}: {e}"))
}

impl MarkFile {
    /// Opens the mark in `dir`: the mark it holds (`None` when there is no file yet), and the
    /// file to write. A file whose both slots are damaged is an error.
    pub(crate) fn open(dir: &Path) -> Result<(MarkFile, Option<Mark>)> {
        let path = dir.join(FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path, "open"))?;
        let mut found = None;
        if existed {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io(&path, "read"))?;
            let slots = [0, SLOT_GAP as usize]
                .iter()
                .filter_map(|at| Mark::decode(bytes.get(*at..)?));
            found = slots.max_by_key(|(generation, _)| *generation);
            if found.is_none() {
                return Err(StoreError::DataLoss {
                    detail: format!(
                        "the acknowledgement mark {} is damaged, so what this store acknowledged \
                         cannot be checked",
                        path.display()
                    ),
                });
            }
        }
        let (generation, mark) = found.unwrap_or_default();
        let written = MarkFile {
            path: path.clone(),
            state: Mutex::new(Written {
                file,
                generation,
                mark,
                unsynced: false,
                synced: None,
                fsyncs: 0,
            }),
        };
        Ok((written, found.map(|(_, mark)| mark)))
    }

    /// Records `mark` (nothing to write when it is the one recorded last), and fsyncs what is
    /// unsynced when `durable` or when the last fsync is older than [`SYNC_EVERY`].
    pub(crate) fn record(&self, mark: Mark, durable: bool) -> Result<()> {
        let mut state = self.lock();
        if state.mark != mark || state.generation == 0 {
            let generation = state.generation + 1;
            let slot = mark.encode(generation);
            let at = (generation % 2) * SLOT_GAP;
            let file = &mut state.file;
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.write_all(&slot))
                .map_err(io(&self.path, "write"))?;
            state.generation = generation;
            state.mark = mark;
            state.unsynced = true;
        }
        let due = state.synced.is_none_or(|at| at.elapsed() >= SYNC_EVERY);
        if state.unsynced && (durable || due) {
            state.fsync(&self.path)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Written> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fsyncs the file if it holds a slot written since its last fsync. A failure is not
    /// retried before the next write: that write's group commit meets the failing disk too, and
    /// tells its writers.
    fn settle(&self) -> Result<()> {
        let mut state = self.lock();
        if !state.unsynced {
            return Ok(());
        }
        let outcome = state.fsync(&self.path);
        state.unsynced = false;
        outcome
    }
}

/// Makes writes durable and records the mark: the group commit's flusher, `Store::flush` and
/// the final flush all sync through this.
#[derive(Debug)]
pub(crate) struct Syncer {
    engine: Arc<dyn Engine>,
    /// `None` for an engine without a local directory, and for a store opened after accepting
    /// a loss (its mark stays what was acknowledged before).
    mark: Option<MarkFile>,
}

impl Syncer {
    pub(crate) fn new(engine: Arc<dyn Engine>, mark: Option<MarkFile>) -> Syncer {
        Syncer { engine, mark }
    }

    /// What the mark recorded last that the engine no longer holds, in words.
    pub(crate) fn missing(&self) -> Result<Option<String>> {
        let Some(file) = &self.mark else {
            return Ok(None);
        };
        let recorded = file.lock().mark;
        recorded.missing_from(&*self.engine)
    }

    /// Makes every write committed before the call durable, then records what that covered
    /// (fsyncing the mark too when `durable_mark`; else at least every [`SYNC_EVERY`]).
    pub(crate) fn sync(&self, durable_mark: bool) -> Result<()> {
        let Some(file) = &self.mark else {
            return Ok(self.engine.sync()?);
        };
        // Read before the sync: everything read here is committed, so the sync covers it.
        let mark = Mark::read(&*self.engine)?;
        self.engine.sync()?;
        file.record(mark, durable_mark)
    }

    /// Whether the mark file holds a slot written since its last fsync.
    pub(crate) fn mark_unsynced(&self) -> bool {
        self.mark.as_ref().is_some_and(|file| file.lock().unsynced)
    }

    /// Fsyncs the mark file if it holds a slot written since its last fsync: the flusher's
    /// work once writes pause, so the mark on disk is never much older than [`SYNC_EVERY`].
    pub(crate) fn settle_mark(&self) -> Result<()> {
        self.mark.as_ref().map_or(Ok(()), MarkFile::settle)
    }

    /// How many times this process fsynced the mark file.
    #[cfg(test)]
    fn mark_fsyncs(&self) -> u64 {
        self.mark.as_ref().map_or(0, |file| file.lock().fsyncs)
    }
}

/// Opens the mark of the store on `engine`, checking it: the syncer to use, and the loss the
/// operator accepted (`Some` only when `accept_loss`).
pub(crate) fn open(
    engine: &Arc<dyn Engine>,
    accept_loss: bool,
) -> Result<(Syncer, Option<String>)> {
    let Some(dir) = engine.directory() else {
        return Ok((Syncer::new(Arc::clone(engine), None), None));
    };
    let opened = MarkFile::open(dir);
    let (file, found) = match opened {
        Ok(opened) => opened,
        Err(StoreError::DataLoss { detail }) if accept_loss => {
            return Ok((Syncer::new(Arc::clone(engine), None), Some(detail)));
        }
        Err(e) => return Err(e),
    };
    let missing = match found {
        Some(mark) => mark.missing_from(&**engine)?,
        None => None,
    };
    match missing {
        Some(detail) if accept_loss => Ok((Syncer::new(Arc::clone(engine), None), Some(detail))),
        Some(detail) => Err(StoreError::DataLoss {
            detail: format!(
                "{detail}. The engine's files in {} hold less than this store acknowledged \
                 (damaged or replaced). Restore the directory from a backup, or start with \
                 --accept-data-loss to read what is left without writing",
                dir.display()
            ),
        }),
        None => {
            // A store without a mark (new, or written by a release before the mark) starts
            // one from what it holds.
            if found.is_none() {
                file.record(Mark::read(&**engine)?, true)?;
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io(dir, "sync the directory of"))?;
            }
            Ok((Syncer::new(Arc::clone(engine), Some(file)), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_round_trips_and_a_flipped_byte_is_refused() {
        let mark = Mark {
            changes: Tail {
                seq: 42,
                fingerprint: 7,
            },
            configuration: Tail {
                seq: 3,
                fingerprint: 9,
            },
        };
        let slot = mark.encode(5);
        assert_eq!(Mark::decode(&slot), Some((5, mark)));
        for i in 0..SLOT_BYTES {
            let mut bad = slot;
            bad[i] ^= 0x10;
            assert_eq!(Mark::decode(&bad), None, "byte {i}");
        }
    }

    /// A single durable writer pays the engine's fsync per write, not the mark's too: the mark
    /// is fsynced at most once per [`SYNC_EVERY`] while writes go on, and once more by the
    /// flusher after they pause, so the mark on disk catches up with the acknowledgements.
    #[test]
    fn durable_writes_share_the_marks_fsyncs_and_it_settles_when_they_pause() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = crate::Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let syncer = &store.inner.syncer;
        let before = syncer.mark_fsyncs();
        let started = std::time::Instant::now();
        let writes = 40;
        for i in 0..writes {
            let data = crm_core::CustomerData::person(format!("Writer {i}"));
            store
                .customers()
                .create(data, None)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let intervals = started.elapsed().as_millis() / SYNC_EVERY.as_millis();
        let during = syncer.mark_fsyncs() - before;
        assert!(
            u128::from(during) <= intervals + 2,
            "{during} fsyncs of the mark for {writes} durable writes in {intervals} intervals"
        );

        let waited = std::time::Instant::now();
        while syncer.mark_unsynced() && waited.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            !syncer.mark_unsynced(),
            "the mark is still unsynced after the writes paused"
        );
        let (_, on_disk) = MarkFile::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let now = Mark::read(store.inner.engine.engine()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(on_disk, Some(now));
    }
}
