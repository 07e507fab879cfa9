//! The ticket filter: the same language as the customer filter (AIP-160 subset), over a
//! ticket's fields.
//!
//! | field | operators | value |
//! |---|---|---|
//! | `status` | `=` `!=` | `NEW`, `OPEN`, `PENDING`, `ON_HOLD`, `SOLVED`, `CLOSED` |
//! | `priority` | all comparisons (`LOW < NORMAL < HIGH < URGENT`) | a priority |
//! | `assignee`, `channel` | `=` `!=` | text (`""`: nobody) |
//! | `customer_id` | `=` `!=` | a customer id |
//! | `tags` | `:` (has) | a tag |
//! | `sla.status` | `=` `!=` | `ON_TRACK`, `AT_RISK`, `BREACHED`, `MET` (tickets with an SLA) |
//! | `sla.first_response_due`, `sla.resolution_due` | all comparisons | an RFC 3339 time (tickets whose target is running) |
//! | `create_time`, `update_time` | all comparisons | an RFC 3339 time |

use chrono::{DateTime, Utc};

use super::sla::SlaStatus;
use super::ticket::{Priority, Ticket, TicketStatus};
use crate::customer::CustomerId;
use crate::filter::{Comparison, Expr, FilterError, Op};

/// One comparison on a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketTerm {
    /// `status OP S`
    Status(Op, TicketStatus),
    /// `priority OP P`
    Priority(Op, Priority),
    /// `assignee OP TEXT`
    Assignee(Op, String),
    /// `channel OP TEXT`
    Channel(Op, String),
    /// `customer_id OP ID`
    Customer(Op, CustomerId),
    /// `tags:"x"`
    Tag(String),
    /// `sla.status OP S` (as of the instant the filter is evaluated at)
    Sla(Op, SlaStatus),
    /// `sla.first_response_due OP TIME`
    FirstResponseDue(Op, DateTime<Utc>),
    /// `sla.resolution_due OP TIME`
    ResolutionDue(Op, DateTime<Utc>),
    /// `create_time OP TIME`
    CreateTime(Op, DateTime<Utc>),
    /// `update_time OP TIME`
    UpdateTime(Op, DateTime<Utc>),
}

/// A parsed ticket filter.
pub type TicketFilter = Expr<TicketTerm>;

/// Parses a ticket filter.
pub fn parse(text: &str) -> Result<TicketFilter, FilterError> {
    Expr::parse_with(text, &term)
}

fn term(
    field: &str,
    op: Op,
    value: &str,
    field_at: usize,
    value_at: usize,
) -> Result<TicketTerm, FilterError> {
    let c = Comparison {
        field,
        op,
        value,
        field_at,
        value_at,
    };
    Ok(match field {
        "status" => TicketTerm::Status(
            c.equality()?,
            TicketStatus::parse(value).ok_or_else(|| {
                c.bad_value("expected NEW, OPEN, PENDING, ON_HOLD, SOLVED or CLOSED")
            })?,
        ),
        "priority" => TicketTerm::Priority(
            c.ordered()?,
            Priority::parse(value)
                .ok_or_else(|| c.bad_value("expected LOW, NORMAL, HIGH or URGENT"))?,
        ),
        "assignee" => TicketTerm::Assignee(c.equality()?, value.trim().to_owned()),
        "channel" => TicketTerm::Channel(c.equality()?, value.trim().to_owned()),
        "customer_id" => TicketTerm::Customer(
            c.equality()?,
            value
                .parse()
                .map_err(|e: crate::customer::InvalidCustomerId| c.bad_value(&e.to_string()))?,
        ),
        "tags" => {
            if op != Op::Has {
                return Err(c.bad_op());
            }
            TicketTerm::Tag(crate::normalize::normalize_tag(value).map_err(|e| c.bad_value(e))?)
        }
        "sla.status" => TicketTerm::Sla(
            c.equality()?,
            SlaStatus::parse(value)
                .ok_or_else(|| c.bad_value("expected ON_TRACK, AT_RISK, BREACHED or MET"))?,
        ),
        "sla.first_response_due" => TicketTerm::FirstResponseDue(c.ordered()?, c.time()?),
        "sla.resolution_due" => TicketTerm::ResolutionDue(c.ordered()?, c.time()?),
        "create_time" => TicketTerm::CreateTime(c.ordered()?, c.time()?),
        "update_time" => TicketTerm::UpdateTime(c.ordered()?, c.time()?),
        _ => return Err(c.unknown("ticket")),
    })
}

/// Whether a ticket matches at `now` (its SLA status as of `now`).
pub fn matches(f: &TicketFilter, t: &Ticket, now: DateTime<Utc>) -> bool {
    f.eval_with(&|term| holds(term, t, now))
}

fn holds(term: &TicketTerm, t: &Ticket, now: DateTime<Utc>) -> bool {
    let text = |op: Op, have: Option<&str>, want: &str| op.holds(have.unwrap_or("").cmp(want));
    let due = |op: Op, have: Option<DateTime<Utc>>, want: &DateTime<Utc>| {
        have.is_some_and(|h| op.holds(h.cmp(want)))
    };
    match term {
        TicketTerm::Status(op, s) => op.holds(t.status.cmp(s)),
        TicketTerm::Priority(op, p) => op.holds(t.data.priority.cmp(p)),
        TicketTerm::Assignee(op, a) => text(*op, t.data.assignee.as_deref(), a),
        TicketTerm::Channel(op, c) => text(*op, Some(&t.data.channel), c),
        TicketTerm::Customer(op, id) => op.holds(t.data.customer_id.cmp(id)),
        TicketTerm::Tag(tag) => t.data.tags.contains(tag),
        TicketTerm::Sla(op, s) => t.sla.at(now).0.is_some_and(|have| op.holds(have.cmp(s))),
        TicketTerm::FirstResponseDue(op, w) => {
            due(*op, t.sla.first_response.and_then(|c| c.due()), w)
        }
        TicketTerm::ResolutionDue(op, w) => due(*op, t.sla.resolution.and_then(|c| c.due()), w),
        TicketTerm::CreateTime(op, w) => op.holds(t.create_time.cmp(w)),
        TicketTerm::UpdateTime(op, w) => op.holds(t.update_time.cmp(w)),
    }
}

/// An equality an index can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketIndexed {
    /// `status = S`
    Status(TicketStatus),
    /// `sla.status = S`
    Sla(SlaStatus),
    /// `customer_id = ID`
    Customer(CustomerId),
    /// `assignee = "name"`
    Assignee(String),
}

/// The top-level equalities an index can answer; any one yields a superset of the matches.
pub fn indexed(f: &TicketFilter) -> Vec<TicketIndexed> {
    f.top_terms(&|t| match t {
        TicketTerm::Status(Op::Eq, s) => Some(TicketIndexed::Status(*s)),
        TicketTerm::Sla(Op::Eq, s) => Some(TicketIndexed::Sla(*s)),
        TicketTerm::Customer(Op::Eq, id) => Some(TicketIndexed::Customer(*id)),
        TicketTerm::Assignee(Op::Eq, a) if !a.is_empty() => {
            Some(TicketIndexed::Assignee(a.clone()))
        }
        _ => None,
    })
}
