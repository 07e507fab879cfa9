//! Snapshots on sled without stopping writers.
//!
//! sled 0.34 has no snapshots of its own. A snapshot here reads the live tree and corrects it
//! with *before-images*: while a snapshot is open, every commit first records, for each key it
//! writes, the value that key had before (`None`: it did not exist), unless an earlier commit
//! already did. A read through the snapshot then sees
//! - a key no commit touched since the snapshot opened: its live value, unchanged;
//! - a key a commit touched: its recorded before-image (a key created since is absent, a key
//!   deleted since is present again).
//!
//! Before-images are recorded under the writer mutex, before the commit is applied, and the
//! snapshot registers under the same mutex, so no commit slips between. A live read that races
//! a commit is corrected because the snapshot checks the before-images *after* the live read:
//! a commit that changed the key before the live read recorded it first.
//!
//! The price: while a snapshot is open, each written key costs one extra read, and the
//! before-images stay in memory until the snapshot is dropped (at most one per key written
//! meanwhile). A backup of a large store under heavy writes holds them for its whole run.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{get_in, range_of};
use crate::engine::{EngineError, Entries, Entry, KeyRange, Reader};

/// The before-images one open snapshot has collected.
pub(super) type Captured = Mutex<BTreeMap<Vec<u8>, Option<Vec<u8>>>>;

/// The open snapshots, for commits to record before-images into.
#[derive(Debug, Default)]
pub(super) struct OpenSnapshots {
    open: Mutex<Vec<Weak<Captured>>>,
}

impl OpenSnapshots {
    /// Registers a new snapshot (call with the writer mutex held).
    pub(super) fn register(&self) -> Arc<Captured> {
        let captured = Arc::new(Captured::default());
        let mut open = self.open.lock();
        open.retain(|w| w.strong_count() > 0);
        open.push(Arc::downgrade(&captured));
        captured
    }

    /// Records the before-image of every key in `keys` for each open snapshot that has none
    /// yet (call with the writer mutex held, before the commit is applied).
    pub(super) fn before_commit<'k>(
        &self,
        tree: &sled::Tree,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Result<(), EngineError> {
        let open: Vec<Arc<Captured>> = {
            let mut open = self.open.lock();
            open.retain(|w| w.strong_count() > 0);
            open.iter().filter_map(Weak::upgrade).collect()
        };
        if open.is_empty() {
            return Ok(());
        }
        for key in keys {
            let mut before = None;
            for snapshot in &open {
                if snapshot.lock().contains_key(key) {
                    continue;
                }
                let value = match &before {
                    Some(v) => Option::clone(v),
                    None => {
                        let v = get_in(tree, key)?;
                        before = Some(v.clone());
                        v
                    }
                };
                snapshot.lock().entry(key.to_vec()).or_insert(value);
            }
        }
        Ok(())
    }
}

/// Reads through a snapshot: the live tree, corrected by the before-images.
pub(super) struct SledSnapshot<'a> {
    pub(super) tree: &'a sled::Tree,
    pub(super) captured: Arc<Captured>,
}

impl Reader for SledSnapshot<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        let live = get_in(self.tree, key)?;
        Ok(match self.captured.lock().get(key) {
            Some(before) => before.clone(),
            None => live,
        })
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        Box::new(SnapshotRange {
            live: range_of(self.tree, range.clone(), reverse),
            captured: Arc::clone(&self.captured),
            range,
            reverse,
            passed: None,
            queued: VecDeque::new(),
            live_done: false,
        })
    }
}

/// A range read through a snapshot: the live entries, each replaced by its before-image where
/// there is one, merged with the before-images of keys deleted since (absent from the live
/// tree), in order.
struct SnapshotRange {
    live: Entries<'static>,
    captured: Arc<Captured>,
    range: KeyRange,
    reverse: bool,
    /// The last live key passed.
    passed: Option<Vec<u8>>,
    queued: VecDeque<Entry>,
    live_done: bool,
}

