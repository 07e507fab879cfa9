//! A support ticket: a customer's request, its thread of messages, and where it stands.
//!
//! | from | allowed moves |
//! |---|---|
//! | NEW | OPEN, PENDING, ON_HOLD, SOLVED |
//! | OPEN | PENDING, ON_HOLD, SOLVED |
//! | PENDING (waiting on the customer) | OPEN, ON_HOLD, SOLVED |
//! | ON_HOLD (waiting on a third party) | OPEN, PENDING, SOLVED |
//! | SOLVED | OPEN (a reopen, within the reopen window), CLOSED |
//! | CLOSED | none: closed is final |
//!
//! A public reply by the business moves a NEW ticket to OPEN; a reply by the customer moves a
//! PENDING ticket to OPEN (the customer answered: the clock runs again). Every move has a time
//! (backdatable, never before the ticket's latest event), so a ticket's history is in time
//! order and its SLA clocks are a function of it ([`super::sla`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::sla::TicketSla;
use crate::customer::CustomerId;
use crate::normalize::normalize_tag;
use crate::timeline::MAX_SUBJECT_CHARS;
use crate::validate::{MAX_ID_CHARS, MAX_TAGS, Violations, check_text};

/// Most status moves a ticket keeps in its history; a move past it is refused.
pub const MAX_TICKET_MOVES: usize = 500;
/// Most messages on one ticket.
pub const MAX_TICKET_MESSAGES: u32 = 10_000;
/// Longest message body (characters).
pub const MAX_MESSAGE_CHARS: usize = 20_000;

/// A ticket's identity: the creation time in milliseconds in the high 44 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketId(pub u64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for TicketId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "a ticket id is 16 hexadecimal digits, got {:?}",
                s.chars().take(40).collect::<String>()
            ));
        }
        u64::from_str_radix(s, 16)
            .map(TicketId)
            .map_err(|e| e.to_string())
    }
}

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TicketStatus {
    /// Opened, nobody has looked at it.
    New,
    /// Being worked on.
    Open,
    /// Waiting on the customer: the SLA clocks stop.
    Pending,
    /// Waiting on a third party (the clocks run).
    OnHold,
    /// Solved; may be reopened within the reopen window.
    Solved,
    /// Closed for good.
    Closed,
}

impl TicketStatus {
    /// Every status, in contract order.
    pub const ALL: [TicketStatus; 6] = [
        TicketStatus::New,
        TicketStatus::Open,
        TicketStatus::Pending,
        TicketStatus::OnHold,
        TicketStatus::Solved,
        TicketStatus::Closed,
    ];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            TicketStatus::New => "NEW",
            TicketStatus::Open => "OPEN",
            TicketStatus::Pending => "PENDING",
            TicketStatus::OnHold => "ON_HOLD",
            TicketStatus::Solved => "SOLVED",
            TicketStatus::Closed => "CLOSED",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<TicketStatus> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether the SLA clocks run in this status (they stop while PENDING and once solved).
    pub fn clock_runs(self) -> bool {
        matches!(
            self,
            TicketStatus::New | TicketStatus::Open | TicketStatus::OnHold
        )
    }

    /// Whether the ticket still needs work (not solved or closed).
    pub fn is_open(self) -> bool {
        !matches!(self, TicketStatus::Solved | TicketStatus::Closed)
    }

    /// Whether `self -> to` is an allowed move (the reopen window aside).
    pub fn may_move_to(self, to: TicketStatus) -> bool {
        use TicketStatus::*;
        match self {
            New => matches!(to, Open | Pending | OnHold | Solved),
            Open => matches!(to, Pending | OnHold | Solved),
            Pending => matches!(to, Open | OnHold | Solved),
            OnHold => matches!(to, Open | Pending | Solved),
            Solved => matches!(to, Open | Closed),
            Closed => false,
        }
    }
}

/// How urgent a ticket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Can wait.
    Low,
    /// The usual.
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "LOW",
            Priority::Normal => "NORMAL",
            Priority::High => "HIGH",
            Priority::Urgent => "URGENT",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<Priority> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// What a client writes about a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketData {
    /// Whose request.
    pub customer_id: CustomerId,
    /// The order it is about, if any.
    pub order_ref: Option<String>,
    /// A one-line summary.
    pub subject: String,
    /// Where it came in (`email`, `phone`, `web`).
    pub channel: String,
    /// How urgent.
    pub priority: Priority,
    /// Who works on it (a user name), if anybody.
    pub assignee: Option<String>,
    /// Labels, normalized like customer tags.
    pub tags: Vec<String>,
}

/// One status move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// When.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// The status after it.
    pub to: TicketStatus,
}

/// A stored ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Assigned at creation.
    pub id: TicketId,
    /// What the client wrote.
    pub data: TicketData,
    /// Where it stands now (the last move's status).
    pub status: TicketStatus,
    /// When the ticket was opened (backdatable): the SLA clocks start here.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub opened_at: DateTime<Utc>,
    /// Every move after opening (NEW), in time order.
    pub moves: Vec<Move>,
    /// The business's first public reply.
    #[serde(with = "crate::summary::opt_micros")]
    pub first_reply_at: Option<DateTime<Utc>>,
    /// Messages in the thread.
    pub message_count: u32,
    /// Times the ticket was reopened after being solved.
    pub reopen_count: u32,
    /// When the store created the record.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: DateTime<Utc>,
    /// When a client last changed it.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: DateTime<Utc>,
    /// Bumped by every client change; the etag.
    pub version: u64,
    /// The SLA clocks and their state, as last evaluated.
    pub sla: TicketSla,
}

