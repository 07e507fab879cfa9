//! The tasks domain's keys, under the first bytes `keys.rs` allocates to it:
//!
//! - `t id` -> a task;
//! - `u 1 owner 0 due id` -> empty: open tasks by owner, in due order ("my tasks due today
//!   or overdue" is one range);
//! - `u 2 due id` -> empty: open tasks in due order (every overdue task is one range);
//! - `u 3 status id` -> empty: tasks by status;
//! - `u 4 link id` -> empty: the tasks about a customer, deal or ticket.

use chrono::{DateTime, Utc};
use crm_core::tasks::{TaskId, TaskLink, TaskStatus};

use crate::kv::keys::{TASK, TASK_KEPT, time_bytes};

const BY_OWNER_DUE: u8 = 1;
const BY_DUE: u8 = 2;
const BY_STATUS: u8 = 3;
const BY_LINK: u8 = 4;

pub(crate) fn task(id: TaskId) -> [u8; 9] {
    let mut k = [TASK; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

fn with_id(mut key: Vec<u8>, id: TaskId) -> Vec<u8> {
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

pub(crate) fn owner_prefix(owner: &str) -> Vec<u8> {
    let mut k = vec![TASK_KEPT, BY_OWNER_DUE];
    k.extend_from_slice(owner.as_bytes());
    k.push(0);
    k
}

/// An owner's open tasks due before `t` sort below this.
pub(crate) fn owner_due_before(owner: &str, t: DateTime<Utc>) -> Vec<u8> {
    let mut k = owner_prefix(owner);
    k.extend_from_slice(&time_bytes(t));
    k
}

pub(crate) fn by_owner_due(owner: &str, due: DateTime<Utc>, id: TaskId) -> Vec<u8> {
    with_id(owner_due_before(owner, due), id)
}

pub(crate) fn due_prefix() -> Vec<u8> {
    vec![TASK_KEPT, BY_DUE]
}

/// Open tasks due before `t` sort below this.
pub(crate) fn due_before(t: DateTime<Utc>) -> Vec<u8> {
    let mut k = due_prefix();
    k.extend_from_slice(&time_bytes(t));
    k
}

pub(crate) fn by_due(due: DateTime<Utc>, id: TaskId) -> Vec<u8> {
    with_id(due_before(due), id)
}

pub(crate) fn by_status_prefix(s: TaskStatus) -> Vec<u8> {
    vec![TASK_KEPT, BY_STATUS, s as u8]
}

pub(crate) fn by_status(s: TaskStatus, id: TaskId) -> Vec<u8> {
    with_id(by_status_prefix(s), id)
}

pub(crate) fn link_prefix(link: TaskLink) -> Vec<u8> {
    let (kind, id) = match link {
        TaskLink::Customer(c) => (1u8, c.0),
        TaskLink::Deal(d) => (2, d.0),
        TaskLink::Ticket(t) => (3, t.0),
    };
    let mut k = vec![TASK_KEPT, BY_LINK, kind];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub(crate) fn by_link(link: TaskLink, id: TaskId) -> Vec<u8> {
    with_id(link_prefix(link), id)
}

/// The task id a `u` entry ends with.
pub(crate) fn trailing_task(key: &[u8]) -> Option<TaskId> {
    let tail = key.len().checked_sub(8).map(|at| &key[at..])?;
    Some(TaskId(u64::from_be_bytes(tail.try_into().ok()?)))
}
