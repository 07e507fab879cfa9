//! Listing tasks: "due before" and "overdue" read the open tasks in due order (one owner's or
//! everyone's) up to the bound at the query's instant; a link, an owner or a status reads its
//! index; anything else reads every task. Every condition is checked on each task as well.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use crm_core::tasks::{Task, TaskLink, TaskStatus};

use super::{Tasks, keys};
use crate::customers::list::{page_size, prefix_end};
use crate::error::Result;
use crate::kv::codec;
use crate::kv::token::Listing;

/// Which tasks to list; every condition set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only this owner's.
    pub owner: Option<String>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only the tasks about this.
    pub link: Option<TaskLink>,
    /// Only open tasks due before this instant ("due today or overdue": the end of today).
    pub due_before: Option<DateTime<Utc>>,
    /// Only overdue tasks: open and due before the query's instant.
    pub overdue: bool,
    /// At most this many (0: 50; at most 1000).
    pub page_size: usize,
    /// From a previous page's `next_page_token`.
    pub page_token: String,
}

/// One page of tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskPage {
    /// The tasks (in due order when the query bounds the due time).
    pub tasks: Vec<Task>,
    /// The token for the next page; empty on the last.
    pub next_page_token: String,
    /// The instant "overdue" was evaluated at.
    pub as_of: DateTime<Utc>,
}

impl Tasks<'_> {
    /// Lists one page of tasks.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (a page token of another query).
    pub fn list_tasks(&self, q: &TaskQuery) -> Result<TaskPage> {
        let now = self.now();
        let bound = match (q.due_before, q.overdue) {
            (Some(b), true) => Some(b.min(now)),
            (Some(b), false) => Some(b),
            (None, true) => Some(now),
            (None, false) => None,
        };
        let (prefix, end) = if let Some(bound) = bound {
            match &q.owner {
                Some(o) => (
                    keys::owner_prefix(o),
                    Bound::Excluded(keys::owner_due_before(o, bound)),
                ),
                None => (keys::due_prefix(), Bound::Excluded(keys::due_before(bound))),
            }
        } else {
            let p = match (&q.link, &q.owner, q.status) {
                (Some(link), _, _) => keys::link_prefix(*link),
                (None, Some(o), Some(TaskStatus::Open)) => keys::owner_prefix(o),
                (None, _, Some(s)) => keys::by_status_prefix(s),
                _ => vec![crate::kv::keys::TASK],
            };
            let end = prefix_end(&p);
            (p, end)
        };
        let records = prefix == [crate::kv::keys::TASK];
        let query = format!(
            "{:?}|{:?}|{:?}|{:?}|{}",
            q.owner, q.status, q.link, q.due_before, q.overdue
        );
        let position = self.open_token(&q.page_token, Listing::Tasks, &query, &prefix)?;
        let start = match position {
            None => Bound::Included(prefix.clone()),
            Some(p) => Bound::Excluded(p),
        };
        let size = page_size(q.page_size);
        let mut page = TaskPage {
            as_of: now,
            ..TaskPage::default()
        };
        let mut last: Option<Vec<u8>> = None;
        for item in self.inner.engine.scan(start, end, false) {
            let (key, value) = item?;
            if page.tasks.len() == size {
                if let Some(last) = &last {
                    page.next_page_token = self.inner.tokens.seal(Listing::Tasks, &query, last);
                }
                break;
            }
            last = Some(key.to_vec());
            let task = if records {
                Some(codec::decode::<Task>(&value, &|| {
                    crate::kv::keys::describe(&key)
                })?)
            } else {
                match keys::trailing_task(&key) {
                    Some(id) => match self.inner.engine.get(keys::task(id))? {
                        Some(bytes) => {
                            Some(codec::decode::<Task>(&bytes, &|| format!("task {id}"))?)
                        }
                        None => None,
                    },
                    None => None,
                }
            };
            if let Some(t) = task.filter(|t| holds(q, t, now)) {
                page.tasks.push(t);
            }
        }
        Ok(page)
    }
}

/// Whether a task meets every condition of `q` at `now`.
pub(crate) fn holds(q: &TaskQuery, t: &Task, now: DateTime<Utc>) -> bool {
    q.owner.as_ref().is_none_or(|o| *o == t.data.owner)
        && q.status.is_none_or(|s| s == t.status)
        && q.link.is_none_or(|l| Some(l) == t.data.link)
        && q.due_before
            .is_none_or(|b| t.status == TaskStatus::Open && t.data.due_time < b)
        && (!q.overdue || t.overdue(now))
}
