//! The support report: how fast tickets are answered and solved (business hours, median and
//! 90th percentile), how often SLA targets are met, the backlog, reopens, and the satisfaction
//! of customers whose tickets were solved.
//!
//! | figure | over |
//! |---|---|
//! | first-response time | tickets opened in the period that got a first reply: business time the clock ran from opening to the reply |
//! | resolution time | tickets opened in the period that are solved or closed: business time the clock ran from opening to the solve |
//! | SLA attainment | targets of tickets opened in the period that are decided (met, or breached): the share met |
//! | backlog | every ticket not solved or closed, now, by status and by priority |
//! | reopen rate | tickets opened in the period and solved at least once: the share reopened |
//! | CSAT of solved tickets | CSAT answers naming a ticket, given in the period: the share of 4-5 |

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::calendar::BusinessCalendar;
use super::sla::{SlaStatus, running_segments};
use super::ticket::{Priority, Ticket, TicketStatus};

/// A distribution of durations, in business hours.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Times {
    /// How many tickets.
    pub count: u64,
    /// The median, in hours.
    pub median_hours: f64,
    /// The 90th percentile (nearest rank), in hours.
    pub p90_hours: f64,
}

impl Times {
    fn of(mut seconds: Vec<i64>) -> Times {
        if seconds.is_empty() {
            return Times::default();
        }
        seconds.sort_unstable();
        let rank = |p: f64| {
            let n = seconds.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            seconds[i] as f64 / 3600.0
        };
        Times {
            count: seconds.len() as u64,
            median_hours: rank(0.5),
            p90_hours: rank(0.9),
        }
    }
}

/// The support report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SupportReport {
    /// Tickets opened in the period.
    pub opened: u64,
    /// Of those, solved (or closed) now.
    pub solved: u64,
    /// First-response times.
    pub first_response: Times,
    /// Resolution times.
    pub resolution: Times,
    /// SLA targets met.
    pub sla_met: u64,
    /// SLA targets breached.
    pub sla_breached: u64,
    /// Open tickets now, by status and priority.
    pub backlog: BTreeMap<(TicketStatus, Priority), u64>,
    /// Tickets opened in the period and solved at least once.
    pub ever_solved: u64,
    /// Of those, reopened at least once.
    pub reopened: u64,
    /// CSAT answers about tickets in the period.
    pub csat_responses: u64,
    /// Of those, 4 or 5.
    pub csat_satisfied: u64,
}

impl SupportReport {
    /// The share of decided SLA targets that were met, in percent (`None`: none decided).
    pub fn sla_attainment_percent(&self) -> Option<f64> {
        let decided = self.sla_met + self.sla_breached;
        (decided > 0).then(|| 100.0 * self.sla_met as f64 / decided as f64)
    }

    /// The share of solved tickets that were reopened, in percent.
    pub fn reopen_rate_percent(&self) -> Option<f64> {
        (self.ever_solved > 0).then(|| 100.0 * self.reopened as f64 / self.ever_solved as f64)
    }

    /// The share of CSAT answers about tickets that were 4-5, in percent.
    pub fn csat_percent(&self) -> Option<f64> {
        (self.csat_responses > 0)
            .then(|| 100.0 * self.csat_satisfied as f64 / self.csat_responses as f64)
    }
}

/// The business time a ticket's clock ran from its opening to `end`.
pub fn business_time_to(t: &Ticket, end: DateTime<Utc>, cal: &BusinessCalendar) -> Duration {
    running_segments(t)
        .into_iter()
        .filter(|(s, _)| *s < end)
        .map(|(s, e)| cal.between(s, e.unwrap_or(end).min(end)))
        .sum()
}

/// Builds a [`SupportReport`] one ticket at a time.
#[derive(Debug)]
pub struct SupportTally<'a> {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    calendar: &'a BusinessCalendar,
    first_response: Vec<i64>,
    resolution: Vec<i64>,
    report: SupportReport,
}

impl<'a> SupportTally<'a> {
    /// A tally of tickets opened in `[from, to)`, as they stand at `now`.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        calendar: &'a BusinessCalendar,
    ) -> Self {
        SupportTally {
            from,
            to,
            now,
            calendar,
            first_response: Vec::new(),
            resolution: Vec::new(),
            report: SupportReport::default(),
        }
    }

    /// Counts one ticket.
    pub fn add(&mut self, t: &Ticket) {
        let r = &mut self.report;
        if t.status.is_open() {
            *r.backlog.entry((t.status, t.data.priority)).or_default() += 1;
        }
        if t.opened_at < self.from || t.opened_at >= self.to {
            return;
        }
        r.opened += 1;
        if let Some(reply) = t.first_reply_at {
            let time = business_time_to(t, reply, self.calendar);
            self.first_response.push(time.num_seconds());
        }
        if let Some(solved) = t.solved_at() {
            r.solved += 1;
            let time = business_time_to(t, solved, self.calendar);
            self.resolution.push(time.num_seconds());
        }
        if t.first_solved_at().is_some() {
            r.ever_solved += 1;
            if t.reopen_count > 0 {
                r.reopened += 1;
            }
        }
        for clock in [t.sla.first_response, t.sla.resolution]
            .into_iter()
            .flatten()
        {
            match clock.clock.status_at(self.now).0 {
                SlaStatus::Met => r.sla_met += 1,
                SlaStatus::Breached => r.sla_breached += 1,
                SlaStatus::OnTrack | SlaStatus::AtRisk => {}
            }
        }
    }

    /// Counts one CSAT answer about a ticket, given at `at`.
    pub fn add_csat(&mut self, score: u8, at: DateTime<Utc>) {
        if at >= self.from && at < self.to {
            self.report.csat_responses += 1;
            if score >= 4 {
                self.report.csat_satisfied += 1;
            }
        }
    }

    /// The report.
    pub fn finish(mut self) -> SupportReport {
        self.report.first_response = Times::of(self.first_response);
        self.report.resolution = Times::of(self.resolution);
        self.report
    }
}
