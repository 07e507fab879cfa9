//! What erasure and retention do to a timeline: texts replaced, old interactions dropped. The
//! summary is computed again from what is left, in the same write, so `verify`'s rule (the
//! summary is the fold of the timeline) keeps holding.

use chrono::{DateTime, Utc};
use crm_core::privacy::scrub_entry;
use crm_core::{CustomerId, Event, Summary, TimelineEntry};

use crate::error::{Result, StoreError};
use crate::kv::{codec, keys};
use crate::write::Write;

impl Write<'_> {
    /// The customer's timeline entries with their keys.
    fn timeline_of(&mut self, id: CustomerId) -> Result<Vec<(Vec<u8>, TimelineEntry)>> {
        let mut out = Vec::new();
        for (key, value) in self.scan_prefix(&keys::of_customer(keys::TIMELINE, id))? {
            let entry = codec::decode(&value, &|| keys::describe(&key))?;
            out.push((key, entry));
        }
        Ok(out)
    }

    /// Writes the summary of `entries` if it differs from the stored one.
    fn resummarize(&mut self, id: CustomerId, entries: &[TimelineEntry]) -> Result<()> {
        let summary = Summary::from_entries(entries).map_err(|e| StoreError::Corrupt {
            key: format!("timeline of customer {id}"),
            detail: e.to_string(),
        })?;
        if summary != self.summary(id)? {
            self.put_summary(id, &summary)?;
        }
        Ok(())
    }
}

/// Replaces every free text of a customer's timeline (notes, reasons, comments, reviews, ticket
/// subjects); amounts, dates, order references and scores stay.
pub(crate) fn erase_customer(w: &mut Write<'_>, id: CustomerId) -> Result<()> {
    let mut entries = Vec::new();
    for (key, mut entry) in w.timeline_of(id)? {
        if scrub_entry(&mut entry) {
            w.put_raw(&key, codec::encode(&entry)?);
        }
        entries.push(entry);
    }
    w.resummarize(id, &entries)
}

/// Drops a customer's interactions that happened before `before` (referrals stay: a later
/// purchase of the referred customer still converts them). Returns how many went.
pub(crate) fn drop_interactions(
    w: &mut Write<'_>,
    id: CustomerId,
    before: DateTime<Utc>,
) -> Result<u64> {
    let mut kept = Vec::new();
    let mut dropped = 0;
    for (key, entry) in w.timeline_of(id)? {
        let old_interaction = entry.occurred_at < before
            && matches!(&entry.event, Event::Interaction(i) if i.referred_customer_id.is_none());
        if old_interaction {
            w.delete_raw(&key);
            dropped += 1;
        } else {
            kept.push(entry);
        }
    }
    if dropped > 0 {
        w.resummarize(id, &kept)?;
    }
    Ok(dropped)
}
