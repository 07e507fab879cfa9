//! Support between `crm.v1` messages and `crm-core` types: tickets and their SLA, messages,
//! the SLA policy, the business calendar, the support report.

use chrono::{DateTime, NaiveDate, Utc};
use crm_core::support::calendar::clock_text;
use crm_core::support::report::{SupportReport, Times};
use crm_core::support::{
    BusinessCalendar, Clock, Holiday, Priority, PriorityTargets, SlaPolicy, SlaStatus, TargetClock,
    Ticket, TicketData, TicketMessage, TicketStatus, WorkingHours,
};
use crm_core::timeline::{TicketEvent, TicketEventKind};
use crm_core::{CustomerId, Violations};
use crm_store::support::{Configured, etag_of};

use super::{parse_id, time_to_proto};
use crate::pb;

/// A ticket status from its contract value.
pub fn status_from_proto(s: i32) -> Option<TicketStatus> {
    use pb::TicketStatus as S;
    Some(match S::try_from(s).ok()? {
        S::Unspecified => return None,
        S::TicketNew => TicketStatus::New,
        S::TicketOpen => TicketStatus::Open,
        S::TicketPending => TicketStatus::Pending,
        S::TicketOnHold => TicketStatus::OnHold,
        S::TicketSolved => TicketStatus::Solved,
        S::TicketClosed => TicketStatus::Closed,
    })
}

fn status_to_proto(s: TicketStatus) -> pb::TicketStatus {
    use pb::TicketStatus as S;
    match s {
        TicketStatus::New => S::TicketNew,
        TicketStatus::Open => S::TicketOpen,
        TicketStatus::Pending => S::TicketPending,
        TicketStatus::OnHold => S::TicketOnHold,
        TicketStatus::Solved => S::TicketSolved,
        TicketStatus::Closed => S::TicketClosed,
    }
}

/// A priority from its contract value (`None`: unspecified).
fn priority_from_proto(p: i32) -> Result<Option<Priority>, String> {
    use pb::TicketPriority as P;
    Ok(Some(
        match P::try_from(p).map_err(|_| format!("{p} is not a priority"))? {
            P::Unspecified => return Ok(None),
            P::PriorityLow => Priority::Low,
            P::PriorityNormal => Priority::Normal,
            P::PriorityHigh => Priority::High,
            P::PriorityUrgent => Priority::Urgent,
        },
    ))
}

fn priority_to_proto(p: Priority) -> pb::TicketPriority {
    use pb::TicketPriority as P;
    match p {
        Priority::Low => P::PriorityLow,
        Priority::Normal => P::PriorityNormal,
        Priority::High => P::PriorityHigh,
        Priority::Urgent => P::PriorityUrgent,
    }
}

fn sla_to_proto(s: Option<SlaStatus>) -> pb::SlaStatus {
    match s {
        None => pb::SlaStatus::Unspecified,
        Some(SlaStatus::OnTrack) => pb::SlaStatus::OnTrack,
        Some(SlaStatus::AtRisk) => pb::SlaStatus::SlaAtRisk,
        Some(SlaStatus::Breached) => pb::SlaStatus::Breached,
        Some(SlaStatus::Met) => pb::SlaStatus::Met,
    }
}

/// What a ticket message carries (`open_time` taken apart): the data, the opening time.
#[derive(Debug)]
pub struct TicketInput {
    /// The ticket's data.
    pub data: TicketData,
    /// When it was opened, if given.
    pub opened_at: Option<DateTime<Utc>>,
}

/// A ticket from its message (for create; an update reads the fields its mask names).
pub fn ticket_from_proto(t: pb::Ticket) -> Result<TicketInput, Violations> {
    let pb::Ticket {
        id: _,
        customer_id,
        order_ref,
        subject,
        channel,
        priority,
        assignee,
        tags,
        status: _,
        open_time,
        first_reply_time: _,
        solve_time: _,
        message_count: _,
        reopen_count: _,
        sla: _,
        create_time: _,
        update_time: _,
        etag: _,
    } = t;
    let mut v = Violations::default();
    let customer_id = if customer_id.trim().is_empty() {
        CustomerId(0)
    } else {
        parse_id("customer_id", &customer_id)
            .map_err(|e| v.0.extend(e.0))
            .unwrap_or(CustomerId(0))
    };
    let priority = priority_from_proto(priority)
        .map_err(|e| v.add("priority", e))
        .ok()
        .flatten()
        .unwrap_or(Priority::Normal);
    let opened_at = crate::services::common::time_in(&mut v, "open_time", open_time);
    let data = TicketData {
        customer_id,
        order_ref: Some(order_ref).filter(|o| !o.trim().is_empty()),
        subject,
        channel,
        priority,
        assignee: Some(assignee).filter(|a| !a.trim().is_empty()),
        tags,
    };
    v.into_result(TicketInput { data, opened_at })
}

