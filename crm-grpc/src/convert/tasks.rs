//! Tasks between `crm.v1` messages and `crm-core` types.

use chrono::{DateTime, Utc};
use crm_core::Violations;
use crm_core::tasks::{Task, TaskData, TaskLink, TaskSource, TaskStatus};

use super::deals::hex_id;
use super::{parse_id, time_from_proto, time_to_proto};
use crate::pb;

/// A task status from its contract value.
pub fn task_status_from_proto(s: i32) -> Option<TaskStatus> {
    Some(match pb::TaskStatus::try_from(s).ok()? {
        pb::TaskStatus::Unspecified => return None,
        pb::TaskStatus::TaskOpen => TaskStatus::Open,
        pb::TaskStatus::TaskDone => TaskStatus::Done,
        pb::TaskStatus::TaskCancelled => TaskStatus::Cancelled,
    })
}

fn task_status_to_proto(s: TaskStatus) -> pb::TaskStatus {
    match s {
        TaskStatus::Open => pb::TaskStatus::TaskOpen,
        TaskStatus::Done => pb::TaskStatus::TaskDone,
        TaskStatus::Cancelled => pb::TaskStatus::TaskCancelled,
    }
}

/// A task's link from its message's `link`.
pub fn link_from_proto(link: Option<pb::task::Link>) -> Result<Option<TaskLink>, Violations> {
    Ok(match link {
        None => None,
        Some(pb::task::Link::CustomerId(c)) => {
            Some(TaskLink::Customer(parse_id("customer_id", &c)?))
        }
        Some(pb::task::Link::DealId(d)) => Some(TaskLink::Deal(hex_id("deal_id", &d)?)),
        Some(pb::task::Link::TicketId(t)) => Some(TaskLink::Ticket(hex_id("ticket_id", &t)?)),
    })
}

/// A list filter's link from its request's `link`.
pub fn list_link_from_proto(
    link: Option<pb::list_tasks_request::Link>,
) -> Result<Option<TaskLink>, Violations> {
    use pb::list_tasks_request::Link as L;
    link_from_proto(link.map(|l| match l {
        L::CustomerId(c) => pb::task::Link::CustomerId(c),
        L::DealId(d) => pb::task::Link::DealId(d),
        L::TicketId(t) => pb::task::Link::TicketId(t),
    }))
}

/// A task's data from its message. With `only`, a missing due time is not a violation (an
/// update that does not name it).
pub fn task_from_proto(t: pb::Task, only: Option<&[String]>) -> Result<TaskData, Violations> {
    let pb::Task {
        id: _,
        title,
        notes,
        due_time,
        owner,
        link,
        status: _,
        overdue: _,
        source: _,
        source_event: _,
        close_time: _,
        create_time: _,
        update_time: _,
        etag: _,
    } = t;
    let mut v = Violations::default();
    let needs_due = only.is_none_or(|m| m.iter().any(|f| f == "due_time"));
    let due = match due_time.as_ref().map(time_from_proto) {
        Some(Some(t)) => t,
        Some(None) => {
            v.add("due_time", "is not a valid time");
            DateTime::<Utc>::default()
        }
        None => {
            if needs_due {
                v.add("due_time", "is required");
            }
            DateTime::<Utc>::default()
        }
    };
    let link = link_from_proto(link).unwrap_or_else(|e| {
        v.0.extend(e.0);
        None
    });
    v.into_result(TaskData {
        title,
        notes,
        due_time: due,
        owner,
        link,
    })
}

/// A task as a message, `overdue` as of `now`.
pub fn task_to_proto(t: &Task, now: DateTime<Utc>) -> pb::Task {
    let (source, source_event) = match &t.source {
        TaskSource::Person(actor) => (actor.clone(), 0),
        TaskSource::Rule { rule, event } => (format!("rule:{rule}"), *event),
    };
    pb::Task {
        id: t.id.to_string(),
        title: t.data.title.clone(),
        notes: t.data.notes.clone(),
        due_time: Some(time_to_proto(t.data.due_time)),
        owner: t.data.owner.clone(),
        link: t.data.link.map(|l| match l {
            TaskLink::Customer(c) => pb::task::Link::CustomerId(c.to_string()),
            TaskLink::Deal(d) => pb::task::Link::DealId(d.to_string()),
            TaskLink::Ticket(k) => pb::task::Link::TicketId(k.to_string()),
        }),
        status: task_status_to_proto(t.status).into(),
        overdue: t.overdue(now),
        source,
        source_event,
        close_time: t.closed_at.map(time_to_proto),
        create_time: Some(time_to_proto(t.create_time)),
        update_time: Some(time_to_proto(t.update_time)),
        etag: crm_store::tasks::etag_of(t),
    }
}
