//! Timelines: storing entries with the summary, the order and purchase-time keys and the
//! referral keys they imply, in the writing batch; listing them; deleting them with their
//! customer. The public calls that record entries are in [`crate::timeline::record`].

pub(crate) mod erase;
pub mod record;
pub(crate) mod referrals;
pub(crate) mod verify;

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use crm_core::timeline::{Interaction, InteractionKind, StageChange};
use crm_core::{
    Customer, CustomerId, EntryId, EntryKind, Event, LifecycleStage, Summary, TimelineEntry,
    Violations,
};

use crate::audit::changes::ChangeKind;
use crate::customers::list::prefix_end;
use crate::error::{Result, StoreError};
use crate::kv::token::Listing;
use crate::kv::{codec, keys};
use crate::write::Write;

crate::store::handle!(
    /// Customers' timelines: recording interactions, purchases, refunds, stage moves, losses and qualifications; listing entries; summaries.
    Timeline,
    timeline
);

/// Which entries of a timeline to list.
#[derive(Clone, Debug, Default)]
pub struct TimelineQuery {
    /// Whose timeline.
    pub customer_id: Option<CustomerId>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<EntryKind>,
    /// Only entries that happened at or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// Only entries that happened before this time.
    pub end_time: Option<DateTime<Utc>>,
    /// Newest first (default: oldest first).
    pub newest_first: bool,
    /// How many per page: 0 means 50; at most 1000.
    pub page_size: usize,
    /// The previous page's token, or empty.
    pub page_token: String,
}

/// One page of a timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelinePage {
    /// The entries, in time order (or reversed).
    pub entries: Vec<TimelineEntry>,
    /// The token for the next page; empty on the last page.
    pub next_page_token: String,
}

/// What is known about a purchase by its order reference (`O id order_ref`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OrderState {
    pub(crate) entry: EntryId,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) refunded_minor: i64,
}

impl OrderState {
    pub(crate) fn to_bytes(self) -> [u8; 24] {
        let mut v = [0; 24];
        v[..8].copy_from_slice(&self.entry.0.to_be_bytes());
        v[8..16].copy_from_slice(&self.occurred_at.timestamp_micros().to_be_bytes());
        v[16..].copy_from_slice(&self.refunded_minor.to_be_bytes());
        v
    }

    pub(crate) fn from_bytes(key: &[u8], v: &[u8]) -> Result<OrderState> {
        let part = |r: std::ops::Range<usize>| -> Option<[u8; 8]> { v.get(r)?.try_into().ok() };
        let parsed = (|| {
            Some(OrderState {
                entry: EntryId(u64::from_be_bytes(part(0..8)?)),
                occurred_at: DateTime::from_timestamp_micros(i64::from_be_bytes(part(8..16)?))?,
                refunded_minor: i64::from_be_bytes(part(16..24)?),
            })
        })();
        parsed
            .filter(|_| v.len() == 24)
            .ok_or_else(|| StoreError::Corrupt {
                key: keys::describe(key),
                detail: "an order entry is not 24 bytes of entry, time and refunded amount".into(),
            })
    }
}

/// A customer being written to within one write: its record before and after, and its summary.
pub(crate) struct Subject {
    pub(crate) before: Customer,
    pub(crate) customer: Customer,
    pub(crate) summary: Summary,
    summary_changed: bool,
    pub(crate) fields: BTreeSet<&'static str>,
}

