//! Group commit: writers that need durability wait for a flush that started after their write
//! was applied, so N concurrent writers share one flush.
//!
//! Protocol: a writer applies its batch, then takes a ticket (a counter incremented after the
//! apply). A flush reads the newest ticket, syncs, and marks every ticket up to that one
//! durable. A flush covers every write applied before it started, and the ticket was taken after
//! the write was applied, so a marked ticket's write is on disk.
//!
//! One flush runs at a time. A lone durable writer runs it itself, on its own thread: it pays
//! its fsync and no hand-off to another thread and back. It is alone when no other durable
//! write is under way ([`GroupCommit::enter`] counts them), no flush is running and no other
//! ticket waits. Otherwise the flusher thread takes the tickets waiting as one group, and goes on
//! taking groups while writers keep arriving: concurrent writers join its groups, where each
//! leading its own flush would flush groups of one.

use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// A flush is running, on the flusher thread or on a writer's.
    flushing: bool,
    /// The flusher sleeps with no timeout: a flush that leaves the mark unsynced wakes it, so
    /// it fsyncs the mark once writes pause.
    flusher_asleep: bool,
    /// Flushes run by writers on their own threads.
    led: u64,
    /// The newest failed flush: tickets in `(from, to]` were not made durable.
    failure: Option<(u64, u64, String)>,
    shutdown: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the flusher when tickets wait for a flush.
    work: Condvar,
    /// Wakes writers when a flush finishes.
    done: Condvar,
    /// Durable writes under way: entered and not yet through their wait.
    writers: AtomicUsize,
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
    syncer: Arc<Syncer>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher thread.
    pub(crate) fn start(syncer: Arc<Syncer>) -> Result<GroupCommit> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let flusher = Arc::clone(&syncer);
        let thread = std::thread::Builder::new()
            .name("crm-flusher".into())
            .spawn(move || flush_loop(&worker, &flusher))
            .map_err(|e| StoreError::Storage(format!("cannot start the flusher thread: {e}")))?;
        Ok(GroupCommit {
            shared,
            syncer,
            thread: Some(thread),
        })
    }

    /// Counts a durable write as under way until the guard drops: taken before the write's
    /// transaction, dropped after its [`GroupCommit::wait`].
    pub(crate) fn enter(&self) -> Entered<'_> {
        self.shared.writers.fetch_add(1, Ordering::AcqRel);
        Entered(&self.shared)
    }

    /// Waits until every write applied before this call is durable.
    pub(crate) fn wait(&self) -> Result<()> {
        let mut state = self.shared.lock();
        state.issued += 1;
        let ticket = state.issued;
        if !state.flushing {
            if state.flushed + 1 == ticket && self.shared.writers.load(Ordering::Acquire) <= 1 {
                // Alone: lead the flush here.
                state.flushing = true;
                state.led += 1;
                drop(state);
                state = flush(&self.shared, &self.syncer, ticket - 1, ticket);
            } else {
                // Tickets wait with no flush running: the flusher takes them with this one.
                self.shared.work.notify_one();
            }
        }
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

/// A durable write under way, counted until it drops.
pub(crate) struct Entered<'a>(&'a Shared);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.writers.fetch_sub(1, Ordering::AcqRel);
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

/// Runs the flush of tickets `(from, to]`, whose caller set `flushing`; then marks them flushed,
/// wakes their writers, and hands what waits next to the flusher. Returns the state, locked.
fn flush<'a>(shared: &'a Shared, syncer: &Syncer, from: u64, to: u64) -> MutexGuard<'a, State> {
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
    state.flushing = false;
    shared.done.notify_all();
    if state.issued != state.flushed || (state.flusher_asleep && syncer.mark_unsynced()) {
        shared.work.notify_one();
    }
    state
}

/// Waits for tickets to flush and takes them: the range `(flushed, issued]`, or `None` at
/// shutdown. While it waits with the acknowledgement mark unsynced, it fsyncs the mark once
/// writes have paused for [`SYNC_EVERY`], so the mark on disk stays at most that much older
/// than the acknowledgements.
fn next_group(shared: &Shared, syncer: &Syncer) -> Option<(u64, u64)> {
    let mut state = shared.lock();
    loop {
        if state.issued != state.flushed && !state.flushing {
            state.flushing = true;
            return Some((state.flushed, state.issued));
        }
        if state.shutdown && !state.flushing {
            return None;
        }
        if state.flushing || !syncer.mark_unsynced() {
            state.flusher_asleep = true;
            state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
            state.flusher_asleep = false;
            continue;
        }
        let (again, waited) = shared
            .work
            .wait_timeout(state, SYNC_EVERY)
            .unwrap_or_else(|e| e.into_inner());
        state = again;
        if waited.timed_out() && state.issued == state.flushed && !state.flushing {
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
    while let Some((from, to)) = next_group(shared, syncer) {
        drop(flush(shared, syncer, from, to));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use crate::Store;

    fn create(store: &Store, name: &str) {
        store
            .customers()
            .create(crm_core::CustomerData::person(name), None)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn led(store: &Store) -> u64 {
        let group = store.inner.group.as_ref();
        group.map_or(0, |group| group.shared.lock().led)
    }

    /// A lone durable writer runs each flush on its own thread, and each covers its write.
    #[test]
    fn a_lone_writer_flushes_its_own_writes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let (led_before, stats_before) = (led(&store), store.engine_stats());
        for i in 0..20 {
            create(&store, &format!("Ada {i}"));
            let stats = store.engine_stats();
            assert_eq!(stats.synced_commits, stats.commits, "{stats:?}");
        }
        assert_eq!(led(&store) - led_before, 20);
        assert!(store.engine_stats().syncs - stats_before.syncs >= 20);
    }

    /// While another durable write is under way, a writer hands its ticket to the flusher
    /// thread, whose group would take the other write's ticket too; it still returns only once
    /// a flush covered its write.
    #[test]
    fn a_writer_beside_another_leaves_the_flush_to_the_flusher() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let Some(group) = store.inner.group.as_ref() else {
            panic!("a durable store has a group commit");
        };
        let other = group.enter();
        let before = led(&store);
        for i in 0..10 {
            create(&store, &format!("Grace {i}"));
            let stats = store.engine_stats();
            assert_eq!(stats.synced_commits, stats.commits, "{stats:?}");
        }
        assert_eq!(led(&store), before, "a writer led a flush beside another");
        drop(other);
        create(&store, "Alone again");
        assert_eq!(led(&store), before + 1);
    }
}
