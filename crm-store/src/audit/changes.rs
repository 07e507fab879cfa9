//! The change log: one event per write, numbered by a sequence that only grows and follows
//! commit order. It is written in the same batch as the change it describes, so a reader that
//! follows it misses nothing and sees nothing that did not happen.

use chrono::{DateTime, Utc};
use crm_core::CustomerId;
use serde::{Deserialize, Serialize};

use crate::audit::Audit;
use crate::error::Result;
use crate::kv::codec::{self, Stored};
use crate::kv::family::{Family, Kept};
use crate::kv::keys;

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
    /// An automation rule published a named event about the entity (the event's name is the
    /// operation).
    Published,
    /// The customer's personal data was erased (the record stays, anonymous): a connected
    /// system erases what it holds about the person.
    Erased,
}

/// What kind of thing a change event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EntityKind {
    /// A customer (person or organization).
    Customer,
    /// A saved segment.
    Segment,
    /// A support ticket.
    Ticket,
    /// A sales pipeline.
    Pipeline,
    /// A deal.
    Deal,
    /// A task.
    Task,
    /// An automation rule.
    Rule,
}

/// The thing a change event is about: its kind and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    /// What kind of thing.
    pub kind: EntityKind,
    /// Its id (a customer's or a segment's `u64`).
    pub id: u64,
}

impl EntityRef {
    /// A customer.
    pub fn customer(id: CustomerId) -> EntityRef {
        EntityRef {
            kind: EntityKind::Customer,
            id: id.0,
        }
    }
}

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// Position in the log: larger means later; gaps never happen within one store.
    pub seq: u64,
    /// When the change happened.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
    /// What changed.
    pub entity: EntityRef,
    /// The customer the change belongs to, where there is one (the entity itself for a
    /// customer).
    pub customer_id: Option<CustomerId>,
    /// Created, updated, deleted or recorded.
    pub kind: ChangeKind,
    /// The entity's version after the change (the deleted version for a delete).
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
    /// The system the write came from, as its caller named it ([`crate::Origin::source`]).
    pub(crate) origin: Option<String>,
    /// The automation rule whose action made the write, if one did.
    pub(crate) cause: Option<crm_core::automation::Cause>,
}

/// Version 4 adds the rule that caused a write; version 3 added the origin; version 2 named
/// the entity; version 1 (the first release) was about customers only.
impl Stored for LogRecord {
    const VERSION: u8 = 4;

    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, String>> {
        match version {
            1 => Some(Self::from_v1(body)),
            2 => Some(codec::body::<v2::LogRecord>(body).map(|old| LogRecord {
                change: old.change,
                actor: old.actor,
                operation: old.operation,
                request_id: old.request_id,
                origin: None,
                cause: None,
            })),
            3 => Some(codec::body::<v3::LogRecord>(body).map(|old| LogRecord {
                change: old.change,
                actor: old.actor,
                operation: old.operation,
                request_id: old.request_id,
                origin: old.origin,
                cause: None,
            })),
            _ => None,
        }
    }
}

impl LogRecord {
    fn from_v1(body: &[u8]) -> Result<Self, String> {
        codec::body::<v1::LogRecord>(body).map(|old| LogRecord {
            change: ChangeEvent {
                seq: old.change.seq,
                time: old.change.time,
                entity: EntityRef::customer(old.change.customer_id),
                customer_id: Some(old.change.customer_id),
                kind: old.change.kind,
                version: old.change.version,
                fields: old.change.fields,
            },
            actor: old.actor,
            operation: old.operation,
            request_id: old.request_id,
            origin: None,
            cause: None,
        })
    }
}

/// The change log as written before rules (value version 3): no cause.
mod v3 {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct LogRecord {
        pub(super) change: super::ChangeEvent,
        pub(super) actor: String,
        pub(super) operation: String,
        pub(super) request_id: Option<String>,
        pub(super) origin: Option<String>,
    }
}

/// The change log as written by format 2's second release (value version 2): no origin.
mod v2 {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct LogRecord {
        pub(super) change: super::ChangeEvent,
        pub(super) actor: String,
        pub(super) operation: String,
        pub(super) request_id: Option<String>,
    }
}

/// The change log as written by format 2's first release (value version 1).
mod v1 {
    use chrono::{DateTime, Utc};
    use crm_core::CustomerId;
    use serde::Deserialize;

    use super::ChangeKind;