impl SnapshotRange {
    /// The before-images of keys that existed (`Some`) strictly between the last key passed and
    /// `next` (the range's end when `None`), in the read's direction.
    fn deleted_until(&self, next: Option<&[u8]>) -> Vec<Entry> {
        let (passed, next) = (self.passed.as_deref(), next);
        // Forward: from the key passed up to the next; reverse: from the next up to the key passed.
        let (lo_key, hi_key) = if self.reverse {
            (next, passed)
        } else {
            (passed, next)
        };
        let lo = match lo_key {
            Some(k) => tighter_lo(Bound::Excluded(k.to_vec()), self.range.0.clone()),
            None => self.range.0.clone(),
        };
        let hi = match hi_key {
            Some(k) => tighter_hi(Bound::Excluded(k.to_vec()), self.range.1.clone()),
            None => self.range.1.clone(),
        };
        if empty(&lo, &hi) {
            return Vec::new();
        }
        let captured = self.captured.lock();
        let found = captured
            .range((lo, hi))
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())));
        if self.reverse {
            found.rev().collect()
        } else {
            found.collect()
        }
    }
}

impl Iterator for SnapshotRange {
    type Item = Result<Entry, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.queued.pop_front() {
                return Some(Ok(entry));
            }
            if self.live_done {
                return None;
            }
            match self.live.next() {
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok((key, value))) => {
                    let deleted = self.deleted_until(Some(&key));
                    self.queued.extend(deleted);
                    let before = self.captured.lock().get(&key).cloned();
                    match before {
                        Some(Some(old)) => self.queued.push_back((key.clone(), old)),
                        Some(None) => {}
                        None => self.queued.push_back((key.clone(), value)),
                    }
                    self.passed = Some(key);
                }
                None => {
                    let deleted = self.deleted_until(None);
                    self.queued.extend(deleted);
                    self.live_done = true;
                }
            }
        }
    }
}

fn key_of(b: &Bound<Vec<u8>>) -> Option<&[u8]> {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k),
        Bound::Unbounded => None,
    }
}

/// The higher of two lower bounds.
fn tighter_lo(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (key_of(&a), key_of(&b)) {
        (_, None) => a,
        (None, _) => b,
        (Some(x), Some(y)) if x > y => a,
        (Some(x), Some(y)) if x < y => b,
        _ if matches!(a, Bound::Excluded(_)) => a,
        _ => b,
    }
}

/// The lower of two upper bounds.
fn tighter_hi(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (key_of(&a), key_of(&b)) {
        (_, None) => a,
        (None, _) => b,
        (Some(x), Some(y)) if x < y => a,
        (Some(x), Some(y)) if x > y => b,
        _ if matches!(a, Bound::Excluded(_)) => a,
        _ => b,
    }
}

/// Whether no key lies between `lo` and `hi` (a `BTreeMap::range` over them would panic).
fn empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(k: &[u8]) -> Vec<u8> {
        k.to_vec()
    }

    #[test]
    fn bounds_pick_the_tighter_and_see_empty_ranges() {
        use Bound::{Excluded, Included, Unbounded};
        assert_eq!(
            tighter_lo(Excluded(b(b"b")), Included(b(b"a"))),
            Excluded(b(b"b"))
        );
        assert_eq!(
            tighter_lo(Excluded(b(b"a")), Included(b(b"a"))),
            Excluded(b(b"a"))
        );
        assert_eq!(tighter_lo(Unbounded, Included(b(b"a"))), Included(b(b"a")));
        assert_eq!(
            tighter_hi(Excluded(b(b"c")), Included(b(b"b"))),
            Included(b(b"b"))
        );
        assert_eq!(
            tighter_hi(Excluded(b(b"b")), Included(b(b"b"))),
            Excluded(b(b"b"))
        );
        assert!(empty(&Excluded(b(b"a")), &Excluded(b(b"a"))));
        assert!(empty(&Included(b(b"b")), &Excluded(b(b"a"))));
        assert!(!empty(&Included(b(b"a")), &Included(b(b"a"))));
        assert!(!empty(&Unbounded, &Excluded(b(b"a"))));
    }
}
