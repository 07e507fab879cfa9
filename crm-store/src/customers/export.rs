//! Export: every customer that matches a filter, read from one consistent snapshot while
//! writes go on, with no cap and no pages.

use std::ops::Bound;

use crm_core::{Customer, Filter, Insight, Summary, TimelineEntry};

use crate::customers::Customers;
use crate::engine::Reader;
use crate::error::Result;
use crate::kv::{codec, keys};

/// One exported customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    /// The record.
    pub customer: Customer,
    /// What is derived about it at the export's instant.
    pub insight: Insight,
    /// Its timeline, oldest first (empty unless asked for).
    pub timeline: Vec<TimelineEntry>,
}

/// What an export read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// The change-feed cursor of the snapshot: every change up to it, none after.
    pub cursor: u64,
    /// Customers exported.
    pub exported: u64,
}

fn all(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    crate::engine::prefix_range(prefix)
}

/// Customers read from the snapshot at a time, before their summaries and timelines.
const CHUNK: usize = 256;

impl Customers<'_> {
    /// Calls `each` with the snapshot's cursor and every customer that matches `filter`, in id
    /// order, all read from one snapshot taken while writes go on, until `each` returns
    /// `false`; with `include_timeline`, each comes with its timeline. What is derived about
    /// a customer is evaluated at the export's instant. A damaged record is logged and left
    /// out.
    ///
    /// Errors: engine errors.
    pub fn export(
        &self,
        filter: &Filter,
        include_timeline: bool,
        mut each: impl FnMut(u64, Exported) -> bool,
    ) -> Result<ExportSummary> {
        let engine = self.inner.engine.engine();
        let mut snap = engine.snapshot()?;
        let cursor = match snap.range(all(&[keys::CHANGE]), true).next() {
            None => 0,
            Some(item) => keys::seq_of(&item?.0, "change-log")?,
        };
        let now = self.now();
        let mut exported = 0;
        let (mut start, end) = all(&[keys::CUSTOMER]);
        loop {
            // A chunk of records, then each one's summary and timeline: one reader, one walk
            // at a time.
            let chunk: Vec<(Vec<u8>, Vec<u8>)> = snap
                .range((start.clone(), end.clone()), false)
                .take(CHUNK)
                .collect::<std::result::Result<_, _>>()?;
            let Some((last, _)) = chunk.last() else { break };
            start = Bound::Excluded(last.clone());
            for (key, value) in chunk {
                let customer: Customer = match codec::decode(&value, &|| keys::describe(&key)) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "damaged customer left out of an export");
                        continue;
                    }
                };
                let summary = read_summary(&mut *snap, &customer)?;
                let insight = self.insight_from(filter, &customer, summary, now)?;
                if !filter.matches_insight(&customer, &insight) {
                    continue;
                }
                let timeline = if include_timeline {
                    read_timeline(&mut *snap, &customer)?
                } else {
                    Vec::new()
                };
                exported += 1;
                let go_on = each(
                    cursor,
                    Exported {
                        customer,
                        insight,
                        timeline,
                    },
                );
                if !go_on {
                    return Ok(ExportSummary { cursor, exported });
                }
            }
        }
        Ok(ExportSummary { cursor, exported })
    }
}

fn read_summary(snap: &mut dyn Reader, c: &Customer) -> Result<Summary> {
    let key = keys::of_customer(keys::SUMMARY, c.id);
    match snap.get(&key)? {
        Some(bytes) => codec::decode(&bytes, &|| keys::describe(&key)),
        None => Ok(Summary::default()),
    }
}

fn read_timeline(snap: &mut dyn Reader, c: &Customer) -> Result<Vec<TimelineEntry>> {
    let mut out = Vec::new();
    for item in snap.range(all(&keys::of_customer(keys::TIMELINE, c.id)), false) {
        let (key, value) = item?;
        out.push(codec::decode(&value, &|| keys::describe(&key))?);
    }
    Ok(out)
}
