//! Group commit: writers that need durability wait for a flush that started after their write
//! was applied; one flusher thread serves them all, so N concurrent writers share one flush.
//!
//! Protocol: a writer applies its batch, then takes a ticket (a counter incremented after the
//! apply). The flusher reads the newest ticket, flushes, and marks every ticket up to that one
//! durable. A flush covers every write applied before it started, and the ticket was taken after
//! the write was applied, so a marked ticket's write is on disk.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::{Result, StoreError};
use crate::mark::{SYNC_EVERY, Syncer};

#[derive(Debug, Default)]
struct State {
    /// The newest ticket handed out.
    issued: u64,
    /// Every ticket up to this one has been through a flush (successful or not).
    flushed: u64,
    /// The newest failed flush: tickets in `(from, to]` were not made durable.
    failure: Option<(u64, u64, String)>,
    shutdown: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the flusher when a ticket is issued.
    work: Condvar,
    /// Wakes writers when a flush finishes.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked while holding it; the counters are
        // still consistent (every update is a single assignment).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The flusher thread and the tickets writers wait on.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher thread.
    pub(crate) fn start(syncer: Arc<Syncer>) -> Result<GroupCommit> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("crm-flusher".into())
            .spawn(move || flush_loop(&worker, &syncer))
            .map_err(|e| StoreError::Storage(format!("cannot start the flusher thread: {e}")))?;
        Ok(GroupCommit {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits until every write applied before this call is durable.
    pub(crate) fn wait(&self) -> Result<()> {
        let mut state = self.shared.lock();
        state.issued += 1;
        let ticket = state.issued;
        self.shared.work.notify_one();
        while state.flushed < ticket {
            if state.shutdown {
                return Err(StoreError::Durability("the store is shutting down".into()));
            }
            state = self
                .shared
                .done
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        match &state.failure {
            Some((from, to, why)) if *from < ticket && ticket <= *to => {
                Err(StoreError::Durability(why.clone()))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits for tickets to flush: the range `(flushed, issued]`, or `None` at shutdown. While it
/// waits with the acknowledgement mark unsynced, it fsyncs the mark once writes have paused for
/// [`SYNC_EVERY`], so the mark on disk stays at most that much older than the acknowledgements.
fn next_group(shared: &Shared, syncer: &Syncer) -> Option<(u64, u64)> {
    let mut state = shared.lock();
    loop {
        if state.issued != state.flushed {
            return Some((state.flushed, state.issued));
        }
        if state.shutdown {
            return None;
        }
        if !syncer.mark_unsynced() {
            state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        let (again, waited) = shared
            .work
            .wait_timeout(state, SYNC_EVERY)
            .unwrap_or_else(|e| e.into_inner());
        state = again;
        if waited.timed_out() && state.issued == state.flushed {
            drop(state);
            // A failed fsync leaves an older mark on disk, which is still a true lower bound;
            // the next group's flush reports the disk's failure to its writers.
            if let Err(e) = syncer.settle_mark() {
                tracing::error!(error = %e, "the acknowledgement mark could not be fsynced");
            }
            state = shared.lock();
        }
    }
}

fn flush_loop(shared: &Shared, syncer: &Syncer) {
    loop {
        let Some((from, to)) = next_group(shared, syncer) else {
            return; // shut down with nothing pending
        };
        let started = std::time::Instant::now();
        let outcome = syncer.sync(false);
        metrics::histogram!("crm_flush_duration_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("crm_flush_group_writes").record((to - from) as f64);
        let mut state = shared.lock();
        if let Err(e) = outcome {
            tracing::error!(error = %e, "flush failed; writes in this group are not durable");
            state.failure = Some((from, to, e.to_string()));
        }
        state.flushed = to;
        shared.done.notify_all();
    }
}
