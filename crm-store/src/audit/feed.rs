//! The change feed: the change log read from a cursor, in log order, then followed as it grows.
//!
//! - A cursor is a change-log sequence: "everything after this". Each event carries its own,
//!   so a consumer that stores the cursor of the last event it handled resumes after it, and
//!   misses nothing and sees nothing twice.
//! - The feed reads the log itself, not an in-memory subscription: a slow consumer holds
//!   nothing that writers wait for.
//! - It delivers only what is acknowledged: on a durable store, an event is delivered once its
//!   write is on disk ([`FeedSignal`] is advanced after the group commit's fsync), so a
//!   consumer never acts on a change a crash could take back.
//! - A cursor ahead of the newest event is refused ([`StoreError::Invalid`]); one older than the
//!   oldest event the log keeps gets [`Precondition::ChangeLogTrimmed`] with the oldest cursor
//!   the feed can resume from.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crm_core::{CustomerId, Violations};

use crate::Store;
use crate::audit::Audit;
use crate::audit::changes::{ChangeEvent, EntityKind, LogRecord};
use crate::error::{Precondition, Result, StoreError};
use crate::kv::{codec, keys};

/// Most log keys one [`Audit::read_feed`] examines, whatever its filter.
const MAX_EXAMINED: usize = 10_000;

/// How often a feed on an engine other processes write to (PostgreSQL) looks for their writes.
const SHARED_POLL: Duration = Duration::from_millis(100);

/// Which changes a feed follows: all of them by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedQuery {
    /// Only events about these kinds of entity (empty: every kind).
    pub kinds: Vec<EntityKind>,
    /// Only events that belong to this customer (served from its audit index).
    pub customer_id: Option<CustomerId>,
}

/// One change, as the feed delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEvent {
    /// The change: its cursor (`seq`), time, entity, kind, version and changed fields.
    pub change: ChangeEvent,
    /// Who made it (an API key's name, a user, `library`).
    pub actor: String,
    /// The operation (`CreateCustomer`, `ImportCustomers`...).
    pub operation: String,
    /// The system it came from, as the writer named it ([`crate::Origin::source`]).
    pub origin: Option<String>,
    /// The writer's request id, if any.
    pub request_id: Option<String>,
    /// The automation rule whose action made the change, and how deep in a chain of rules.
    pub cause: Option<crm_core::automation::Cause>,
}

impl From<LogRecord> for FeedEvent {
    fn from(r: LogRecord) -> FeedEvent {
        FeedEvent {
            change: r.change,
            actor: r.actor,
            operation: r.operation,
            origin: r.origin,
            request_id: r.request_id,
            cause: r.cause,
        }
    }
}

/// What one read of the feed found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedBatch {
    /// The events that match, in log order.
    pub events: Vec<FeedEvent>,
    /// How far the read got: the next read starts after it. At least the cursor of the last
    /// event; beyond it when events that do not match were passed.
    pub cursor: u64,
}

/// The newest change-log sequence the feed may deliver, and a way to wait for it to grow.
#[derive(Debug, Default)]
pub(crate) struct FeedSignal {
    position: Mutex<u64>,
    grew: Condvar,
}

impl FeedSignal {
    /// A signal starting at `position` (the log's tail when the store opens: all on disk).
    pub(crate) fn new(position: u64) -> FeedSignal {
        FeedSignal {
            position: Mutex::new(position),
            grew: Condvar::new(),
        }
    }

    /// Everything up to `seq` is acknowledged.
    pub(crate) fn advance(&self, seq: u64) {
        let mut p = self.position.lock().unwrap_or_else(|e| e.into_inner());
        if seq > *p {
            *p = seq;
            self.grew.notify_all();
        }
    }

    pub(crate) fn position(&self) -> u64 {
        *self.position.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the position passes `after`, at most `timeout`; returns the position.
    fn wait_beyond(&self, after: u64, timeout: Duration) -> u64 {
        let p = self.position.lock().unwrap_or_else(|e| e.into_inner());
        let (p, _) = self
            .grew
            .wait_timeout_while(p, timeout, |p| *p <= after)
            .unwrap_or_else(|e| e.into_inner());
        *p
    }
}

impl Audit<'_> {
    /// The newest cursor the feed delivers: the last acknowledged change (0 for none).
    pub fn feed_position(&self) -> Result<u64> {
        let known = self.inner.feed.position();
        if !self.shared() {
            return Ok(known);
        }
        // Other processes write too: their commits are on the database (durable) once seen.
        let tail = self.last_change_seq()?;
        self.inner.feed.advance(tail);
        Ok(known.max(tail))
    }

