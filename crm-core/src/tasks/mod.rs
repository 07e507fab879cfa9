//! Tasks: something a person must do by a time — call back, send a quote — linked to the
//! customer, deal or ticket it is about, and made by a person or by an automation rule.
//!
//! A task is *overdue* while it is open and its due time has passed: a function of the instant,
//! never stored, so it is exact at every instant without a sweep.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::CustomerId;
use crate::deals::DealId;
use crate::ids::hex_id;
use crate::support::TicketId;
use crate::validate::{MAX_ID_CHARS, MAX_NAME_CHARS, Violations, check_text};

hex_id!(
    /// A task's identity.
    TaskId,
    "a task"
);

hex_id!(
    /// An automation rule's identity.
    RuleId,
    "a rule"
);

/// Longest task notes (characters).
pub const MAX_NOTES_CHARS: usize = 4_000;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    /// To do.
    Open,
    /// Done.
    Done,
    /// Not to be done.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in contract order.
    pub const ALL: [TaskStatus; 3] = [TaskStatus::Open, TaskStatus::Done, TaskStatus::Cancelled];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Open => "OPEN",
            TaskStatus::Done => "DONE",
            TaskStatus::Cancelled => "CANCELLED",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<TaskStatus> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// What a task is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskLink {
    /// A customer.
    Customer(CustomerId),
    /// A deal.
    Deal(DealId),
    /// A support ticket.
    Ticket(TicketId),
}

/// Who made a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskSource {
    /// A person (the actor who created it).
    Person(String),
    /// An automation rule, for the change-log event it handled.
    Rule {
        /// The rule.
        rule: RuleId,
        /// The change-log event that fired it (0 for a time trigger).
        event: u64,
    },
}

/// What a caller sets on a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskData {
    /// What to do (`Call back about the renewal`).
    pub title: String,
    /// Notes.
    pub notes: String,
    /// When it is due.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub due_time: DateTime<Utc>,
    /// Who does it.
    pub owner: String,
    /// What it is about.
    pub link: Option<TaskLink>,
}

/// A stored task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its identity.
    pub id: TaskId,
    /// What the caller set.
    pub data: TaskData,
    /// Open, done or cancelled.
    pub status: TaskStatus,
    /// Who made it.
    pub source: TaskSource,
    /// When it was done or cancelled.
    #[serde(with = "crate::summary::opt_micros")]
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: DateTime<Utc>,
    /// Starts at 1, grows with every change: the etag.
    pub version: u64,
}

impl Task {
    /// Whether it is overdue at `now`: open and past its due time.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.status == TaskStatus::Open && self.data.due_time < now
    }
}

/// Checks and normalizes what a caller sets on a task.
pub fn validate_task(t: &mut TaskData) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "title", &mut t.title, MAX_NAME_CHARS);
    if t.title.is_empty() {
        v.add("title", "is required");
    }
    check_text(&mut v, "notes", &mut t.notes, MAX_NOTES_CHARS);
    check_text(&mut v, "owner", &mut t.owner, MAX_ID_CHARS);
    if t.owner.is_empty() {
        v.add("owner", "is required: who does it");
    }
    t.due_time = crate::validate::to_micros(t.due_time);
    v.into_result(())
}
