//! The engine conformance suite: what every engine must do, as functions an engine's tests
//! call (`crm-store/tests/engine.rs` runs them on sled). Each takes `open`, which opens the
//! same engine each time it is called (after the previous one was dropped), on a new, empty
//! location per test.
//!
//! A failure panics with what went wrong, as a test does.

// Every check here fails its test by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Decision, Engine, EngineError, Tx, prefix_range, transact};

/// Opens the engine under test (the same location every call).
pub type Open<'a> = &'a dyn Fn() -> Box<dyn Engine>;

fn put_all(engine: &dyn Engine, entries: &[(&[u8], &[u8])]) {
    transact(engine, |tx| -> Result<(), EngineError> {
        for (k, v) in entries {
            tx.put(k, v);
        }
        Ok(())
    })
    .unwrap();
}

fn keys_of(entries: impl Iterator<Item = Result<super::Entry, EngineError>>) -> Vec<Vec<u8>> {
    entries.map(|e| e.unwrap().0).collect()
}

fn read_u64(tx: &mut dyn Tx, key: &[u8]) -> Result<u64, EngineError> {
    Ok(tx
        .get(key)?
        .map(|v| u64::from_be_bytes(v.as_slice().try_into().unwrap()))
        .unwrap_or(0))
}

/// A transaction's writes appear together or not at all; an aborted one writes nothing; a
/// reader running beside the writer never sees part of one.
pub fn multi_key_writes_are_atomic(open: Open<'_>) {
    let engine: Arc<dyn Engine> = Arc::from(open());
    let aborted = engine
        .transact_once(&mut |tx| {
            tx.put(b"a", b"1");
            tx.put(b"b", b"1");
            Decision::Abort
        })
        .unwrap();
    assert_eq!(aborted, Decision::Abort);
    assert_eq!(
        engine.get(b"a").unwrap(),
        None,
        "an aborted transaction wrote"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (engine, stop) = (Arc::clone(&engine), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut checked = 0u64;
            while !stop.load(Ordering::SeqCst) || checked == 0 {
                let mut snap = engine.snapshot().unwrap();
                let a = snap.get(b"a").unwrap();
                let b = snap.get(b"b").unwrap();
                let c = snap.get(b"c").unwrap();
                assert!(
                    a == b && b == c,
                    "a reader saw part of a write: {a:?} {b:?} {c:?}"
                );
                let scanned: Vec<_> = snap
                    .range(prefix_range(b""), false)
                    .map(|e| e.unwrap().1)
                    .collect();
                assert!(
                    scanned.windows(2).all(|w| w[0] == w[1]),
                    "a scan saw part of a write: {scanned:?}"
                );
                checked += 1;
            }
            checked
        })
    };
    for i in 0..300u64 {
        let v = i.to_be_bytes();
        put_all(&*engine, &[(b"a", &v), (b"b", &v), (b"c", &v)]);
    }
    stop.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(
        engine.get(b"c").unwrap(),
        Some(299u64.to_be_bytes().to_vec())
    );
}

