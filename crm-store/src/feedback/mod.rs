//! Feedback: survey answers (NPS, CSAT, CES) and reviews. Each is one write: the entry on the
//! customer's timeline, its summary (last and average scores, the NPS category, the risk signal
//! that the relationship status reads), an advocacy move for a promoter who has bought, the
//! change log, and a feedback fact (`V time entry_id`) that the reports read by period.

use chrono::{DateTime, Utc};
use crm_core::feedback::report::{Counted, FeedbackReport};
use crm_core::feedback::{Response, Review, SurveyKind, validate_response, validate_review};
use crm_core::support::TicketId;
use crm_core::{CustomerId, EntryId, Event, Filter, SegmentId, Violations};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::kv::codec::{self, Stored};
use crate::kv::family::{Family, Kept};
use crate::kv::keys::{self, FEEDBACK, time_bytes};
use crate::timeline::record::{EntryMeta, Outcome, Recorded, advocacy, record_in};
use crate::write::Write;

crate::store::handle!(
    /// Feedback: survey answers and reviews, and the feedback report.
    Feedback,
    feedback
);

/// What a fact counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FactKind {
    /// A survey answer.
    Answer(SurveyKind, u8),
    /// A review's rating.
    Review(u8),
}

/// One answer or review, as the reports read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackFact {
    /// The timeline entry it is.
    pub entry: EntryId,
    /// Who gave it (when it was given).
    pub customer_id: CustomerId,
    /// When.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// What it says.
    pub what: FactKind,
    /// The ticket it is about.
    pub ticket_id: Option<TicketId>,
}

impl FeedbackFact {
    /// The survey kind and score, for an answer.
    pub fn answer(&self) -> Option<(SurveyKind, u8)> {
        match self.what {
            FactKind::Answer(kind, score) => Some((kind, score)),
            FactKind::Review(_) => None,
        }
    }
}

impl Stored for FeedbackFact {}

fn fact_key(at: DateTime<Utc>, entry: EntryId) -> Vec<u8> {
    let mut k = vec![FEEDBACK];
    k.extend_from_slice(&time_bytes(at));
    k.extend_from_slice(&entry.0.to_be_bytes());
    k
}

/// Feedback facts: records in time order that imply nothing else.
#[derive(Debug)]
pub(crate) struct FeedbackFamily;

impl Family for FeedbackFamily {
    type Record = FeedbackFact;
    const NAME: &'static str = "feedback";
    const PREFIX: &'static [u8] = &[FEEDBACK];

    fn key(f: &FeedbackFact) -> Vec<u8> {
        fact_key(f.at, f.entry)
    }

    fn keep(_: &FeedbackFact, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }
}

