//! How a store is opened: where, how durable, how much cache, and which clock.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// When a write is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// A write returns only after it is flushed to disk. Concurrent writers share flushes
    /// (group commit), so many writers cost about as many flushes as one. A write that returned
    /// survives a crash of the process or the machine.
    #[default]
    Durable,
    /// A write returns once applied in memory; the engine flushes every
    /// `flush_every_ms` milliseconds. A crash can lose the writes of that last interval.
    Relaxed,
}

/// The source of "now" for times the store assigns (create, update). Tests inject one.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Everything [`crate::Store::open_with`] needs.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The data directory; created if missing.
    pub path: PathBuf,
    /// When writes are acknowledged.
    pub durability: Durability,
    /// The engine's page cache, in bytes (default 256 MiB). The process's memory grows with
    /// this, not with the data set.
    pub cache_bytes: u64,
    /// In [`Durability::Relaxed`] mode, how often the engine flushes (default 500 ms).
    pub flush_every_ms: u64,
    /// The clock for assigned times.
    pub clock: Arc<dyn Clock>,
}

impl StoreConfig {
    /// A configuration with the defaults: durable, 256 MiB cache, system clock.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreConfig {
            path: path.into(),
            durability: Durability::Durable,
            cache_bytes: 256 * 1024 * 1024,
            flush_every_ms: 500,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the durability mode.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the cache size in bytes.
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