    /// Up to `limit` events after cursor `after` that match `query`, in log order, and how far
    /// the read got. Never waits.
    ///
    /// Errors: [`StoreError::Invalid`] (`after` ahead of the newest event),
    /// [`Precondition::ChangeLogTrimmed`].
    pub fn read_feed(&self, query: &FeedQuery, after: u64, limit: usize) -> Result<FeedBatch> {
        let position = self.feed_position()?;
        if after > position {
            return Err(Violations::one(
                "after",
                format!(
                    "cursor {after} is ahead of the newest change ({position}): it comes from \
                     another store, or from a backup restored since"
                ),
            )
            .into());
        }
        self.check_retained(after)?;
        let mut batch = FeedBatch {
            events: Vec::new(),
            cursor: after,
        };
        if after == position {
            return Ok(batch);
        }
        let limit = limit.clamp(1, MAX_EXAMINED);
        let (start, end, by_customer) = match query.customer_id {
            Some(id) => (
                keys::audit_by_customer(id, after.saturating_add(1)).to_vec(),
                keys::audit_by_customer(id, position).to_vec(),
                true,
            ),
            None => (
                keys::change(after.saturating_add(1)).to_vec(),
                keys::change(position).to_vec(),
                false,
            ),
        };
        let mut examined = 0;
        for item in self
            .inner
            .engine
            .scan(Bound::Included(start), Bound::Included(end), false)
        {
            let (key, value) = item?;
            let seq = if by_customer {
                keys::trailing_id(&key)
                    .map(|s| s.0)
                    .ok_or_else(|| StoreError::Corrupt {
                        key: keys::describe(&key),
                        detail: "an audit index key is too short".into(),
                    })?
            } else {
                keys::seq_of(&key, "change-log")?
            };
            let record: LogRecord = if by_customer {
                let log_key = keys::change(seq);
                let Some(bytes) = self.inner.engine.get(log_key)? else {
                    return Err(StoreError::Corrupt {
                        key: keys::describe(&key),
                        detail: "an audit index entry names a change-log event that is missing"
                            .into(),
                    });
                };
                codec::decode(&bytes, &|| keys::describe(&log_key))?
            } else {
                codec::decode(&value, &|| keys::describe(&key))?
            };
            batch.cursor = seq;
            if query.kinds.is_empty() || query.kinds.contains(&record.change.entity.kind) {
                batch.events.push(record.into());
            }
            examined += 1;
            if batch.events.len() >= limit || examined >= MAX_EXAMINED {
                return Ok(batch);
            }
        }
        // Everything up to the position was examined.
        batch.cursor = position;
        Ok(batch)
    }

    /// Waits until the feed holds a change after `after`, at most `timeout`; returns the feed's
    /// position (at most `after` when the time ran out).
    pub fn wait_for_changes(&self, after: u64, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = if self.shared() {
                left.min(SHARED_POLL)
            } else {
                left
            };
            let known = self.inner.feed.wait_beyond(after, wait);
            let position = if self.shared() {
                self.feed_position()?
            } else {
                known
            };
            if position > after || left.is_zero() {
                return Ok(position);
            }
        }
    }

    /// Follows the feed from cursor `after`: a blocking iterator over the events that match
    /// `query`, the logged ones first, then each new one as it is acknowledged. It never ends
    /// by itself; [`Watch::next_within`] waits a bounded time.
    ///
    /// Errors (at once): as [`Audit::read_feed`].
    pub fn watch(&self, query: FeedQuery, after: u64) -> Result<Watch> {
        let first = self.read_feed(&query, after, 1000)?;
        Ok(Watch {
            store: (*self.store).clone(),
            query,
            reached: first.cursor,
            pending: first.events.into(),
            delivered: after,
        })
    }

    /// An error if the log no longer holds the event right after `after`.
    fn check_retained(&self, after: u64) -> Result<()> {
        let start = Bound::Included(vec![keys::CHANGE]);
        let end = Bound::Excluded(vec![keys::CHANGE + 1]);
        let oldest = match self.inner.engine.scan(start, end, false).next() {
            None => return Ok(()),
            Some(item) => keys::seq_of(&item?.0, "change-log")?,
        };
        if oldest > after.saturating_add(1) {
            return Err(StoreError::FailedPrecondition(
                Precondition::ChangeLogTrimmed {
                    after,
                    oldest_cursor: oldest - 1,
                },
            ));
        }
        Ok(())
    }
}

/// A followed feed: see [`Audit::watch`].
#[derive(Debug)]
pub struct Watch {
    store: Store,
    query: FeedQuery,
    /// How far the reads got.
    reached: u64,
    /// Read, not yet returned.
    pending: VecDeque<FeedEvent>,
    /// The cursor of the last event returned (or the starting cursor).
    delivered: u64,
}

impl Watch {
    /// The cursor to resume from after the events returned so far.
    pub fn cursor(&self) -> u64 {
        if self.pending.is_empty() {
            self.reached.max(self.delivered)
        } else {
            self.delivered
        }
    }

    /// The next event, waiting at most `timeout` for one; `None` when none came.
    pub fn next_within(&mut self, timeout: Duration) -> Result<Option<FeedEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.delivered = event.change.seq;
                return Ok(Some(event));
            }
            let audit = self.store.audit();
            let batch = audit.read_feed(&self.query, self.reached, 1000)?;
            self.reached = batch.cursor;
            self.pending.extend(batch.events);
            if !self.pending.is_empty() {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            audit.wait_for_changes(self.reached, left)?;
        }
    }
}

impl Iterator for Watch {
    type Item = Result<FeedEvent>;

    /// The next event, waiting as long as it takes.
    fn next(&mut self) -> Option<Result<FeedEvent>> {
        loop {
            match self.next_within(Duration::from_secs(3600)) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use crm_core::CustomerData;

    use super::*;
    use crate::kv::keys;

    #[test]
    fn a_cursor_older_than_the_log_gets_the_oldest_cursor_to_resume_from() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..5 {
            store
                .customers()
                .create(CustomerData::person(format!("P{i}")), None)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // The log as a retention policy would leave it: its first two events gone.
        store
            .inner
            .engine
            .transact(|tx| {
                tx.delete(&keys::change(1));
                tx.delete(&keys::change(2));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let q = FeedQuery::default();
        match store.audit().read_feed(&q, 0, 10) {
            Err(StoreError::FailedPrecondition(Precondition::ChangeLogTrimmed {
                after: 0,
                oldest_cursor: 2,
            })) => {}
            other => panic!("expected the cursor refused as trimmed, got {other:?}"),
        }
        let resumed = store
            .audit()
            .read_feed(&q, 2, 10)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            resumed
                .events
                .iter()
                .map(|e| e.change.seq)
                .collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
    }
}
