//! The configuration audit trail: who changed a segment or the lead-scoring model, when, with
//! which operation and which fields (never their values). Each event is written in the same
//! batch as the change (`A seq`), numbered by a sequence of its own that only grows (the
//! customer change log keeps its own, gap-free, for the readers that follow it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::error::Result;
use crate::kv::codec::Stored;
use crate::kv::family::{Family, Kept};
use crate::kv::keys;
use crate::write::Write;

/// What the configuration trail stores for one change (`A seq`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConfigRecord {
    pub(crate) seq: u64,
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub(crate) time: DateTime<Utc>,
    pub(crate) actor: String,
    pub(crate) operation: String,
    /// What changed: `segment 0000000000000001`, `scoring model`.
    pub(crate) subject: String,
    pub(crate) fields: Vec<String>,
    pub(crate) request_id: Option<String>,
}

impl ConfigRecord {
    /// The record as an audit event (one without a customer).
    pub(crate) fn into_audit(self) -> AuditEvent {
        AuditEvent {
            seq: self.seq,
            time: self.time,
            actor: self.actor,
            operation: self.operation,
            customer_id: None,
            subject: self.subject,
            fields: self.fields,
            request_id: self.request_id,
        }
    }
}

impl Write<'_> {
    /// Adds a configuration audit event to this write's batch, from the handle's origin.
    pub(crate) fn log_configuration(
        &mut self,
        operation: &str,
        subject: String,
        fields: Vec<String>,
    ) -> Result<()> {
        let seq = self.tail_seq(keys::CONFIG_AUDIT, "configuration audit")? + 1;
        let origin = self.store.origin();
        let record = ConfigRecord {
            seq,
            time: self.store.now(),
            actor: origin.actor.clone(),
            operation: operation.to_owned(),
            subject,
            fields,
            request_id: origin.request_id.clone(),
        };
        self.put_record::<ConfigTrail>(None, Some(&record))
    }
}

impl Stored for ConfigRecord {}

/// The configuration trail as a family: events that imply nothing else.
#[derive(Debug)]
pub(crate) struct ConfigTrail;

impl Family for ConfigTrail {
    type Record = ConfigRecord;
    const NAME: &'static str = "configuration trail";
    const PREFIX: &'static [u8] = &[keys::CONFIG_AUDIT];

    fn key(record: &ConfigRecord) -> Vec<u8> {
        keys::config_audit(record.seq).to_vec()
    }

    fn keep(_: &ConfigRecord, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }
}
