//! Tasks: each write one transaction with the task's indexes and the change log. An open task
//! is kept in due order, per owner and overall, so "my tasks due today or overdue" and "every
//! overdue task" are ranges read at the query's instant: exact at every instant, no sweep.

pub(crate) mod keys;
mod list;

use crm_core::Violations;
use crm_core::tasks::{Task, TaskData, TaskId, TaskLink, TaskSource, TaskStatus, validate_task};

pub use list::{TaskPage, TaskQuery};

use crate::audit::changes::{ChangeKind, EntityKind, EntityRef};
use crate::error::{Resource, Result, StoreError};
use crate::kv::codec;
use crate::kv::family::{Family, Kept};
use crate::write::Write;

crate::store::handle!(
    /// Tasks: what a person must do by when.
    Tasks,
    tasks
);

/// The fields of a task an update can name.
pub const TASK_FIELDS: [&str; 5] = ["title", "notes", "due_time", "owner", "link"];

/// The task family: a task's indexes.
#[derive(Debug)]
pub(crate) struct TaskFamily;

impl Family for TaskFamily {
    type Record = Task;
    const NAME: &'static str = "task";
    const PREFIX: &'static [u8] = &[crate::kv::keys::TASK];

    fn key(t: &Task) -> Vec<u8> {
        keys::task(t.id).to_vec()
    }

    fn keep(t: &Task, kept: &mut Kept) {
        if t.status == TaskStatus::Open {
            kept.index(keys::by_owner_due(&t.data.owner, t.data.due_time, t.id), []);
            kept.index(keys::by_due(t.data.due_time, t.id), []);
        }
        kept.index(keys::by_status(t.status, t.id), []);
        if let Some(link) = t.data.link {
            kept.index(keys::by_link(link, t.id), []);
        }
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        vec![vec![crate::kv::keys::TASK_KEPT]]
    }

    fn describe(key: &[u8]) -> String {
        match keys::trailing_task(key) {
            Some(id) if key.len() == 9 => format!("task {id}"),
            _ => crate::kv::keys::describe(key),
        }
    }

    fn owner_of(key: &[u8], _value: &[u8]) -> Option<Vec<u8>> {
        keys::trailing_task(key).map(|id| keys::task(id).to_vec())
    }
}

/// A task's etag: `v` and its version.
pub fn etag_of(t: &Task) -> String {
    format!("v{}", t.version)
}

