//! The key-value layer over the engine: the key layout ([`keys`]), the versioned value encoding
//! ([`codec`]), the entity families and their keepers ([`family`]), and [`Kv`], committed reads
//! in the store's error type.

use std::ops::Bound;
use std::sync::Arc;

use crate::engine::{Engine, prefix_range};
use crate::error::Result;

pub(crate) mod codec;
pub mod family;
pub(crate) mod keys;
pub(crate) mod token;

/// Committed reads of the engine, failing with [`crate::StoreError`] (its methods are the
/// store's own; families see it in [`family::Family::cross_check`]).
#[derive(Clone, Debug)]
pub struct Kv {
    engine: Arc<dyn Engine>,
}

/// A stored key and value.
pub(crate) type Item = Result<(Vec<u8>, Vec<u8>)>;

impl Kv {
    pub(crate) fn new(engine: Arc<dyn Engine>) -> Kv {
        Kv { engine }
    }

    /// The engine underneath.
    pub(crate) fn engine(&self) -> &dyn Engine {
        &*self.engine
    }

    /// Runs a raw transaction (migrations, tests): see [`crate::engine::transact`].
    pub(crate) fn transact<T>(
        &self,
        f: impl FnMut(&mut dyn crate::engine::Tx) -> Result<T>,
    ) -> Result<T> {
        crate::engine::transact(&*self.engine, f)
    }

    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.engine.get(key.as_ref())?)
    }

    /// The value of `key`, decoded by `decode` where the engine keeps it, without a copy
    /// ([`Engine::get_with`]): for the hot reads (a customer, a summary).
    pub(crate) fn get_decoded<T>(
        &self,
        key: impl AsRef<[u8]>,
        decode: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut decode = Some(decode);
        let mut decoded = None;
        self.engine.get_with(key.as_ref(), &mut |bytes| {
            if let Some(decode) = decode.take() {
                decoded = Some(decode(bytes));
            }
        })?;
        decoded.transpose()
    }

    /// Entries with keys in `(start, end)`, in key order or reversed.
    pub(crate) fn scan(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> impl Iterator<Item = Item> + '_ {
        self.engine
            .range((start, end), reverse)
            .map(|r| r.map_err(Into::into))
    }

    /// Entries whose keys start with `prefix`, in key order.
    pub(crate) fn scan_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Item> + '_ {
        self.engine
            .range(prefix_range(prefix), false)
            .map(|r| r.map_err(Into::into))
    }
}
