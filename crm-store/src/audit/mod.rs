//! The audit trail: who changed which customer, how, and which fields (never the values), written
//! in the same atomic batch as the change itself. Privacy law (GDPR, KVKK) asks for exactly this.
//! Changes to the configuration (segments, the scoring model) have a trail of their own
//! (`config_audit.rs`), listed the same way.

pub mod changes;
pub(crate) mod config;
pub mod feed;

use std::ops::Bound;

use chrono::{DateTime, Utc};
use crm_core::{CustomerId, Violations};
use serde::{Deserialize, Serialize};

use crate::audit::changes::LogRecord;
use crate::audit::config::ConfigRecord;
use crate::error::{Result, StoreError};
use crate::kv::token::Listing;
use crate::kv::{Kv, codec, keys};

crate::store::handle!(
    /// The change log and the audit trail.
    Audit,
    audit
);

/// Who is writing: carried by a [`Store`] handle (see [`Store::with_origin`]) into every audit
/// record its writes produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The actor: an API key's name, a user, a job (`library` when not set).
    pub actor: String,
    /// The caller's request id, when it sent one.
    pub request_id: Option<String>,
    /// The system the write comes from, as the caller names it (the `x-crm-origin` header):
    /// stored with the write's change-log event, so a connector that follows the change feed
    /// can skip the echoes of its own writes. At most [`MAX_SOURCE_BYTES`] printable ASCII
    /// bytes ([`check_source`]).
    pub source: Option<String>,
}

/// The longest origin ([`Origin::source`]) a write may carry, in bytes.
pub const MAX_SOURCE_BYTES: usize = 128;

/// Whether `source` can be an origin: 1 to [`MAX_SOURCE_BYTES`] printable ASCII bytes.
pub fn check_source(source: &str) -> std::result::Result<(), String> {
    if source.is_empty()
        || source.len() > MAX_SOURCE_BYTES
        || !source.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(format!(
            "must be 1 to {MAX_SOURCE_BYTES} printable ASCII characters, such as \"erp\""
        ));
    }
    Ok(())
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            actor: "library".into(),
            request_id: None,
            source: None,
        }
    }
}

/// One audited mutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The sequence of the write (the same as its change-log event).
    pub seq: u64,
    /// When it happened.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
    /// Who did it.
    pub actor: String,
    /// The operation (`CreateCustomer`, `UpdateCustomer`, `DeleteCustomer`, `CreateSegment`,
    /// `UpdateScoringModel`...).
    pub operation: String,
    /// The customer concerned; none for a configuration change.
    pub customer_id: Option<CustomerId>,
    /// What changed, for a person to read: `customer 1a2b...`, `segment 0000000000000001`,
    /// `scoring model`.
    pub subject: String,
    /// The field paths written (contract names), never their values.
    pub fields: Vec<String>,
    /// The caller's request id, if any.
    pub request_id: Option<String>,
}

/// Which audit events to list.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// The configuration trail (segments, the scoring model) instead of the customers'.
    pub configuration: bool,
    /// Only this customer's events (served from an index; not with `configuration`).
    pub customer_id: Option<CustomerId>,
    /// Only this actor's events.
    pub actor: Option<String>,
    /// Only events at or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub end_time: Option<DateTime<Utc>>,
    /// Newest first (default: oldest first).
    pub newest_first: bool,
    /// Events per page: 0 means 50, at most 1000.
    pub page_size: usize,
    /// The previous page's token, or empty.
    pub page_token: String,
}

/// One page of audit events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// The events, in order.
    pub events: Vec<AuditEvent>,
    /// The token of the next page; empty on the last.
    pub next_page_token: String,
}

/// The sequence of the newest committed `family seq(8)` key (0 for none): a log's own tail.
pub(crate) fn tail_seq(kv: &Kv, family: u8, what: &str) -> Result<u64> {
    let start = Bound::Included(vec![family]);
    let end = Bound::Excluded(vec![family + 1]);
    match kv.scan(start, end, true).next() {
        None => Ok(0),
        Some(item) => keys::seq_of(&item?.0, what),
    }
}

impl Audit<'_> {
    /// Lists audit events, oldest (or newest) first.
    pub fn events(&self, q: &AuditQuery) -> Result<AuditPage> {
        let page_size = crate::customers::list::page_size(q.page_size);
        // Everything that decides which events and in which order, but the page.
        let print = format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{}",
            q.configuration, q.customer_id, q.actor, q.start_time, q.end_time, q.newest_first
        );
        let after = self
            .inner
            .tokens
            .open(&q.page_token, Listing::Audit, &print)?
            .map(|position| {
                keys::u64_value(&position).ok_or_else(|| {
                    StoreError::from(Violations::one(
                        "page_token",
                        "is not a token this service issued",
                    ))
                })
            })
            .transpose()?;
        if q.configuration && q.customer_id.is_some() {
            return Err(Violations::one(
                "customer_id",
                "configuration changes concern no customer: leave it empty",
            )
            .into());
        }
        let prefix = match (q.configuration, q.customer_id) {
            (true, _) => vec![keys::CONFIG_AUDIT],
            (false, Some(id)) => keys::audit_by_customer_prefix(id).to_vec(),
            (false, None) => vec![keys::CHANGE],
        };
        let key_at = |seq: u64| {
            let mut k = prefix.clone();
            k.extend_from_slice(&seq.to_be_bytes());
            k
        };
        let mut end = prefix.clone();
        end.extend_from_slice(&[0xff; 9]);
        let (start, stop) = match (after, q.newest_first) {
            (None, _) => (Bound::Included(prefix.clone()), Bound::Excluded(end)),
            (Some(s), false) => (Bound::Excluded(key_at(s)), Bound::Excluded(end)),
            (Some(s), true) => (Bound::Included(prefix.clone()), Bound::Excluded(key_at(s))),
        };
        let mut events = Vec::new();
        let mut last = None;
        let mut entries = self.inner.engine.scan(start, stop, q.newest_first);
        let mut examined = 0;
        for entry in entries.by_ref() {
            let (key, value) = entry?;
            let seq = keys::u64_value(key.get(key.len().saturating_sub(8)..).unwrap_or_default())
                .unwrap_or(0);
            last = Some(seq);
            examined += 1;
            let event = if q.configuration {
                codec::decode::<ConfigRecord>(&value, &|| format!("configuration audit {seq}"))?
                    .into_audit()
            } else {
                let record: LogRecord = match q.customer_id {
                    Some(_) => match self.inner.engine.get(keys::change(seq))? {
                        Some(bytes) => codec::decode(&bytes, &|| format!("audit {seq}"))?,
                        None => continue,
                    },
                    None => codec::decode(&value, &|| format!("audit {seq}"))?,
                };
                record.into_audit()
            };
            let wanted = q.actor.as_ref().is_none_or(|a| *a == event.actor)
                && q.start_time.is_none_or(|t| event.time >= t)
                && q.end_time.is_none_or(|t| event.time < t);
            if wanted {
                events.push(event);
            }
            if events.len() == page_size
                || examined == crate::customers::list::MAX_EXAMINED_PER_PAGE
            {
                break;
            }
        }
        let more = last.is_some() && entries.next().is_some();
        let next_page_token = match last {
            Some(seq) if more => self
                .inner
                .tokens
                .seal(Listing::Audit, &print, &seq.to_be_bytes()),
            _ => String::new(),
        };
        Ok(AuditPage {
            events,
            next_page_token,
        })
    }
}