    #[derive(Deserialize)]
    pub(super) struct ChangeEvent {
        pub(super) seq: u64,
        #[serde(with = "chrono::serde::ts_microseconds")]
        pub(super) time: DateTime<Utc>,
        pub(super) customer_id: CustomerId,
        pub(super) kind: ChangeKind,
        pub(super) version: u64,
        pub(super) fields: Vec<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct LogRecord {
        pub(super) change: ChangeEvent,
        pub(super) actor: String,
        pub(super) operation: String,
        pub(super) request_id: Option<String>,
    }
}

/// The change log as a family: each event keeps its customer's audit index entry
/// (`a customer seq`).
#[derive(Debug)]
pub(crate) struct ChangeLog;

impl Family for ChangeLog {
    type Record = LogRecord;
    const NAME: &'static str = "change log";
    const PREFIX: &'static [u8] = &[keys::CHANGE];

    fn key(record: &LogRecord) -> Vec<u8> {
        keys::change(record.change.seq).to_vec()
    }

    fn keep(record: &LogRecord, kept: &mut Kept) {
        if let Some(customer) = record.change.customer_id {
            kept.index(keys::audit_by_customer(customer, record.change.seq), []);
        }
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        vec![vec![keys::AUDIT_BY_CUSTOMER]]
    }

    fn owner_of(key: &[u8], _value: &[u8]) -> Option<Vec<u8>> {
        let seq = u64::from_be_bytes(key.get(key.len().checked_sub(8)?..)?.try_into().ok()?);
        Some(keys::change(seq).to_vec())
    }
}

impl LogRecord {
    /// The record as an audit event.
    pub(crate) fn into_audit(self) -> crate::AuditEvent {
        crate::AuditEvent {
            seq: self.change.seq,
            time: self.change.time,
            actor: self.actor,
            operation: self.operation,
            customer_id: self.change.customer_id,
            subject: match self.change.entity.kind {
                EntityKind::Customer => format!("customer {}", CustomerId(self.change.entity.id)),
                EntityKind::Segment => {
                    format!("segment {}", crm_core::SegmentId(self.change.entity.id))
                }
                EntityKind::Ticket => format!(
                    "ticket {}",
                    crm_core::support::TicketId(self.change.entity.id)
                ),
                EntityKind::Pipeline => format!(
                    "pipeline {}",
                    crm_core::deals::PipelineId(self.change.entity.id)
                ),
                EntityKind::Deal => {
                    format!("deal {}", crm_core::deals::DealId(self.change.entity.id))
                }
                EntityKind::Task => {
                    format!("task {}", crm_core::tasks::TaskId(self.change.entity.id))
                }
                EntityKind::Rule => {
                    format!("rule {}", crm_core::tasks::RuleId(self.change.entity.id))
                }
            },
            fields: self.change.fields,
            request_id: self.request_id,
        }
    }
}

impl Audit<'_> {
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
    pub fn last_change_seq(&self) -> Result<u64> {
        crate::audit::tail_seq(&self.inner.engine, keys::CHANGE, "change-log")
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    /// The change-log record as the release before rules wrote it (value version 3).
    #[derive(Serialize)]
    struct WrittenByV3 {
        change: ChangeEvent,
        actor: String,
        operation: String,
        request_id: Option<String>,
        origin: Option<String>,
    }

    #[test]
    fn a_change_log_record_of_the_release_before_rules_reads_with_no_cause() -> Result<()> {
        let change = ChangeEvent {
            seq: 7,
            time: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default(),
            entity: EntityRef {
                kind: EntityKind::Ticket,
                id: 42,
            },
            customer_id: Some(CustomerId(9)),
            kind: ChangeKind::Updated,
            version: 3,
            fields: vec!["status".into()],
        };
        let old = WrittenByV3 {
            change: change.clone(),
            actor: "erp-sync".into(),
            operation: "MoveTicket".into(),
            request_id: Some("r-1".into()),
            origin: Some("erp".into()),
        };
        let mut bytes = vec![3];
        bytes.extend(
            bincode::serde::encode_to_vec(&old, bincode::config::standard())
                .map_err(|e| crate::StoreError::Storage(e.to_string()))?,
        );
        let read: LogRecord = codec::decode(&bytes, &|| "L 7".into())?;
        assert_eq!(read.change, change);
        assert_eq!(read.origin.as_deref(), Some("erp"));
        assert_eq!(read.cause, None);
        // Written again, it is version 4 and keeps everything.
        let again: LogRecord = codec::decode(&codec::encode(&read)?, &|| "L 7".into())?;
        assert_eq!(again, read);
        Ok(())
    }
}