impl Feedback<'_> {
    /// Records a survey answer. A ticket it names must be the customer's.
    ///
    /// Errors: [`StoreError::Invalid`] (a score outside the kind's range, every bad field, a
    /// ticket that is not the customer's), [`StoreError::NotFound`] (the customer).
    pub fn record_response(
        &self,
        id: CustomerId,
        mut response: Response,
        meta: EntryMeta,
    ) -> Result<Recorded> {
        let m = self.checked(validate_response(&mut response), "response", meta)?;
        self.write(|w| {
            if let Some(ticket) = response.ticket_id {
                let owner = w
                    .read::<crm_core::support::Ticket>(
                        &crate::support::keys::ticket(ticket),
                        &|| format!("ticket {ticket}"),
                    )?
                    .map(|t| t.data.customer_id);
                if owner != Some(id) {
                    return Err(Violations::one(
                        "response.ticket_id",
                        format!("{ticket} is not a ticket of customer {id}"),
                    )
                    .into());
                }
            }
            let what = FactKind::Answer(response.kind, response.score);
            let event = Event::Feedback(response.clone());
            record(w, id, &m, event, what, response.ticket_id, "RecordFeedback")
        })
    }

    /// Records a review.
    ///
    /// Errors: [`StoreError::Invalid`] (a rating outside 1-5, every bad field),
    /// [`StoreError::NotFound`].
    pub fn record_review(
        &self,
        id: CustomerId,
        mut review: Review,
        meta: EntryMeta,
    ) -> Result<Recorded> {
        let m = self.checked(validate_review(&mut review), "review", meta)?;
        self.write(|w| {
            let what = FactKind::Review(review.rating);
            let event = Event::Review(review.clone());
            record(w, id, &m, event, what, None, "RecordReview")
        })
    }

    /// The answers and reviews given in `[from, to)`, in time order.
    pub fn facts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<FeedbackFact>> {
        let start = std::ops::Bound::Included(fact_key(from, EntryId(0)));
        let end = std::ops::Bound::Excluded(fact_key(to, EntryId(0)));
        let mut out = Vec::new();
        for item in self.inner.engine.scan(start, end, false) {
            let (key, value) = item?;
            out.push(codec::decode(&value, &|| keys::describe(&key))?);
        }
        Ok(out)
    }

    /// The feedback report for `[from, to)`: NPS, CSAT, average CES, counts, a monthly trend,
    /// and the same per segment named (each customer's membership as of now). Answers of
    /// customers deleted since do not count; a merged customer's count as its survivor's.
    ///
    /// Errors: [`StoreError::NotFound`] (a segment).
    pub fn report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        segments: &[SegmentId],
    ) -> Result<FeedbackReport> {
        let filters = self.segment_filters(segments)?;
        let mut report = FeedbackReport::default();
        let mut members: std::collections::BTreeMap<CustomerId, Option<Vec<String>>> =
            std::collections::BTreeMap::new();
        for fact in self.facts(from, to)? {
            let names = match members.get(&fact.customer_id) {
                Some(names) => names.clone(),
                None => {
                    let names = self.memberships(fact.customer_id, &filters)?;
                    members.insert(fact.customer_id, names.clone());
                    names
                }
            };
            let Some(names) = names else { continue };
            let counted = match fact.what {
                FactKind::Answer(kind, score) => Counted::Answer(kind, score),
                FactKind::Review(rating) => Counted::Review(rating),
            };
            report.add(fact.at, counted, &names);
        }
        Ok(report)
    }

    /// Each segment's name and filter. Errors: [`StoreError::NotFound`].
    pub(crate) fn segment_filters(&self, segments: &[SegmentId]) -> Result<Vec<(String, Filter)>> {
        let mut filters = Vec::new();
        for id in segments {
            let s = self.segments().get(*id)?;
            let f = Filter::parse(&s.data.filter).map_err(|e| StoreError::Corrupt {
                key: format!("segment {id}"),
                detail: format!("its stored filter no longer parses: {e}"),
            })?;
            filters.push((s.data.name, f));
        }
        Ok(filters)
    }

    /// The segments among `filters` a customer belongs to now; `None` for a customer that no
    /// longer exists (a merged one is its survivor).
    pub(crate) fn memberships(
        &self,
        mut id: CustomerId,
        filters: &[(String, Filter)],
    ) -> Result<Option<Vec<String>>> {
        for _ in 0..=crate::customers::merge::MAX_MERGED {
            if let Some(c) = self.read_customer(id)? {
                if filters.is_empty() {
                    return Ok(Some(Vec::new()));
                }
                let insight = self.insights().insight(&c)?;
                let names = filters
                    .iter()
                    .filter(|(_, f)| f.matches_insight(&c, &insight))
                    .map(|(name, _)| name.clone())
                    .collect();
                return Ok(Some(names));
            }
            let tomb = self.inner.engine.get(keys::of_customer(keys::MERGED, id))?;
            match tomb.and_then(|t| keys::u64_value(t.get(..8)?)) {
                Some(survivor) => id = CustomerId(survivor),
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// Removes a deleted customer's feedback facts (found from its timeline's feedback entries).
pub(crate) fn forget_customer(w: &mut Write<'_>, id: CustomerId) -> Result<()> {
    let entries = w.scan_prefix(&keys::of_customer(keys::TIMELINE, id))?;
    for (key, value) in entries {
        // A damaged entry's fact (if any) stays; verify names the entry.
        let Ok(entry) = codec::decode::<crm_core::TimelineEntry>(&value, &|| keys::describe(&key))
        else {
            continue;
        };
        if matches!(entry.event, Event::Feedback(_) | Event::Review(_)) {
            w.delete_raw(fact_key(entry.occurred_at, entry.id));
        }
    }
    Ok(())
}

/// One feedback write: the timeline entry, the fact, an advocacy move.
fn record(
    w: &mut Write<'_>,
    id: CustomerId,
    m: &crate::timeline::record::Meta,
    event: Event,
    what: FactKind,
    ticket_id: Option<TicketId>,
    operation: &str,
) -> Result<Recorded> {
    record_in(w, id, m, operation, &mut |w, s| {
        let entry = w.append(s, m.at, &m.actor, event.clone())?;
        let fact = FeedbackFact {
            entry: entry.id,
            customer_id: id,
            at: m.at,
            what,
            ticket_id,
        };
        w.put_record::<FeedbackFamily>(None, Some(&fact))?;
        advocacy(w, s, m.at)?;
        Ok(Outcome::New(entry))
    })
}
