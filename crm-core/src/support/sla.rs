//! SLA clocks: how long the business may take to first reply to a ticket and to solve it, in
//! business time ([`super::calendar`]), and where each ticket stands against those targets.
//!
//! A ticket's clocks run from its opening while its status is NEW, OPEN or ON_HOLD; they stop
//! while it is PENDING (waiting on the customer) and once it is solved, and run again when it
//! is reopened. Each target is one of:
//!
//! - **running**: it has two instants, `at_risk` (when less than the policy's share of the
//!   target is left) and `due` (when none is left). Its status is ON_TRACK before `at_risk`,
//!   AT_RISK from it, BREACHED from `due`: it changes as time passes, with no write;
//! - **paused**: its business time left is frozen, and so is its status;
//! - **done**: the first reply was sent (for the first-response target; a ticket solved without
//!   a reply counts as answered then) or the ticket was solved (for the resolution target):
//!   MET if that took no more than the target, BREACHED otherwise.
//!
//! A ticket's `sla.status` is the worst of its targets: BREACHED, then AT_RISK, then ON_TRACK;
//! MET once every target is met. The clocks are computed at each write of the ticket from its
//! whole history with the policy and the calendar in force then; only the status depends on the
//! instant, and [`TicketSla::evaluate`] says until when it holds.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::BusinessCalendar;
use super::ticket::{Priority, Ticket, TicketStatus};
use crate::summary::opt_micros;
use crate::validate::Violations;

/// Longest SLA target: a year of business minutes.
pub const MAX_TARGET_MINUTES: i64 = 366 * 24 * 60;

/// Where a ticket stands against its SLA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SlaStatus {
    /// Time enough is left.
    OnTrack,
    /// Less than the policy's share of a target is left.
    AtRisk,
    /// A target passed before it was met.
    Breached,
    /// Every target was met.
    Met,
}

impl SlaStatus {
    /// Every status, in contract order.
    pub const ALL: [SlaStatus; 4] = [
        SlaStatus::OnTrack,
        SlaStatus::AtRisk,
        SlaStatus::Breached,
        SlaStatus::Met,
    ];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            SlaStatus::OnTrack => "ON_TRACK",
            SlaStatus::AtRisk => "AT_RISK",
            SlaStatus::Breached => "BREACHED",
            SlaStatus::Met => "MET",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<SlaStatus> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    fn severity(self) -> u8 {
        match self {
            SlaStatus::Met => 0,
            SlaStatus::OnTrack => 1,
            SlaStatus::AtRisk => 2,
            SlaStatus::Breached => 3,
        }
    }
}

/// The targets for one priority, in business minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityTargets {
    /// Which priority.
    pub priority: Priority,
    /// Time to the first public reply.
    pub first_response_minutes: i64,
    /// Time to solve.
    pub resolution_minutes: i64,
}

/// The SLA policy: targets per priority (a priority without targets has no SLA).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// Targets, at most one entry per priority.
    pub targets: Vec<PriorityTargets>,
    /// A target is AT_RISK when less than this share of it is left (percent, 1-99).
    pub at_risk_percent: u8,
}

impl Default for SlaPolicy {
    /// No targets: tickets have no SLA until a policy is set.
    fn default() -> Self {
        SlaPolicy {
            targets: Vec::new(),
            at_risk_percent: 25,
        }
    }
}