impl Ticket {
    /// The time of the ticket's latest event (opening, a move, or the first reply).
    pub fn last_event(&self) -> DateTime<Utc> {
        let moved = self.moves.last().map_or(self.opened_at, |m| m.at);
        moved.max(self.first_reply_at.unwrap_or(moved))
    }

    /// When it was last solved, if it is solved or closed now.
    pub fn solved_at(&self) -> Option<DateTime<Utc>> {
        if self.status.is_open() {
            return None;
        }
        self.moves
            .iter()
            .rev()
            .find(|m| m.to == TicketStatus::Solved)
            .map(|m| m.at)
    }

    /// The first time it was solved, if ever.
    pub fn first_solved_at(&self) -> Option<DateTime<Utc>> {
        self.moves
            .iter()
            .find(|m| m.to == TicketStatus::Solved)
            .map(|m| m.at)
    }

    /// The status at `t`.
    pub fn status_at(&self, t: DateTime<Utc>) -> TicketStatus {
        self.moves
            .iter()
            .take_while(|m| m.at <= t)
            .last()
            .map_or(TicketStatus::New, |m| m.to)
    }

    /// Checks a move to `to` at `at` and applies it: the move graph, the reopen window, the
    /// history's time order and size.
    pub fn apply_move(
        &mut self,
        to: TicketStatus,
        at: DateTime<Utc>,
        reopen_within: Duration,
    ) -> Result<(), MoveRefused> {
        let from = self.status;
        if !from.may_move_to(to) {
            return Err(MoveRefused::Illegal { from, to });
        }
        if from == TicketStatus::Solved
            && to == TicketStatus::Open
            && let Some(solved) = self.solved_at()
            && at - solved > reopen_within
        {
            return Err(MoveRefused::ReopenWindowPassed {
                solved,
                window: reopen_within,
            });
        }
        if at < self.last_event() {
            return Err(MoveRefused::BeforeLastEvent {
                last: self.last_event(),
            });
        }
        if self.moves.len() >= MAX_TICKET_MOVES {
            return Err(MoveRefused::TooManyMoves);
        }
        if from == TicketStatus::Solved && to == TicketStatus::Open {
            self.reopen_count += 1;
        }
        self.moves.push(Move { at, to });
        self.status = to;
        Ok(())
    }
}

/// Why a status move is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoveRefused {
    /// The move graph does not allow it.
    #[error("a ticket cannot move from {} to {}", .from.name(), .to.name())]
    Illegal {
        /// The status now.
        from: TicketStatus,
        /// The status asked for.
        to: TicketStatus,
    },
    /// A solved ticket is reopened only within the window.
    #[error(
        "the ticket was solved at {solved}, more than {} hours ago: it can no longer be reopened",
        .window.num_hours()
    )]
    ReopenWindowPassed {
        /// When it was solved.
        solved: DateTime<Utc>,
        /// The reopen window.
        window: Duration,
    },
    /// A backdated move cannot go before what the ticket already recorded.
    #[error("the move is before the ticket's latest event at {last}")]
    BeforeLastEvent {
        /// The ticket's latest event.
        last: DateTime<Utc>,
    },
    /// The history is full.
    #[error("a ticket keeps at most {MAX_TICKET_MOVES} moves")]
    TooManyMoves,
}

/// One message of a ticket's thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMessage {
    /// Whose ticket.
    pub ticket_id: TicketId,
    /// Its number in the thread, from 1.
    pub number: u32,
    /// Who wrote it (a user, or the customer's name or address).
    pub author: String,
    /// Whether the customer wrote it (otherwise the business did).
    pub from_customer: bool,
    /// A public reply (sent to the customer) or an internal note.
    pub public: bool,
    /// The text.
    pub body: String,
    /// When it was written (backdatable).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
}

/// Validates and normalizes what a client writes about a ticket.
pub fn validate_ticket(d: &mut TicketData) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "subject", &mut d.subject, MAX_SUBJECT_CHARS);
    if d.subject.is_empty() {
        v.add("subject", "is required");
    }
    check_text(&mut v, "channel", &mut d.channel, MAX_ID_CHARS);
    if let Some(order) = &mut d.order_ref {
        check_text(&mut v, "order_ref", order, MAX_ID_CHARS);
        if order.is_empty() {
            d.order_ref = None;
        }
    }
    if let Some(assignee) = &mut d.assignee {
        check_text(&mut v, "assignee", assignee, MAX_ID_CHARS);
        if assignee.is_empty() {
            d.assignee = None;
        }
    }
    if d.tags.len() > MAX_TAGS {
        v.add("tags", format!("at most {MAX_TAGS} tags"));
    }
    let mut tags = Vec::new();
    for (i, t) in d.tags.iter().enumerate() {
        match normalize_tag(t) {
            Ok(t) if !tags.contains(&t) => tags.push(t),
            Ok(_) => {}
            Err(why) => v.add(format!("tags[{i}]"), why),
        }
    }
    d.tags = tags;
    v.into_result(())
}

/// Validates a message's author and body.
pub fn validate_message(author: &mut String, body: &mut String) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "author", author, MAX_ID_CHARS);
    let normal = crate::normalize::nfc(body);
    *body = normal.trim().to_owned();
    if body.is_empty() {
        v.add("body", "is required");
    } else if body.chars().count() > MAX_MESSAGE_CHARS {
        v.add(
            "body",
            format!("must be at most {MAX_MESSAGE_CHARS} characters"),
        );
    }
    if body
        .chars()
        .any(|c| crate::normalize::is_refused_in_text(c) && !matches!(c, '\n' | '\r' | '\t'))
    {
        v.add(
            "body",
            "must not contain control, invisible or direction-changing characters other than \
             line breaks and tabs",
        );
    }
    v.into_result(())
}
