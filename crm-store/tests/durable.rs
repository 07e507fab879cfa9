//! A durable write is acknowledged only after the engine's files were fsynced, and concurrent
//! writers share the fsync (group commit). The sled engine counts its fsyncs and how many
//! commits each covered.

// Helpers and setup fail the test by panicking, as tests do.
#![allow(clippy::panic)]

use std::sync::Arc;

use crm_core::CustomerData;
use crm_store::{Durability, Store, StoreConfig};

fn person(name: &str) -> CustomerData {
    CustomerData::person(name)
}

#[test]
fn a_durable_write_returns_only_after_an_fsync_covered_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..20 {
        let before = store.engine_stats();
        store
            .customers()
            .create(person(&format!("Ada {i}")), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let after = store.engine_stats();
        // Alone, this write's commit is the newest: the fsync must have covered it.
        assert!(after.commits > before.commits, "{after:?}");
        assert_eq!(
            after.synced_commits, after.commits,
            "acknowledged before fsync: {after:?}"
        );
        assert!(
            after.syncs > before.syncs,
            "no fsync for a durable write: {after:?}"
        );
    }
}

#[test]
fn sixteen_writers_share_fsyncs_and_each_is_covered_before_it_returns() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    let start = store.engine_stats();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let before = store.engine_stats().commits;
                    store
                        .customers()
                        .create(person(&format!("W{w} {i}")), None)
                        .unwrap_or_else(|e| panic!("{e}"));
                    let synced = store.engine_stats().synced_commits;
                    // This write's commit came after `before`; an fsync covered it.
                    assert!(
                        synced > before,
                        "acknowledged before fsync ({synced} <= {before})"
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap_or_else(|_| panic!("a writer panicked"));
    }
    let end = store.engine_stats();
    let writes = end.commits - start.commits;
    let syncs = end.syncs - start.syncs;
    assert!(writes >= 400, "{end:?}");
    assert!(
        syncs >= 1 && syncs <= writes,
        "{syncs} fsyncs for {writes} writes"
    );
}

#[test]
fn a_relaxed_write_does_not_wait_for_an_fsync() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = StoreConfig::new(dir.path()).durability(Durability::Relaxed);
    let store = Store::open_with(config).unwrap_or_else(|e| panic!("{e}"));
    let before = store.engine_stats();
    for i in 0..10 {
        store
            .customers()
            .create(person(&format!("Grace {i}")), None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let after = store.engine_stats();
    assert_eq!(after.commits - before.commits, 10);
    assert_eq!(
        after.syncs, before.syncs,
        "relaxed writes waited for fsyncs"
    );
    store.flush().unwrap_or_else(|e| panic!("{e}"));
    let flushed = store.engine_stats();
    assert_eq!(
        flushed.synced_commits, flushed.commits,
        "flush() did not fsync"
    );
}
