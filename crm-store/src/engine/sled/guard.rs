//! What keeps sled's failures from becoming crm's hangs, silent rollbacks or aborts.
//!
//! - **Free space** ([`free_space_check`]): sled 0.34 does not recover from a full disk. An
//!   `ENOSPC` in its background writer poisons the database for the life of the process, and
//!   some of its paths wait forever for a log buffer that will never be written (the flusher
//!   holding sled's read lock, a writer waiting for its write lock, every reader behind it). So
//!   sled must never see a full disk: a transaction is refused with [`EngineError::DiskFull`]
//!   before it reaches sled when the file system would be left with less than the reserve.
//!   Nothing is written; the write succeeds again as soon as space is back.
//! - **Fencing** ([`Health`]): once sled fails a write, a flush or an fsync (or stays inside one
//!   past the stall limit), what is on disk is no longer known. The engine is fenced: every
//!   later transaction and sync fails with [`EngineError::Unavailable`] at once, reads go on,
//!   and [`crate::engine::Engine::failure`] says why, so the server can exit for a supervisor
//!   to restart it (recovery then reads exactly what reached the disk).
//! - **A watchdog** thread fences the engine when sled has been inside one apply or flush for
//!   longer than the stall limit.
//! - **Panics** ([`shielded`]): sled panics on some damaged files ("tried to serialize
//!   Uninitialized"). Every call into sled runs under `catch_unwind`, and a panic becomes
//!   [`EngineError::Corrupt`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::engine::EngineError;

/// How many times a batch's size must fit in the free space above the reserve: sled writes a
/// value to its log, may write it again as a blob, and rewrites segments as it cleans them.
const AMPLIFICATION: u64 = 4;

/// Refuses a batch of `batch_bytes` when writing it would leave the file system of `dir` with
/// less than `reserve` bytes free. A file system whose free space cannot be read is not
/// refused (the write then meets the disk as it is).
pub(in crate::engine) fn free_space_check(
    dir: &Path,
    reserve: u64,
    batch_bytes: u64,
) -> Result<(), EngineError> {
    if reserve == 0 {
        return Ok(());
    }
    let Ok(available) = fs2::available_space(dir) else {
        return Ok(());
    };
    let needed = reserve.saturating_add(batch_bytes.saturating_mul(AMPLIFICATION));
    if available < needed {
        metrics::counter!("crm_disk_full_refusals_total").increment(1);
        return Err(EngineError::DiskFull {
            path: dir.display().to_string(),
            available,
            needed,
        });
    }
    Ok(())
}

/// Whether the engine still accepts writes, and what sled is busy with.
#[derive(Debug)]
pub(super) struct Health {
    /// Why writes stopped, once they did.
    fenced: OnceLock<String>,
    /// When the apply or flush in progress started (ms since `epoch`, plus one), or 0.
    applying: AtomicU64,
    flushing: AtomicU64,
    epoch: Instant,
    stall_after: Duration,
    stop: AtomicBool,
}

impl Health {
    /// A healthy engine that is fenced when sled stays inside one call past `stall_after`.
    pub(super) fn start(stall_after: Duration) -> Arc<Health> {
        let health = Arc::new(Health {
            fenced: OnceLock::new(),
            applying: AtomicU64::new(0),
            flushing: AtomicU64::new(0),
            epoch: Instant::now(),
            stall_after,
            stop: AtomicBool::new(false),
        });
        let watched = Arc::downgrade(&health);
        let spawned = std::thread::Builder::new()
            .name("crm-sled-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let Some(health) = watched.upgrade() else {
                        return;
                    };
                    if health.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    health.check_stalls();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the sled watchdog; stalls will not be detected");
        }
        health
    }

    /// Why the engine stopped accepting writes, if it did.
    pub(super) fn failure(&self) -> Option<&str> {
        self.fenced.get().map(String::as_str)
    }

    /// Fails with [`EngineError::Unavailable`] once the engine is fenced.
    pub(super) fn writable(&self) -> Result<(), EngineError> {
        match self.failure() {
            Some(why) => Err(EngineError::Unavailable {
                source: format!(
                    "the engine stopped accepting writes: {why}; restart crm to recover what \
                     reached the disk"
                )
                .into(),
            }),
            None => Ok(()),
        }
    }

    /// Stops writes for good, keeping the first reason.
    pub(super) fn fence(&self, why: String) {
        if self.fenced.set(why.clone()).is_ok() {
            metrics::counter!("crm_engine_fenced_total").increment(1);
            tracing::error!(reason = %why, "the storage engine stopped accepting writes");
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Runs `f` (an apply, or a flush when `flush`), fencing the engine if it fails.
    pub(super) fn track<T>(
        &self,
        flush: bool,
        what: &str,
        f: impl FnOnce() -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let slot = if flush {
            &self.flushing
        } else {
            &self.applying
        };
        slot.store(self.now_ms(), Ordering::SeqCst);
        let out = shielded(what, f);
        slot.store(0, Ordering::SeqCst);
        if let Err(e) = &out {
            self.fence(format!("{what} failed: {e}"));
        }
        out
    }

    fn check_stalls(&self) {
        let now = self.now_ms();
        for (slot, what) in [(&self.applying, "a write"), (&self.flushing, "a flush")] {
            let since = slot.load(Ordering::SeqCst);
            if since != 0 && now.saturating_sub(since) > self.stall_after.as_millis() as u64 {
                self.fence(format!(
                    "sled has been inside {what} for more than {} s: the disk is stalled",
                    self.stall_after.as_secs()
                ));
            }
        }
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs a call into sled, turning a panic into [`EngineError::Corrupt`].
pub(super) fn shielded<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(out) => out,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(EngineError::Corrupt {
                detail: format!("sled panicked while {what}: {message}"),
            })
        }
    }
}

/// An iterator over sled whose panics become one [`EngineError::Corrupt`], after which it ends.
pub(super) struct Shielded<I> {
    pub(super) inner: I,
    pub(super) done: bool,
}

impl<T, I: Iterator<Item = Result<T, EngineError>>> Iterator for Shielded<I> {
    type Item = Result<T, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.next())) {
            Ok(item) => item,
            Err(_) => {
                self.done = true;
                Some(Err(EngineError::Corrupt {
                    detail: "sled panicked while reading a range".into(),
                }))
            }
        }
    }
}
