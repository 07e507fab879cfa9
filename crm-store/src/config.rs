//! How a store is opened: where, how durable, how much cache, and which clock.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crm_core::{RelationshipRules, ValueRules};

pub mod memory;

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

/// A clock that moves only when told: for tests of anything that depends on time (statuses,
/// score decay, the bound on client-supplied times).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `t`.
    pub fn new(t: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock(std::sync::Mutex::new(t)))
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The embedded engine [`crate::Store::open_with`] puts a data directory on. A directory
/// remembers its engine: opening it with the other one is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Embedded {
    /// sled 0.34.7: the default, on which the product is specified.
    #[default]
    Sled,
    /// fjall 3, an LSM tree (needs the `fjall` feature): faster writes and smaller files.
    Fjall,
}

impl Embedded {
    /// The embedded engine whose store `dir` holds, if any.
    pub fn found_in(dir: &std::path::Path) -> Option<Embedded> {
        match crate::engine::files_in(dir)? {
            "sled" => Some(Embedded::Sled),
            "fjall" => Some(Embedded::Fjall),
            _ => None,
        }
    }

    /// The engine's name (`sled`, `fjall`).
    pub fn name(self) -> &'static str {
        match self {
            Embedded::Sled => "sled",
            Embedded::Fjall => "fjall",
        }
    }
}

/// Everything [`crate::Store::open_with`] needs.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The data directory; created if missing.
    pub path: PathBuf,
    /// The embedded engine (default sled).
    pub engine: Embedded,
    /// When writes are acknowledged.
    pub durability: Durability,
    /// The engine's page cache, in bytes. The default is an eighth of the memory the process
    /// may use (the machine's, or its control group's limit), between 64 MiB and 8 GiB: see
    /// [`memory`]. On sled the process's memory follows this setting, at about twice it, plus
    /// metadata that grows with the data.
    pub cache_bytes: u64,
    /// In [`Durability::Relaxed`] mode, how often the engine flushes (default 500 ms).
    pub flush_every_ms: u64,
    /// The clock for assigned times, for "now" in statuses and scores, and for the bound on
    /// client-supplied times.
    pub clock: Arc<dyn Clock>,
    /// The windows and counts behind relationship statuses and automatic lifecycle moves.
    pub rules: RelationshipRules,
    /// How customer lifetime value is projected.
    pub value_rules: ValueRules,
    /// Whether the CLV lifespan is one over the portfolio's annual churn rate (measured in
    /// the background, see [`crate::Store::value_rules`]) rather than `value_rules`' own.
    pub lifespan_from_churn: bool,
    /// Free disk space, in bytes, that writes never take (default 64 MiB; 0: no check). A
    /// write that would go below it fails at once with a disk-full error and writes nothing;
    /// writes succeed again once space is freed.
    pub reserve_bytes: u64,
    /// How long the engine may stay inside one write or flush before it stops accepting
    /// writes (default 20 s), and how long a write waits for the one before it.
    pub stall_after: std::time::Duration,
    /// Whether to open a store whose engine holds less than it acknowledged (see
    /// [`crate::StoreError::DataLoss`]): it then refuses every acknowledged write, and
    /// `verify` reports the loss.
    pub accept_data_loss: bool,
    /// How long after it was solved a ticket may be reopened (default 7 days).
    pub ticket_reopen_within: chrono::Duration,
    /// How long the automation worker waits after a change before it handles it, so a burst
    /// of changes to one entity within it fires a rule once (default 1 second; read within 0
    /// and an hour).
    pub rule_coalesce_window: chrono::Duration,
}

impl StoreConfig {
    /// A configuration with the defaults: sled, durable, a cache of an eighth of the memory
    /// ([`memory::default_cache_bytes`]), system clock.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreConfig {
            path: path.into(),
            engine: Embedded::Sled,
            durability: Durability::Durable,
            cache_bytes: memory::default_cache_bytes(),
            flush_every_ms: 500,
            clock: Arc::new(SystemClock),
            rules: RelationshipRules::default(),
            value_rules: ValueRules::default(),
            lifespan_from_churn: false,
            reserve_bytes: crate::engine::sled::DEFAULT_RESERVE_BYTES,
            stall_after: crate::engine::sled::DEFAULT_STALL_AFTER,
            accept_data_loss: false,
            ticket_reopen_within: chrono::Duration::days(7),
            rule_coalesce_window: chrono::Duration::seconds(1),
        }
    }

    /// Sets the embedded engine.
    pub fn engine(mut self, engine: Embedded) -> Self {
        self.engine = engine;
        self
    }

    /// Sets how long after it was solved a ticket may be reopened.
    pub fn ticket_reopen_within(mut self, window: chrono::Duration) -> Self {
        self.ticket_reopen_within = window;
        self
    }

    /// Sets how long the automation worker waits to coalesce a burst of changes.
    pub fn rule_coalesce_window(mut self, window: chrono::Duration) -> Self {
        self.rule_coalesce_window = window;
        self
    }

    /// Sets the free disk space writes never take, in bytes (0: no check).
    pub fn reserve_bytes(mut self, bytes: u64) -> Self {
        self.reserve_bytes = bytes;
        self
    }

    /// Sets how long the engine may stay inside one write or flush.
    pub fn stall_after(mut self, after: std::time::Duration) -> Self {
        self.stall_after = after;
        self
    }

    /// Opens a store that holds less than it acknowledged, without accepting writes.
    pub fn accept_data_loss(mut self, accept: bool) -> Self {
        self.accept_data_loss = accept;
        self
    }

    /// Derives the CLV lifespan from the portfolio's churn rate (the configured lifespan
    /// stands in until the first measurement, and when churn says nothing).
    pub fn clv_lifespan_from_churn(mut self, derive: bool) -> Self {
        self.lifespan_from_churn = derive;
        self
    }

    /// Sets how CLV is projected (checked when the store opens).
    pub fn value_rules(mut self, rules: ValueRules) -> Self {
        self.value_rules = rules;
        self
    }

    /// Sets the relationship rules (checked when the store opens).
    pub fn rules(mut self, rules: RelationshipRules) -> Self {
        self.rules = rules;
        self
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