impl Write<'_> {
    /// Reads a customer and its summary to write to. Errors: [`StoreError::NotFound`].
    pub(crate) fn subject(&mut self, id: CustomerId) -> Result<Subject> {
        let customer = self.existing_customer(id)?;
        Ok(Subject {
            before: customer.clone(),
            summary: self.summary(id)?,
            customer,
            summary_changed: false,
            fields: BTreeSet::new(),
        })
    }

    /// Adds an entry to the subject's timeline, with the keys it implies, and to its summary.
    pub(crate) fn append(
        &mut self,
        s: &mut Subject,
        occurred_at: DateTime<Utc>,
        actor: &str,
        event: Event,
    ) -> Result<TimelineEntry> {
        let entry = TimelineEntry {
            id: self.next_entry()?,
            customer_id: s.customer.id,
            occurred_at,
            recorded_at: self.store.now(),
            actor: actor.to_owned(),
            event,
        };
        let cid = s.customer.id;
        self.put_raw(
            keys::timeline(cid, occurred_at, entry.id),
            codec::encode(&entry)?,
        );
        s.summary.apply(&entry).map_err(|o| {
            StoreError::Invalid(
                Violations::one("amount.amount_minor", o.to_string()).prefixed(match entry.event {
                    Event::Refund(_) => "refund",
                    _ => "purchase",
                }),
            )
        })?;
        s.summary_changed |=
            !matches!(entry.event, Event::StageChange(_) | Event::Converted { .. });
        s.fields.insert("timeline");
        match &entry.event {
            Event::Purchase(p) => {
                self.put_raw(keys::purchase_time(cid, occurred_at, entry.id), []);
                let state = OrderState {
                    entry: entry.id,
                    occurred_at,
                    refunded_minor: 0,
                };
                self.put_raw(keys::order(cid, &p.order_ref), state.to_bytes());
            }
            Event::Interaction(Interaction {
                kind: InteractionKind::Referral,
                referred_customer_id: Some(referred),
                ..
            }) => self.put_raw(
                keys::referral(*referred, cid, entry.id),
                referrals::referral_value(occurred_at, None),
            ),
            _ => {}
        }
        for hook in crate::kv::family::TIMELINE_HOOKS {
            hook(self, s, &entry)?;
        }
        Ok(entry)
    }

    /// Writes a customer's summary, and marks the customer for the derived index.
    pub(crate) fn put_summary(&mut self, id: CustomerId, summary: &Summary) -> Result<()> {
        self.put_raw(
            keys::of_customer(keys::SUMMARY, id),
            codec::encode(summary)?,
        );
        let touched = self.touched.entry(id).or_default();
        touched.summary = Some(summary.clone());
        touched.reevaluate = true;
        Ok(())
    }

    /// Moves the subject's lifecycle stage, with a stage-change entry.
    pub(crate) fn move_stage(
        &mut self,
        s: &mut Subject,
        to: LifecycleStage,
        reason: &str,
        automatic: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let from = s.customer.data.lifecycle_stage;
        if from == to {
            return Ok(());
        }
        let change = StageChange {
            from,
            to,
            reason: reason.to_owned(),
            automatic,
        };
        self.append(s, at, actor, Event::StageChange(change))?;
        s.customer.data.lifecycle_stage = to;
        s.fields.insert("lifecycle_stage");
        Ok(())
    }

    /// Moves the subject forward to `target` if it is ahead of its stage (automatic moves
    /// never go back).
    pub(crate) fn move_forward(
        &mut self,
        s: &mut Subject,
        target: Option<(LifecycleStage, &'static str)>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        match target {
            Some((stage, why)) if stage > s.customer.data.lifecycle_stage => {
                self.move_stage(s, stage, why, true, "crm", at)
            }
            _ => Ok(()),
        }
    }

    /// Writes what changed about the subject (record, summary) and one change-log event.
    pub(crate) fn finish(&mut self, mut s: Subject, operation: &str) -> Result<Customer> {
        let now = self.store.now();
        if s.customer != s.before {
            s.customer.version = s.before.version + 1;
            s.customer.update_time = now.max(s.before.update_time);
            self.store_customer(Some(&s.before), Some(&s.customer))?;
        }
        if s.summary_changed {
            s.fields.insert("summary");
            self.put_summary(s.customer.id, &s.summary)?;
        }
        let fields = s.fields.iter().map(|f| f.to_string()).collect();
        self.log(
            s.customer.id,
            ChangeKind::Recorded,
            s.customer.version,
            now,
            fields,
            operation,
        )?;
        Ok(s.customer)
    }

    /// Deletes a customer's timeline, summary, order and purchase-time keys, and the referral
    /// keys it made or is named in.
    pub(crate) fn delete_timeline(&mut self, id: CustomerId) -> Result<()> {
        let mut doomed = Vec::new();
        for (key, value) in self.scan_prefix(&keys::of_customer(keys::TIMELINE, id))? {
            // A damaged entry is deleted all the same; only its referral key could be missed,
            // and verify() would name that.
            if let Ok(TimelineEntry {
                event:
                    Event::Interaction(Interaction {
                        referred_customer_id: Some(referred),
                        ..
                    }),
                id: entry,
                ..
            }) = codec::decode(&value, &|| keys::describe(&key))
            {
                doomed.push(keys::referral(referred, id, entry));
            }
            doomed.push(key);
        }
        for family in [keys::ORDER, keys::PURCHASE_TIME, keys::REFERRAL] {
            for (key, _) in self.scan_prefix(&keys::of_customer(family, id))? {
                doomed.push(key);
            }
        }
        doomed.push(keys::of_customer(keys::SUMMARY, id).to_vec());
        for key in doomed {
            self.delete_raw(key);
        }
        Ok(())
    }
}

