//! The configuration audit trail: who changed a segment or the lead-scoring model, when, with
//! which operation and which fields (never their values). Each event is written in the same
//! batch as the change (`A seq`), numbered by a sequence of its own that only grows (the
//! customer change log keeps its own, gap-free, for the readers that follow it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::engine::Engine;
use crate::error::Result;
use crate::store::Write;
use crate::{codec, keys};

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
        let seq = self.next_config_seq();
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
        self.put_raw(keys::config_audit(seq), codec::encode(&record)?);
        Ok(())
    }
}

/// The sequence of the newest configuration event (0 for none): the trail's own tail.
pub(crate) fn last_seq(engine: &Engine) -> Result<u64> {
    crate::store::last_seq_in(engine, keys::CONFIG_AUDIT, "configuration audit")
}

/// Checks that every configuration event decodes and sits at its own, increasing sequence.
pub(crate) fn verify(engine: &Engine, problems: &mut Vec<String>) -> Result<u64> {
    let mut checked = 0;
    for item in engine.scan_prefix(&[keys::CONFIG_AUDIT]) {
        let (key, value) = item?;
        checked += 1;
        match codec::decode::<ConfigRecord>(&value, &|| keys::describe(&key)) {
            Ok(r) if keys::config_audit(r.seq) == key.as_ref() => {}
            Ok(r) => problems.push(format!("configuration event {} is out of place", r.seq)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    Ok(checked)
}