impl Write<'_> {
    /// A task, which must exist.
    pub(crate) fn existing_task(&mut self, id: TaskId) -> Result<Task> {
        self.read(&keys::task(id), &|| format!("task {id}"))?
            .ok_or(StoreError::NotFound(Resource::Task(id)))
    }

    /// Writes a task's new state (`None`: deleted) with its indexes and change-log event.
    pub(crate) fn store_task(
        &mut self,
        old: Option<&Task>,
        new: Option<&Task>,
        fields: Vec<String>,
        operation: &str,
    ) -> Result<()> {
        let Some(subject) = new.or(old) else {
            return Ok(());
        };
        self.put_record::<TaskFamily>(old, new)?;
        let kind = match (old, new) {
            (None, _) => ChangeKind::Created,
            (_, None) => ChangeKind::Deleted,
            _ => ChangeKind::Updated,
        };
        let entity = EntityRef {
            kind: EntityKind::Task,
            id: subject.id.0,
        };
        let customer = match subject.data.link {
            Some(TaskLink::Customer(c)) => Some(c),
            _ => None,
        };
        let time = new.map_or_else(|| self.store.now(), |t| t.update_time);
        self.log_change(
            entity,
            customer,
            kind,
            subject.version,
            time,
            fields,
            operation,
        )
    }

    /// Checks that a task's link names something that exists.
    fn check_link(&mut self, link: Option<TaskLink>) -> Result<()> {
        let (field, what, exists) = match link {
            None => return Ok(()),
            Some(TaskLink::Customer(c)) => (
                "task.customer_id",
                format!("customer {c}"),
                self.customer(c)?.is_some(),
            ),
            Some(TaskLink::Deal(d)) => (
                "task.deal_id",
                format!("deal {d}"),
                self.get(crate::deals::keys::deal(d))?.is_some(),
            ),
            Some(TaskLink::Ticket(t)) => (
                "task.ticket_id",
                format!("ticket {t}"),
                self.get(crate::support::keys::ticket(t))?.is_some(),
            ),
        };
        if exists {
            Ok(())
        } else {
            Err(Violations::one(field, format!("{what} does not exist")).into())
        }
    }

    /// Creates a task from checked `data` made by `source`.
    pub(crate) fn create_task_in(
        &mut self,
        data: &TaskData,
        source: TaskSource,
        operation: &str,
    ) -> Result<Task> {
        self.check_link(data.link)?;
        let now = self.store.now();
        let id = TaskId(self.next_id_in(crate::kv::keys::META_LAST_TASK, now)?);
        let t = Task {
            id,
            data: data.clone(),
            status: TaskStatus::Open,
            source,
            closed_at: None,
            create_time: now,
            update_time: now,
            version: 1,
        };
        let fields = ["title", "due_time", "owner", "link"]
            .into_iter()
            .map(String::from)
            .collect();
        self.store_task(None, Some(&t), fields, operation)?;
        Ok(t)
    }

    /// Sets an existing task's owner (an automation action).
    pub(crate) fn set_task_owner(&mut self, id: TaskId, owner: &str, op: &str) -> Result<()> {
        let old = self.existing_task(id)?;
        let mut new = old.clone();
        new.data.owner = owner.to_owned();
        validate_task(&mut new.data).map_err(|v| v.prefixed("task"))?;
        if new == old {
            return Ok(());
        }
        new.version += 1;
        new.update_time = self.store.now().max(old.update_time);
        self.store_task(Some(&old), Some(&new), vec!["owner".into()], op)
    }
}