impl Timeline<'_> {
    /// Lists one page of a customer's timeline, in time order (or newest first).
    ///
    /// Errors: [`StoreError::NotFound`] (no such customer), [`StoreError::Invalid`] (a bad page
    /// token, or a time range that ends before it starts).
    pub fn list(&self, query: &TimelineQuery) -> Result<TimelinePage> {
        let Some(id) = query.customer_id else {
            return Err(Violations::one("customer_id", "is required").into());
        };
        if let (Some(a), Some(b)) = (query.start_time, query.end_time)
            && b < a
        {
            return Err(Violations::one("end_time", "is before start_time").into());
        }
        self.customers().get(id)?;
        let page_size = crate::customers::list::page_size(query.page_size);
        let prefix = keys::of_customer(keys::TIMELINE, id).to_vec();
        let kinds: BTreeSet<EntryKind> = query.kinds.iter().copied().collect();
        let print = format!(
            "{id}|{kinds:?}|{:?}|{:?}|{}",
            query.start_time, query.end_time, query.newest_first
        );
        let low = query.start_time.map_or_else(
            || Bound::Included(prefix.clone()),
            |t| Bound::Included(keys::timeline_from(id, t)),
        );
        let high = query.end_time.map_or_else(
            || prefix_end(&prefix),
            |t| Bound::Excluded(keys::timeline_from(id, t)),
        );
        let (low, high) = match (
            self.open_token(&query.page_token, Listing::Timeline, &print, &prefix)?,
            query.newest_first,
        ) {
            (None, _) => (low, high),
            (Some(after), false) => (Bound::Excluded(after), high),
            (Some(before), true) => (low, Bound::Excluded(before)),
        };
        let mut entries = Vec::new();
        let mut last_key = None;
        let mut examined = 0;
        let mut bytes = 0;
        let mut scan = self.inner.engine.scan(low, high, query.newest_first);
        for item in scan.by_ref() {
            let (key, value) = item?;
            examined += 1;
            let entry: TimelineEntry = codec::decode(&value, &|| keys::describe(&key))?;
            last_key = Some(key.to_vec());
            if kinds.is_empty() || kinds.contains(&entry.event.kind()) {
                bytes += value.len() + 64;
                entries.push(entry);
            }
            if entries.len() == page_size
                || examined == crate::customers::list::MAX_EXAMINED_PER_PAGE
                || bytes >= crate::customers::list::MAX_PAGE_BYTES
            {
                break;
            }
        }
        let more = last_key.is_some() && scan.next().is_some();
        Ok(TimelinePage {
            entries,
            next_page_token: match last_key {
                Some(key) if more => self.inner.tokens.seal(Listing::Timeline, &print, &key),
                _ => String::new(),
            },
        })
    }

    /// Every timeline entry of a customer, in time order (for verify and tests).
    pub fn entries(&self, id: CustomerId) -> Result<Vec<TimelineEntry>> {
        self.inner
            .engine
            .scan_prefix(&keys::of_customer(keys::TIMELINE, id))
            .map(|item| {
                let (key, value) = item?;
                codec::decode(&value, &|| keys::describe(&key))
            })
            .collect()
    }
}

/// Format 2 to 3: summaries gained each currency's purchases and the promoter time. A version-1
/// summary with one currency and no advocate reads correctly as it is; one with several
/// currencies or an advocate is computed again from its timeline and rewritten, a few hundred
/// customers per transaction.
pub(crate) fn migrate_to_3(kv: &crate::kv::Kv) -> Result<()> {
    let mut mixed = Vec::new();
    for item in kv.scan_prefix(&[keys::SUMMARY]) {
        let (key, value) = item?;
        if value.first() != Some(&1) {
            continue;
        }
        let old: crm_core::summary::v1::SummaryV1 = match codec::body(&value[1..]) {
            Ok(old) => old,
            Err(e) => {
                // A damaged summary stays as it is: verify() names it.
                tracing::error!(key = %keys::describe(&key), error = %e, "damaged summary left as it is");
                continue;
            }
        };
        if old.needs_recompute() {
            mixed.push(key);
        }
    }
    for chunk in mixed.chunks(256) {
        let mut rewritten = Vec::new();
        for key in chunk {
            let Some(id) = keys::trailing_id(key) else {
                continue;
            };
            let mut entries = Vec::new();
            for item in kv.scan_prefix(&keys::of_customer(keys::TIMELINE, id)) {
                let (k, v) = item?;
                entries.push(codec::decode::<TimelineEntry>(&v, &|| keys::describe(&k))?);
            }
            match Summary::from_entries(&entries) {
                Ok(summary) => rewritten.push((key.clone(), codec::encode(&summary)?)),
                Err(e) => tracing::error!(%id, error = %e, "summary left as it is"),
            }
        }
        kv.transact(|tx| {
            for (key, value) in &rewritten {
                tx.put(key, value);
            }
            Ok(())
        })?;
    }
    kv.transact(|tx| {
        tx.put(keys::META_FORMAT, &[3]);
        Ok(())
    })?;
    kv.engine().sync()?;
    tracing::info!(
        recomputed = mixed.len(),
        "data directory migrated from format 2 to 3"
    );
    Ok(())
}
