//! A transaction's own writes, laid over the committed state so that its reads see them.
//! Every engine buffers a transaction's writes until commit (sled's and fjall's batch,
//! PostgreSQL's one statement per commit): each one's transaction is a [`Buffered`] over its
//! own reader of the committed state.

use std::collections::BTreeMap;
use std::iter::Peekable;

use super::{EngineError, Entries, Entry, KeyRange, Reader, Tx};

/// A write transaction: the committed state, read through `base`, under the transaction's own
/// writes, which the engine takes out of `overlay` to commit them in one batch.
#[derive(Debug)]
pub struct Buffered<B> {
    /// The committed state (for sled and fjall, unchanging while the writer lock is held; for
    /// PostgreSQL, the transaction's own snapshot).
    pub base: B,
    /// What the transaction wrote.
    pub overlay: Overlay,
}

impl<B> Buffered<B> {
    /// A transaction that has written nothing yet.
    pub fn new(base: B) -> Self {
        Buffered {
            base,
            overlay: Overlay::default(),
        }
    }
}

impl<B: Reader> Reader for Buffered<B> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        match self.overlay.get(key) {
            Some(mine) => Ok(mine),
            None => self.base.get(key),
        }
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        if self.overlay.is_empty() {
            return self.base.range(range, reverse);
        }
        let base = self.base.range(range.clone(), reverse);
        self.overlay.merge(base, range, reverse)
    }
}

impl<B: Reader> Tx for Buffered<B> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.overlay.put(key, value);
    }

    fn delete(&mut self, key: &[u8]) {
        self.overlay.delete(key);
    }

    fn savepoint(&mut self) {
        self.overlay.savepoint();
    }

    fn rollback(&mut self) {
        self.overlay.rollback();
    }
}

/// The writes of one transaction: `Some(value)` puts, `None` deletes.
#[derive(Debug, Default)]
pub struct Overlay {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Since the savepoint: each key written, with what the overlay held for it before.
    undo: Option<Vec<Undo>>,
}

/// A key written after the savepoint, and what the overlay held for it before (`None`: nothing).
type Undo = (Vec<u8>, Option<Option<Vec<u8>>>);

impl Overlay {
    /// Records a put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        let before = self.writes.insert(key.to_vec(), Some(value.to_vec()));
        if let Some(undo) = &mut self.undo {
            undo.push((key.to_vec(), before));
        }
    }

    /// Records a delete.
    pub fn delete(&mut self, key: &[u8]) {
        let before = self.writes.insert(key.to_vec(), None);
        if let Some(undo) = &mut self.undo {
            undo.push((key.to_vec(), before));
        }
    }

    /// Marks a savepoint (see [`super::Tx::savepoint`]).
    pub fn savepoint(&mut self) {
        match &mut self.undo {
            Some(undo) => undo.clear(),
            None => self.undo = Some(Vec::new()),
        }
    }

    /// Undoes the writes since the savepoint (see [`super::Tx::rollback`]).
    pub fn rollback(&mut self) {
        let Some(undo) = &mut self.undo else { return };
        for (key, before) in undo.drain(..).rev() {
            match before {
                Some(value) => self.writes.insert(key, value),
                None => self.writes.remove(&key),
            };
        }
    }

    /// What the transaction wrote to `key`: `None` if nothing (read the committed value),
    /// `Some(None)` if it deleted it.
    pub fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.writes.get(key).cloned()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// How many keys were written.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// The writes, in key order.
    pub fn into_writes(self) -> impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> {
        self.writes.into_iter()
    }

    /// The committed entries `base` (of `range`, in the given direction) with this
    /// transaction's writes applied.
    pub fn merge<'a>(&'a self, base: Entries<'a>, range: KeyRange, reverse: bool) -> Entries<'a> {
        let mine = self.writes.range(range);
        let mine: Mine<'a> = if reverse {
            Box::new(mine.rev())
        } else {
            Box::new(mine)
        };
        Box::new(Merge {
            base: base.peekable(),
            mine: mine.peekable(),
            reverse,
        })
    }
}

type Mine<'a> = Box<dyn Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)> + Send + 'a>;

struct Merge<'a> {
    base: Peekable<Entries<'a>>,
    mine: Peekable<Mine<'a>>,
    reverse: bool,
}

impl Iterator for Merge<'_> {
    type Item = Result<Entry, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_mine = match (self.base.peek(), self.mine.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return self.base.next(),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(Ok((bk, _))), Some((mk, _))) => {
                    if bk.as_slice() == mk.as_slice() {
                        self.base.next(); // shadowed by the transaction's write
                        true
                    } else {
                        (mk.as_slice() < bk.as_slice()) != self.reverse
                    }
                }
            };
            if !take_mine {
                return self.base.next();
            }
            match self.mine.next() {
                Some((k, Some(v))) => return Some(Ok((k.clone(), v.clone()))),
                Some((_, None)) => continue, // deleted by the transaction
                None => return None,
            }
        }
    }
}