impl Tasks<'_> {
    /// Creates a task by the caller (its source is the caller's actor). With a `request_id`,
    /// a repeat returns the first call's task.
    ///
    /// Errors: [`StoreError::Invalid`] (every bad field; a link to nothing).
    pub fn create_task(&self, mut data: TaskData, request_id: Option<&str>) -> Result<Task> {
        let mut v = match validate_task(&mut data) {
            Ok(()) => Violations::default(),
            Err(v) => v.prefixed("task"),
        };
        let request_id = request_id.map(str::trim).filter(|r| !r.is_empty());
        if let Some(rid) = request_id {
            crate::customers::check_request_id(&mut v, rid);
        }
        v.into_result(())?;
        let source = TaskSource::Person(self.origin().actor.clone());
        self.write(|w| {
            if let Some(rid) = request_id
                && let Some(id) = crate::support::created_for(w, 4, rid)?
            {
                return w.existing_task(TaskId(id));
            }
            let t = w.create_task_in(&data, source.clone(), "CreateTask")?;
            if let Some(rid) = request_id {
                crate::support::remember_created(w, 4, rid, t.id.0);
            }
            Ok(t)
        })
    }

    /// Reads a task. Errors: [`StoreError::NotFound`].
    pub fn get_task(&self, id: TaskId) -> Result<Task> {
        match self.inner.engine.get(keys::task(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("task {id}")),
            None => Err(StoreError::NotFound(Resource::Task(id))),
        }
    }

    /// Changes the fields `mask` names (of [`TASK_FIELDS`]); with `etag`, only if the task is
    /// still at that version.
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn update_task(
        &self,
        id: TaskId,
        data: TaskData,
        mask: &[String],
        etag: Option<&str>,
    ) -> Result<Task> {
        crate::customers::check_mask(mask, &TASK_FIELDS)?;
        self.write(|w| {
            let old = w.existing_task(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            let mut new = old.clone();
            for field in mask {
                let d = &mut new.data;
                match field.as_str() {
                    "title" => d.title = data.title.clone(),
                    "notes" => d.notes = data.notes.clone(),
                    "due_time" => d.due_time = data.due_time,
                    "owner" => d.owner = data.owner.clone(),
                    _ => d.link = data.link,
                }
            }
            validate_task(&mut new.data).map_err(|v| v.prefixed("task"))?;
            if new.data == old.data {
                return Ok(old);
            }
            if new.data.link != old.data.link {
                w.check_link(new.data.link)?;
            }
            new.version += 1;
            new.update_time = w.store.now().max(old.update_time);
            w.store_task(Some(&old), Some(&new), mask.to_vec(), "UpdateTask")?;
            Ok(new)
        })
    }

    /// Moves a task to `status`: an open task to DONE or CANCELLED, a done or cancelled one
    /// back to OPEN. With `etag`, only if it is still at that version.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`],
    /// [`StoreError::FailedPrecondition`] (`TASK_CLOSED`: DONE to CANCELLED or back).
    pub fn set_status(&self, id: TaskId, status: TaskStatus, etag: Option<&str>) -> Result<Task> {
        self.write(|w| {
            let old = w.existing_task(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            if old.status == status {
                return Ok(old);
            }
            if old.status != TaskStatus::Open && status != TaskStatus::Open {
                return Err(crate::deals::not_now(
                    "TASK_CLOSED",
                    format!(
                        "the task is {}: reopen it before marking it {}",
                        old.status.name(),
                        status.name()
                    ),
                ));
            }
            let now = w.store.now().max(old.update_time);
            let mut new = old.clone();
            new.status = status;
            new.closed_at = (status != TaskStatus::Open).then_some(now);
            new.version += 1;
            new.update_time = now;
            w.store_task(
                Some(&old),
                Some(&new),
                vec!["status".into()],
                "SetTaskStatus",
            )?;
            Ok(new)
        })
    }

    /// Deletes a task; with `etag`, only if it is still at that version.
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn delete_task(&self, id: TaskId, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let old = w.existing_task(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            w.store_task(Some(&old), None, Vec::new(), "DeleteTask")
        })
    }
}

/// Deletes the tasks about `link` (a customer, deal or ticket being deleted).
pub(crate) fn forget_link(w: &mut Write<'_>, link: TaskLink, operation: &str) -> Result<()> {
    for (key, _) in w.scan_prefix(&keys::link_prefix(link))? {
        if let Some(id) = keys::trailing_task(&key) {
            let old = w.existing_task(id)?;
            w.store_task(Some(&old), None, Vec::new(), operation)?;
        }
    }
    Ok(())
}

/// Deletes the tasks about a deleted customer.
pub(crate) fn forget_customer(w: &mut Write<'_>, id: crm_core::CustomerId) -> Result<()> {
    forget_link(w, TaskLink::Customer(id), "DeleteCustomer")
}

/// Replaces the title and notes of the tasks about an erased customer.
pub(crate) fn erase_customer(w: &mut Write<'_>, id: crm_core::CustomerId) -> Result<()> {
    erase_link(w, TaskLink::Customer(id))
}

/// Replaces the title and notes of the tasks about one thing (an erased customer, or one of its
/// deals or tickets).
pub(crate) fn erase_link(w: &mut Write<'_>, link: TaskLink) -> Result<()> {
    use crm_core::privacy::erasure::erase_text;
    for (key, _) in w.scan_prefix(&keys::link_prefix(link))? {
        if let Some(task) = keys::trailing_task(&key) {
            let old = w.existing_task(task)?;
            let mut new = old.clone();
            erase_text(&mut new.data.title);
            erase_text(&mut new.data.notes);
            if new != old {
                new.version += 1;
                new.update_time = w.store.now().max(old.update_time);
                let fields = vec!["title".into(), "notes".into()];
                w.store_task(Some(&old), Some(&new), fields, "EraseCustomer")?;
            }
        }
    }
    Ok(())
}
