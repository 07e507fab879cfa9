//! The change log: one event per write, numbered by a sequence that only grows and follows
//! commit order. It is written in the same batch as the change it describes, so a reader that
//! follows it misses nothing and sees nothing that did not happen.

use chrono::{DateTime, Utc};
use crm_core::CustomerId;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::{Store, codec, keys};

/// What a write did to a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// The customer was created.
    Created,
    /// The customer was changed.
    Updated,
    /// The customer was deleted.
    Deleted,
    /// Entries were added to the customer's timeline (its summary changed with them, and its
    /// lifecycle stage when a rule moved it).
    Recorded,
}

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// Position in the log: larger means later; gaps never happen within one store.
    pub seq: u64,
    /// When the change happened.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
    /// The customer changed.
    pub customer_id: CustomerId,
    /// Created, updated or deleted.
    pub kind: ChangeKind,
    /// The customer's version after the change (the deleted version for a delete).
    pub version: u64,
    /// The top-level fields written (contract names): those set, for a create; those changed,
    /// for an update; none for a delete.
    pub fields: Vec<String>,
}

/// What the change log stores for one write (`L seq`): the change, and who made it, which the
/// audit trail reads. One key serves both, so a write pays for one log key, not two.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogRecord {
    pub(crate) change: ChangeEvent,
    pub(crate) actor: String,
    pub(crate) operation: String,
    pub(crate) request_id: Option<String>,
}

impl LogRecord {
    /// The record as an audit event.
    pub(crate) fn into_audit(self) -> crate::AuditEvent {
        crate::AuditEvent {
            seq: self.change.seq,
            time: self.change.time,
            actor: self.actor,
            operation: self.operation,
            customer_id: Some(self.change.customer_id),
            subject: format!("customer {}", self.change.customer_id),
            fields: self.change.fields,
            request_id: self.request_id,
        }
    }
}

impl Store {
    /// Up to `limit` change-log events with a sequence above `after`, oldest first.
    pub fn changes(&self, after: u64, limit: usize) -> Result<Vec<ChangeEvent>> {
        let start = keys::change(after.saturating_add(1)).to_vec();
        let end = vec![keys::CHANGE + 1];
        self.inner
            .engine
            .scan(
                std::ops::Bound::Included(start),
                std::ops::Bound::Excluded(end),
                false,
            )
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                codec::decode::<LogRecord>(&value, &|| keys::describe(&key)).map(|r| r.change)
            })
            .collect()
    }

    /// The sequence of the newest change-log event (0 for an empty store).
    pub fn last_change_seq(&self) -> u64 {
        self.lock_writer().last_seq
    }
}