impl SlaPolicy {
    /// Checks a policy: positive targets within a year, one entry per priority, a share of
    /// 1-99 percent.
    pub fn validate(&mut self) -> Result<(), Violations> {
        let mut v = Violations::default();
        for (i, t) in self.targets.iter().enumerate() {
            for (field, minutes) in [
                ("first_response_minutes", t.first_response_minutes),
                ("resolution_minutes", t.resolution_minutes),
            ] {
                if minutes <= 0 {
                    v.add(
                        format!("targets[{i}].{field}"),
                        format!("must be positive, got {minutes}"),
                    );
                } else if minutes > MAX_TARGET_MINUTES {
                    v.add(
                        format!("targets[{i}].{field}"),
                        format!("must be at most {MAX_TARGET_MINUTES} (a year)"),
                    );
                }
            }
            if let Some(j) = self.targets[..i]
                .iter()
                .position(|o| o.priority == t.priority)
            {
                v.add(
                    format!("targets[{i}].priority"),
                    format!("{} already has targets in targets[{j}]", t.priority.name()),
                );
            }
        }
        if !(1..=99).contains(&self.at_risk_percent) {
            v.add("at_risk_percent", "must be 1 to 99");
        }
        if v.is_empty() {
            self.targets.sort_by_key(|t| t.priority);
        }
        v.into_result(())
    }

    /// The targets for a priority.
    pub fn for_priority(&self, p: Priority) -> Option<PriorityTargets> {
        self.targets.iter().copied().find(|t| t.priority == p)
    }
}

/// One target's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Clock {
    /// Running: AT_RISK from `at_risk`, BREACHED from `due` (`None`: beyond the calendar's
    /// reach).
    Running {
        /// When less than the policy's share is left.
        #[serde(with = "opt_micros")]
        at_risk: Option<DateTime<Utc>>,
        /// When nothing is left.
        #[serde(with = "opt_micros")]
        due: Option<DateTime<Utc>>,
    },
    /// Stopped while the ticket waits on the customer.
    Paused {
        /// Business seconds left (negative: overdue).
        remaining_seconds: i64,
        /// The status it stopped at.
        status: SlaStatus,
    },
    /// Met or missed.
    Done {
        /// When the reply was sent or the ticket solved.
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
        /// Whether that took no more than the target.
        met: bool,
    },
}

impl Clock {
    /// The status at `now`, and the first later instant at which it changes (if it can).
    pub fn status_at(&self, now: DateTime<Utc>) -> (SlaStatus, Option<DateTime<Utc>>) {
        match *self {
            Clock::Running { at_risk, due } => {
                let reached = |t: Option<DateTime<Utc>>| t.is_some_and(|t| now >= t);
                let status = if reached(due) {
                    SlaStatus::Breached
                } else if reached(at_risk) {
                    SlaStatus::AtRisk
                } else {
                    SlaStatus::OnTrack
                };
                let next = [at_risk, due]
                    .into_iter()
                    .flatten()
                    .filter(|t| *t > now)
                    .min();
                (status, next)
            }
            Clock::Paused { status, .. } => (status, None),
            Clock::Done { met: true, .. } => (SlaStatus::Met, None),
            Clock::Done { met: false, .. } => (SlaStatus::Breached, None),
        }
    }
}

/// A target and its clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetClock {
    /// The target, in business minutes.
    pub target_minutes: i64,
    /// Where it stands.
    pub clock: Clock,
}

impl TargetClock {
    /// Business time left at `now` (negative: overdue), for a target not done.
    pub fn remaining(&self, now: DateTime<Utc>, calendar: &BusinessCalendar) -> Option<Duration> {
        match self.clock {
            Clock::Running { due: Some(due), .. } if now < due => Some(calendar.between(now, due)),
            Clock::Running { due: Some(due), .. } => Some(-calendar.between(due, now)),
            Clock::Running { due: None, .. } | Clock::Done { .. } => None,
            Clock::Paused {
                remaining_seconds, ..
            } => Some(Duration::seconds(remaining_seconds)),
        }
    }

    /// The due instant of a running target.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        match self.clock {
            Clock::Running { due, .. } => due,
            _ => None,
        }
    }
}

/// A ticket's SLA: its clocks and their state as last evaluated (`status`, `until`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSla {
    /// The first-response target's clock.
    pub first_response: Option<TargetClock>,
    /// The resolution target's clock.
    pub resolution: Option<TargetClock>,
    /// The status when last evaluated (`None`: no SLA).
    pub status: Option<SlaStatus>,
    /// The first instant the status may differ without a write.
    #[serde(with = "opt_micros")]
    pub until: Option<DateTime<Utc>>,
}