/// Two transactions that read and write the same key: both take effect, as if one ran after
/// the other; the later one (retried, if the engine detected a conflict) sees the first.
pub fn concurrent_transactions_serialize(open: Open<'_>) {
    let engine: Arc<dyn Engine> = Arc::from(open());
    // A read-modify-write race, many times over.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    transact(&*engine, |tx| {
                        let n = read_u64(tx, b"counter")?;
                        tx.put(b"counter", &(n + 1).to_be_bytes());
                        Ok::<_, EngineError>(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let total = engine.get(b"counter").unwrap().unwrap();
    assert_eq!(total, 200u64.to_be_bytes(), "increments were lost");

    // The two-party story: the first transaction reads, lets the second run, then writes.
    let seen: Arc<Mutex<Vec<(char, u64)>>> = Arc::default();
    let second_done = Arc::new(AtomicBool::new(false));
    let first = {
        let (engine, seen, second_done) = (
            Arc::clone(&engine),
            Arc::clone(&seen),
            Arc::clone(&second_done),
        );
        std::thread::spawn(move || {
            let mut started_second = None;
            transact(&*engine, |tx| {
                let n = read_u64(tx, b"x")?;
                seen.lock().unwrap().push(('A', n));
                if started_second.is_none() {
                    let (engine, seen, done) = (
                        Arc::clone(&engine),
                        Arc::clone(&seen),
                        Arc::clone(&second_done),
                    );
                    started_second = Some(std::thread::spawn(move || {
                        transact(&*engine, |tx| {
                            let n = read_u64(tx, b"x")?;
                            seen.lock().unwrap().push(('B', n));
                            tx.put(b"x", &(n + 1).to_be_bytes());
                            Ok::<_, EngineError>(())
                        })
                        .unwrap();
                        done.store(true, Ordering::SeqCst);
                    }));
                    // An engine that runs transactions one at a time makes the second wait for
                    // this one; an optimistic one lets it commit now.
                    let until = Instant::now() + Duration::from_millis(300);
                    while !second_done.load(Ordering::SeqCst) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                tx.put(b"x", &(n + 1).to_be_bytes());
                Ok::<_, EngineError>(())
            })
            .unwrap();
            started_second
        })
    };
    if let Some(second) = first.join().unwrap() {
        second.join().unwrap();
    }
    assert_eq!(
        engine.get(b"x").unwrap(),
        Some(2u64.to_be_bytes().to_vec()),
        "one of two transactions was lost: {:?}",
        seen.lock().unwrap()
    );
    let seen = seen.lock().unwrap();
    let last = seen.last().unwrap();
    assert_eq!(
        last.1, 1,
        "the transaction that committed last did not see the first: {seen:?}"
    );
}

/// Ranges honour their bounds and come in key order, forward and reverse, in committed reads
/// and inside a transaction that has written into them.
pub fn ranges_are_ordered_and_bounded(open: Open<'_>) {
    let engine = open();
    let keys: Vec<Vec<u8>> = [
        &b"a"[..],
        b"b",
        b"b\x00",
        b"b\xff",
        b"c",
        b"d\x01",
        b"\xff\xff",
    ]
    .iter()
    .map(|k| k.to_vec())
    .collect();
    // Written in scrambled order.
    for k in [4, 0, 6, 2, 5, 1, 3] {
        put_all(&*engine, &[(&keys[k], &keys[k])]);
    }
    let all = keys_of(engine.range((Bound::Unbounded, Bound::Unbounded), false));
    assert_eq!(all, keys);
    let mut reversed = keys.clone();
    reversed.reverse();
    assert_eq!(
        keys_of(engine.range((Bound::Unbounded, Bound::Unbounded), true)),
        reversed
    );
    let r = (
        Bound::Included(b"b".to_vec()),
        Bound::Excluded(b"c".to_vec()),
    );
    assert_eq!(keys_of(engine.range(r.clone(), false)), keys[1..4].to_vec());
    assert_eq!(
        keys_of(engine.range(r, true)),
        vec![keys[3].clone(), keys[2].clone(), keys[1].clone()]
    );
    let r = (
        Bound::Excluded(b"b".to_vec()),
        Bound::Included(b"c".to_vec()),
    );
    assert_eq!(keys_of(engine.range(r, false)), keys[2..5].to_vec());
    assert_eq!(
        keys_of(engine.range(prefix_range(b"b"), false)),
        keys[1..4].to_vec()
    );
    assert_eq!(
        keys_of(engine.range(prefix_range(b"\xff"), true)),
        vec![keys[6].clone()]
    );
    assert!(keys_of(engine.range(prefix_range(b"e"), false)).is_empty());

    // Inside a transaction: its own puts and deletes are part of what it reads.
    transact(&*engine, |tx| {
        tx.put(b"bb", b"new");
        tx.delete(b"b\x00");
        tx.put(b"b", b"changed");
        assert_eq!(tx.get(b"b")?, Some(b"changed".to_vec()));
        assert_eq!(tx.get(b"b\x00")?, None);
        let forward: Vec<_> = tx
            .range(prefix_range(b"b"), false)
            .collect::<Result<_, _>>()?;
        assert_eq!(
            forward,
            vec![
                (b"b".to_vec(), b"changed".to_vec()),
                (b"bb".to_vec(), b"new".to_vec()),
                (b"b\xff".to_vec(), b"b\xff".to_vec()),
            ]
        );
        let backward = keys_of(tx.range(prefix_range(b"b"), true));
        assert_eq!(
            backward,
            vec![b"b\xff".to_vec(), b"bb".to_vec(), b"b".to_vec()]
        );
        Ok::<_, EngineError>(())
    })
    .unwrap();
    assert_eq!(
        keys_of(engine.range(prefix_range(b"b"), false)),
        vec![b"b".to_vec(), b"bb".to_vec(), b"b\xff".to_vec()]
    );
}

/// Every read through one snapshot sees the same committed state while writers go on.
pub fn snapshots_are_stable(open: Open<'_>) {
    let engine: Arc<dyn Engine> = Arc::from(open());
    put_all(
        &*engine,
        &[(b"p", &0u64.to_be_bytes()), (b"q", &0u64.to_be_bytes())],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (engine, stop, writes) = (Arc::clone(&engine), Arc::clone(&stop), Arc::clone(&writes));
        std::thread::spawn(move || {
            let mut i = 1u64;
            while !stop.load(Ordering::SeqCst) {
                put_all(
                    &*engine,
                    &[(b"p", &i.to_be_bytes()), (b"q", &i.to_be_bytes())],
                );
                writes.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    };
    for _ in 0..30 {
        let mut snap = engine.snapshot().unwrap();
        let p = snap.get(b"p").unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let q = snap.get(b"q").unwrap();
        let p_again = snap.get(b"p").unwrap();
        assert_eq!(p, q, "a snapshot saw two states");
        assert_eq!(p, p_again, "a snapshot's read changed");
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(writes.load(Ordering::SeqCst) > 0, "the writer never ran");
}

/// A snapshot does not hold writers back: a commit made while one is open (on the same
/// thread: an engine whose snapshot blocked commits would stall here) is invisible through it,
/// in point reads and in ranges both ways, including keys it deleted and created.
pub fn snapshots_let_writers_commit(open: Open<'_>) {
    let engine = open();
    let before: Vec<(&[u8], &[u8])> = vec![
        (b"k1", b"one"),
        (b"k2", b"two"),
        (b"k3", b"three"),
        (b"k5", b"five"),
    ];
    put_all(&*engine, &before);
    let mut snap = engine.snapshot().unwrap();
    transact(&*engine, |tx| -> Result<(), EngineError> {
        tx.delete(b"k2");
        tx.put(b"k3", b"THREE");
        tx.put(b"k4", b"four");
        tx.delete(b"k5");
        tx.put(b"k6", b"six");
        Ok(())
    })
    .unwrap();
    put_all(&*engine, &[(b"k2", b"two again"), (b"k0", b"zero")]);
    let expected: Vec<(Vec<u8>, Vec<u8>)> = before
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    let all = (
        Bound::Included(b"k".to_vec()),
        Bound::Excluded(b"l".to_vec()),
    );
    let forward: Vec<_> = snap.range(all.clone(), false).map(Result::unwrap).collect();
    assert_eq!(
        forward, expected,
        "a snapshot's forward range saw later commits"
    );
    let mut backward: Vec<_> = snap.range(all, true).map(Result::unwrap).collect();
    backward.reverse();
    assert_eq!(
        backward, expected,
        "a snapshot's reverse range saw later commits"
    );
    let inner = (
        Bound::Excluded(b"k1".to_vec()),
        Bound::Included(b"k5".to_vec()),
    );
    let middle: Vec<_> = keys_of(snap.range(inner, true));
    assert_eq!(middle, vec![b"k5".to_vec(), b"k3".to_vec(), b"k2".to_vec()]);
    assert_eq!(snap.get(b"k2").unwrap(), Some(b"two".to_vec()));
    assert_eq!(snap.get(b"k3").unwrap(), Some(b"three".to_vec()));
    assert_eq!(snap.get(b"k4").unwrap(), None);
    assert_eq!(snap.get(b"k0").unwrap(), None);
    drop(snap);
    assert_eq!(engine.get(b"k3").unwrap(), Some(b"THREE".to_vec()));
    assert_eq!(engine.get(b"k5").unwrap(), None);
}

/// A rollback to a savepoint undoes the writes after it, and only those: reads in the
/// transaction see the savepoint's state, and the commit holds the writes before it.
pub fn savepoints_undo_what_came_after(open: Open<'_>) {
    let engine = open();
    put_all(&*engine, &[(b"s-kept", b"old"), (b"s-doomed", b"old")]);
    transact(&*engine, |tx| -> Result<(), EngineError> {
        tx.put(b"s-before", b"1");
        tx.savepoint();
        tx.put(b"s-after", b"2");
        tx.put(b"s-before", b"changed");
        tx.delete(b"s-kept");
        tx.rollback();
        assert_eq!(tx.get(b"s-after")?, None);
        assert_eq!(tx.get(b"s-before")?, Some(b"1".to_vec()));
        assert_eq!(tx.get(b"s-kept")?, Some(b"old".to_vec()));
        tx.savepoint();
        tx.delete(b"s-doomed");
        Ok(())
    })
    .unwrap();
    let all = (
        Bound::Included(b"s-".to_vec()),
        Bound::Excluded(b"s.".to_vec()),
    );
    let keys = keys_of(engine.range(all, false));
    assert_eq!(keys, vec![b"s-before".to_vec(), b"s-kept".to_vec()]);
    assert_eq!(engine.get(b"s-kept").unwrap(), Some(b"old".to_vec()));
    assert_eq!(engine.get(b"s-before").unwrap(), Some(b"1".to_vec()));
}

/// After `sync`, everything committed is on disk (the engine says its fsync covered it) and is
/// there after a reopen.
pub fn sync_makes_commits_durable(open: Open<'_>) {
    {
        let engine = open();
        for i in 0..20u64 {
            put_all(&*engine, &[(&i.to_be_bytes(), b"value")]);
        }
        let before = engine.stats();
        assert!(before.commits >= 20, "{before:?}");
        engine.sync().unwrap();
        let after = engine.stats();
        assert!(
            after.syncs > before.syncs,
            "sync did not reach the disk: {after:?}"
        );
        assert!(
            after.synced_commits >= before.commits,
            "sync did not cover the commits before it: {after:?}"
        );
    }
    let engine = open();
    assert_eq!(keys_of(engine.range(prefix_range(b""), false)).len(), 20);
}

/// A read in place (`get_with`) hands over exactly what `get` returns: short, long and empty
/// values, the newest after an overwrite, nothing for an absent or deleted key.
pub fn reads_in_place_match_get(open: Open<'_>) {
    let engine = open();
    let long = vec![7u8; 5000];
    put_all(
        &*engine,
        &[
            (b"short", b"v"),
            (b"long", &long),
            (b"empty", b""),
            (b"gone", b"x"),
        ],
    );
    transact(&*engine, |tx| {
        tx.put(b"short", b"v2");
        tx.delete(b"gone");
        Ok::<_, EngineError>(())
    })
    .unwrap();
    for key in [&b"short"[..], b"long", b"empty", b"gone", b"never"] {
        let mut seen = None;
        let found = engine
            .get_with(key, &mut |value| seen = Some(value.to_vec()))
            .unwrap();
        let got = engine.get(key).unwrap();
        assert_eq!(seen, got, "get_with and get disagree on {key:?}");
        assert_eq!(found, got.is_some(), "get_with's answer for {key:?}");
    }
    assert_eq!(engine.get(b"short").unwrap(), Some(b"v2".to_vec()));
    assert_eq!(engine.get(b"long").unwrap(), Some(long));
}

/// What was committed is there after the engine is closed and opened again, and the engine
/// knows it held data.
pub fn reopen_keeps_everything(open: Open<'_>) {
    {
        let engine = open();
        assert!(!engine.existed(), "a new location reported existing data");
        put_all(&*engine, &[(b"k1", b"v1"), (b"k2", b"v2")]);
        transact(&*engine, |tx| {
            tx.delete(b"k1");
            tx.put(b"k3", b"v3");
            Ok::<_, EngineError>(())
        })
        .unwrap();
    }
    let engine = open();
    assert!(engine.existed());
    assert_eq!(engine.get(b"k1").unwrap(), None);
    assert_eq!(
        keys_of(engine.range(prefix_range(b"k"), false)),
        vec![b"k2".to_vec(), b"k3".to_vec()]
    );
}
