//! What the portfolio report says beside its figures over customers: feedback in the period
//! and open support tickets now, for the whole portfolio and per segment asked for.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::feedback::report::FeedbackFigures;
use crm_core::support::{Ticket, TicketStatus};
use crm_core::{CustomerId, SegmentId};

use super::Reports;
use crate::error::Result;
use crate::kv::codec;

/// One segment's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFigures {
    /// The segment.
    pub id: SegmentId,
    /// Its name.
    pub name: String,
    /// Its members now.
    pub members: u64,
    /// Its members' feedback in the period.
    pub feedback: FeedbackFigures,
    /// Its members' open tickets now (not solved or closed).
    pub open_tickets: u64,
}

/// Feedback and support figures of the portfolio and its segments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CareFigures {
    /// Answers and reviews in the period.
    pub feedback: FeedbackFigures,
    /// Open tickets now.
    pub open_tickets: u64,
    /// Per segment asked for, in the order asked.
    pub segments: Vec<SegmentFigures>,
}

impl Reports<'_> {
    /// Feedback given in `[from, to)` and open tickets now, for the portfolio and for each of
    /// `segments` (their members now).
    ///
    /// Errors: [`crate::StoreError::NotFound`] (a segment).
    pub fn care(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        segments: &[SegmentId],
    ) -> Result<CareFigures> {
        let feedback = self.feedback().report(from, to, segments)?;
        let filters = self.feedback().segment_filters(segments)?;
        let mut open: BTreeMap<CustomerId, u64> = BTreeMap::new();
        for status in TicketStatus::ALL.into_iter().filter(|s| s.is_open()) {
            let prefix = crate::support::keys::by_status_prefix(status);
            for item in self.inner.engine.scan_prefix(&prefix) {
                let (key, _) = item?;
                let Some(id) = crate::support::keys::trailing_ticket(&key) else {
                    continue;
                };
                if let Some(bytes) = self.inner.engine.get(crate::support::keys::ticket(id))? {
                    let t: Ticket = codec::decode(&bytes, &|| format!("ticket {id}"))?;
                    *open.entry(t.data.customer_id).or_default() += 1;
                }
            }
        }
        let mut per_segment = vec![0u64; segments.len()];
        for (customer, n) in &open {
            let Some(names) = self.feedback().memberships(*customer, &filters)? else {
                continue;
            };
            for (i, (name, _)) in filters.iter().enumerate() {
                if names.contains(name) {
                    per_segment[i] += n;
                }
            }
        }
        let mut out = CareFigures {
            feedback: feedback.total.clone(),
            open_tickets: open.values().sum(),
            segments: Vec::new(),
        };
        for (i, id) in segments.iter().enumerate() {
            let name = filters[i].0.clone();
            out.segments.push(SegmentFigures {
                id: *id,
                members: self.segments().count(*id)?,
                feedback: feedback.segments.get(&name).cloned().unwrap_or_default(),
                open_tickets: per_segment[i],
                name,
            });
        }
        Ok(out)
    }
}