impl TicketSla {
    /// The clocks of a ticket, from its history, under `policy` and `calendar` (not evaluated:
    /// call [`TicketSla::evaluate`]).
    pub fn compute(t: &Ticket, policy: &SlaPolicy, calendar: &BusinessCalendar) -> TicketSla {
        let Some(targets) = policy.for_priority(t.data.priority) else {
            return TicketSla::default();
        };
        let segments = running_segments(t);
        let replied = [t.first_reply_at, t.first_solved_at()]
            .into_iter()
            .flatten()
            .min();
        let clock = |minutes: i64, done: Option<DateTime<Utc>>| TargetClock {
            target_minutes: minutes,
            clock: clock(&segments, minutes, policy.at_risk_percent, done, calendar),
        };
        TicketSla {
            first_response: Some(clock(targets.first_response_minutes, replied)),
            resolution: Some(clock(targets.resolution_minutes, t.solved_at())),
            status: None,
            until: None,
        }
    }

    /// The state at `now`: the worst target's status, and until when it holds.
    pub fn at(&self, now: DateTime<Utc>) -> (Option<SlaStatus>, Option<DateTime<Utc>>) {
        let states: Vec<(SlaStatus, Option<DateTime<Utc>>)> =
            [self.first_response, self.resolution]
                .into_iter()
                .flatten()
                .map(|c| c.clock.status_at(now))
                .collect();
        let status = states.iter().map(|s| s.0).max_by_key(|s| s.severity());
        let until = states.iter().filter_map(|s| s.1).min();
        (status, until)
    }

    /// Evaluates the state at `now` into `status` and `until`.
    pub fn evaluate(&mut self, now: DateTime<Utc>) {
        (self.status, self.until) = self.at(now);
    }
}

/// The spans in which the clocks ran: from each instant the ticket entered a running status
/// to the next move (`None`: still running).
pub fn running_segments(t: &Ticket) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut out = Vec::new();
    let mut current = (t.opened_at, TicketStatus::New);
    for m in &t.moves {
        if current.1.clock_runs() {
            out.push((current.0, Some(m.at)));
        }
        current = (m.at, m.to);
    }
    if current.1.clock_runs() {
        out.push((current.0, None));
    }
    out
}

fn clock(
    segments: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    target_minutes: i64,
    at_risk_percent: u8,
    done: Option<DateTime<Utc>>,
    cal: &BusinessCalendar,
) -> Clock {
    // A policy read from disk is not validated again: clamp what a damaged one could hold.
    let target_minutes = target_minutes.clamp(1, MAX_TARGET_MINUTES);
    let share = i64::from(100u8.saturating_sub(at_risk_percent.clamp(1, 99)));
    let target = Duration::minutes(target_minutes);
    let risk = Duration::seconds(target_minutes * 60 * share / 100);
    if let Some(done) = done {
        let used: Duration = segments
            .iter()
            .map(|&(s, e)| cal.between(s, e.unwrap_or(done).min(done)))
            .sum();
        return Clock::Done {
            at: done,
            met: used <= target,
        };
    }
    let mut used = Duration::zero();
    let (mut at_risk, mut due) = (None, None);
    for &(start, end) in segments {
        let Some(end) = end else {
            let at_risk = at_risk.or_else(|| cal.add(start, risk - used));
            let due = due.or_else(|| cal.add(start, target - used));
            return Clock::Running { at_risk, due };
        };
        let span = cal.between(start, end);
        if at_risk.is_none() && used + span >= risk {
            at_risk = cal.add(start, risk - used);
        }
        if due.is_none() && used + span >= target {
            due = cal.add(start, target - used);
        }
        used += span;
    }
    let status = if used >= target {
        SlaStatus::Breached
    } else if used >= risk {
        SlaStatus::AtRisk
    } else {
        SlaStatus::OnTrack
    };
    Clock::Paused {
        remaining_seconds: (target - used).num_seconds(),
        status,
    }
}