fn target_to_proto(
    c: Option<TargetClock>,
    now: DateTime<Utc>,
    calendar: &BusinessCalendar,
) -> Option<pb::SlaTarget> {
    let c = c?;
    let (status, _) = c.clock.status_at(now);
    Some(pb::SlaTarget {
        target_minutes: c.target_minutes,
        status: sla_to_proto(Some(status)) as i32,
        due_time: c.due().map(time_to_proto),
        remaining_seconds: c.remaining(now, calendar).map(|d| d.num_seconds()),
        paused: matches!(c.clock, Clock::Paused { .. }),
        done_time: match c.clock {
            Clock::Done { at, .. } => Some(time_to_proto(at)),
            _ => None,
        },
    })
}

/// A ticket as a message, its SLA as of `now` under `calendar` (for business time left).
pub fn ticket_to_proto(t: &Ticket, now: DateTime<Utc>, calendar: &BusinessCalendar) -> pb::Ticket {
    let (status, _) = t.sla.at(now);
    pb::Ticket {
        id: t.id.to_string(),
        customer_id: t.data.customer_id.to_string(),
        order_ref: t.data.order_ref.clone().unwrap_or_default(),
        subject: t.data.subject.clone(),
        channel: t.data.channel.clone(),
        priority: priority_to_proto(t.data.priority) as i32,
        assignee: t.data.assignee.clone().unwrap_or_default(),
        tags: t.data.tags.clone(),
        status: status_to_proto(t.status) as i32,
        open_time: Some(time_to_proto(t.opened_at)),
        first_reply_time: t.first_reply_at.map(time_to_proto),
        solve_time: t.solved_at().map(time_to_proto),
        message_count: i32::try_from(t.message_count).unwrap_or(i32::MAX),
        reopen_count: i32::try_from(t.reopen_count).unwrap_or(i32::MAX),
        sla: Some(pb::TicketSla {
            status: sla_to_proto(status) as i32,
            first_response: target_to_proto(t.sla.first_response, now, calendar),
            resolution: target_to_proto(t.sla.resolution, now, calendar),
        }),
        create_time: Some(time_to_proto(t.create_time)),
        update_time: Some(time_to_proto(t.update_time)),
        etag: etag_of(t),
    }
}

/// A message as a message.
pub fn message_to_proto(m: &TicketMessage) -> pb::TicketMessage {
    pb::TicketMessage {
        number: i32::try_from(m.number).unwrap_or(i32::MAX),
        author: m.author.clone(),
        from_customer: m.from_customer,
        public: m.public,
        body: m.body.clone(),
        create_time: Some(time_to_proto(m.at)),
    }
}

/// A ticket event as a message.
pub fn ticket_event_to_proto(e: &TicketEvent) -> pb::TicketEvent {
    use pb::ticket_event::What;
    pb::TicketEvent {
        ticket_id: e.ticket_id.to_string(),
        what: match e.what {
            TicketEventKind::Opened => What::Opened,
            TicketEventKind::FirstReply => What::FirstReply,
            TicketEventKind::Solved => What::Solved,
            TicketEventKind::Reopened => What::Reopened,
        } as i32,
        subject: e.subject.clone(),
    }
}

/// A policy from its message.
pub fn policy_from_proto(p: pb::SlaPolicy) -> Result<SlaPolicy, Violations> {
    let pb::SlaPolicy {
        targets,
        at_risk_percent,
        version: _,
        update_time: _,
        etag: _,
    } = p;
    let mut v = Violations::default();
    let mut out = Vec::new();
    for (i, t) in targets.into_iter().enumerate() {
        let priority = match priority_from_proto(t.priority) {
            Ok(Some(p)) => p,
            Ok(None) => {
                v.add(format!("targets[{i}].priority"), "is required");
                continue;
            }
            Err(e) => {
                v.add(format!("targets[{i}].priority"), e);
                continue;
            }
        };
        out.push(PriorityTargets {
            priority,
            first_response_minutes: t.first_response_minutes,
            resolution_minutes: t.resolution_minutes,
        });
    }
    let at_risk_percent = u8::try_from(at_risk_percent).unwrap_or(0);
    v.into_result(SlaPolicy {
        targets: out,
        at_risk_percent,
    })
}

