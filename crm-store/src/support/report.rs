//! The support report ([`crm_core::support::report`]), read in one pass over the tickets and
//! the period's feedback.

use chrono::{DateTime, Utc};
use crm_core::feedback::SurveyKind;
use crm_core::support::Ticket;
use crm_core::support::report::{SupportReport, SupportTally};

use super::Support;
use crate::error::Result;
use crate::kv::codec;
use crate::kv::keys::TICKET;

impl Support<'_> {
    /// The support report for tickets opened in `[from, to)`, as they stand now; the backlog
    /// is every open ticket now; CSAT counts answers about tickets given in the period.
    pub fn report(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<SupportReport> {
        let calendar = self.business_calendar()?.value;
        let now = self.now();
        let mut tally = SupportTally::new(from, to, now, &calendar);
        for item in self.inner.engine.scan_prefix(&[TICKET]) {
            let (key, value) = item?;
            let t: Ticket = codec::decode(&value, &|| crate::kv::keys::describe(&key))?;
            tally.add(&t);
        }
        for fact in self.feedback().facts(from, to)? {
            if let (Some(_), Some((SurveyKind::Csat, score))) = (fact.ticket_id, fact.answer()) {
                tally.add_csat(score, fact.at);
            }
        }
        Ok(tally.finish())
    }
}