/// The policy in force as a message.
pub fn policy_to_proto(p: &Configured<SlaPolicy>) -> pb::SlaPolicy {
    pb::SlaPolicy {
        targets: p
            .value
            .targets
            .iter()
            .map(|t| pb::PriorityTargets {
                priority: priority_to_proto(t.priority) as i32,
                first_response_minutes: t.first_response_minutes,
                resolution_minutes: t.resolution_minutes,
            })
            .collect(),
        at_risk_percent: i32::from(p.value.at_risk_percent),
        version: i64::try_from(p.version).unwrap_or(i64::MAX),
        update_time: p.update_time.map(time_to_proto),
        etag: p.etag(),
    }
}

/// `HH:MM` as a minute of the day (24:00 allowed where `end_of_day`).
fn minute_of(v: &mut Violations, field: &str, text: &str, end_of_day: bool) -> u16 {
    let parsed = text.trim().split_once(':').and_then(|(h, m)| {
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (end_of_day && h == 24 && m == 0))).then_some(h * 60 + m)
    });
    parsed.unwrap_or_else(|| {
        v.add(field, format!("{text:?} is not a time of day HH:MM"));
        0
    })
}

/// A calendar from its message.
pub fn calendar_from_proto(c: pb::BusinessCalendar) -> Result<BusinessCalendar, Violations> {
    let pb::BusinessCalendar {
        time_zone,
        hours,
        holidays,
        version: _,
        update_time: _,
        etag: _,
    } = c;
    let mut v = Violations::default();
    let hours = hours
        .into_iter()
        .enumerate()
        .map(|(i, h)| WorkingHours {
            weekday: u8::try_from(h.weekday).unwrap_or(0),
            start_minute: minute_of(&mut v, &format!("hours[{i}].start"), &h.start, false),
            end_minute: minute_of(&mut v, &format!("hours[{i}].end"), &h.end, true),
        })
        .collect();
    let holidays = holidays
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let date = NaiveDate::parse_from_str(h.date.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
                v.add(
                    format!("holidays[{i}].date"),
                    format!("{:?} is not a date YYYY-MM-DD", h.date),
                );
                NaiveDate::MIN
            });
            let closes_at_minute = match h.closes_at.trim() {
                "" => None,
                t => Some(minute_of(
                    &mut v,
                    &format!("holidays[{i}].closes_at"),
                    t,
                    false,
                )),
            };
            Holiday {
                date,
                name: h.name,
                closes_at_minute,
            }
        })
        .collect();
    v.into_result(BusinessCalendar {
        time_zone,
        hours,
        holidays,
    })
}

/// The calendar in force as a message.
pub fn calendar_to_proto(c: &Configured<BusinessCalendar>) -> pb::BusinessCalendar {
    pb::BusinessCalendar {
        time_zone: c.value.time_zone.clone(),
        hours: c
            .value
            .hours
            .iter()
            .map(|h| pb::WorkingHours {
                weekday: i32::from(h.weekday),
                start: clock_text(h.start_minute),
                end: clock_text(h.end_minute),
            })
            .collect(),
        holidays: c
            .value
            .holidays
            .iter()
            .map(|h| pb::Holiday {
                date: h.date.format("%Y-%m-%d").to_string(),
                name: h.name.clone(),
                closes_at: h.closes_at_minute.map(clock_text).unwrap_or_default(),
            })
            .collect(),
        version: i64::try_from(c.version).unwrap_or(i64::MAX),
        update_time: c.update_time.map(time_to_proto),
        etag: c.etag(),
    }
}

fn times(t: &Times) -> pb::BusinessTimes {
    pb::BusinessTimes {
        count: i64::try_from(t.count).unwrap_or(i64::MAX),
        median_hours: t.median_hours,
        p90_hours: t.p90_hours,
    }
}

/// The support report as a message.
pub fn support_report_to_proto(r: &SupportReport) -> pb::SupportReport {
    let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let mut backlog = Vec::new();
    for status in TicketStatus::ALL.into_iter().filter(|s| s.is_open()) {
        for priority in Priority::ALL {
            let count = r.backlog.get(&(status, priority)).copied().unwrap_or(0);
            if count > 0 {
                backlog.push(pb::BacklogCount {
                    status: status_to_proto(status) as i32,
                    priority: priority_to_proto(priority) as i32,
                    count: n(count),
                });
            }
        }
    }
    pb::SupportReport {
        opened: n(r.opened),
        solved: n(r.solved),
        first_response: Some(times(&r.first_response)),
        resolution: Some(times(&r.resolution)),
        sla_met: n(r.sla_met),
        sla_breached: n(r.sla_breached),
        sla_attainment_percent: r.sla_attainment_percent(),
        backlog,
        ever_solved: n(r.ever_solved),
        reopened: n(r.reopened),
        reopen_rate_percent: r.reopen_rate_percent(),
        csat_responses: n(r.csat_responses),
        csat_percent: r.csat_percent(),
    }
}
