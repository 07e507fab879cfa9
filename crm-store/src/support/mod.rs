//! Support tickets: create, read, update, move through their statuses, reply, delete; each
//! write one transaction with the ticket's indexes, its SLA state and schedule, the backlog
//! counts, the customer's timeline event and the change log.
//!
//! A ticket's SLA status changes as time passes, with no write: each ticket stores its status
//! with the instant until which it holds (`q 5 until id`), and a query first evaluates again
//! every ticket whose instant has come ([`Support::sla_index_at`]), the technique the customers'
//! derived index uses. So `sla.status = "BREACHED"` is read from an index and is exact at the
//! query's instant.

pub(crate) mod config;
pub(crate) mod family;
pub(crate) mod keys;
mod list;
mod messages;
mod report;

use chrono::{DateTime, Utc};
use crm_core::support::ticket::validate_ticket;
use crm_core::support::{MoveRefused, Ticket, TicketData, TicketId, TicketSla, TicketStatus};
use crm_core::timeline::{TicketEvent, TicketEventKind, check_occurred_at};
use crm_core::{Event, Violations};

pub use config::Configured;
pub use list::{TicketPage, TicketQuery};
pub use messages::{MessagePage, NewMessage};

use crate::audit::changes::{ChangeKind, EntityKind, EntityRef};
use crate::error::{Precondition, Resource, Result, StoreError};
use crate::kv::codec;
use crate::write::Write;
use family::TicketFamily;

crate::store::handle!(
    /// Support tickets, their threads, SLA policy and business calendar, and the support report.
    Support,
    support
);

/// The fields of a ticket an update can name.
pub const TICKET_FIELDS: [&str; 6] = [
    "subject",
    "channel",
    "priority",
    "assignee",
    "tags",
    "order_ref",
];

/// A ticket as a write sees it, which must exist.
pub(crate) fn existing(w: &mut Write<'_>, id: TicketId) -> Result<Ticket> {
    w.read(&keys::ticket(id), &|| format!("ticket {id}"))?
        .ok_or(StoreError::NotFound(Resource::Ticket(id)))
}

/// A client-supplied instant for a ticket: default now, at most 5 minutes ahead, microseconds.
fn instant(store: &crate::Store, field: &str, at: Option<DateTime<Utc>>) -> Result<DateTime<Utc>> {
    let now = store.now();
    let at = at.map_or(now, crm_core::validate::to_micros);
    let mut v = Violations::default();
    check_occurred_at(&mut v, field, at, now);
    v.into_result(at).map_err(Into::into)
}

/// A refused move as the store's error.
fn refused(e: MoveRefused, from: TicketStatus, to: TicketStatus) -> StoreError {
    let reason = match e {
        MoveRefused::Illegal { .. } => "ILLEGAL_TICKET_MOVE",
        MoveRefused::ReopenWindowPassed { .. } => "REOPEN_WINDOW_PASSED",
        MoveRefused::BeforeLastEvent { .. } => "MOVE_BEFORE_LAST_EVENT",
        MoveRefused::TooManyMoves => return StoreError::LimitReached(e.to_string()),
    };
    StoreError::FailedPrecondition(Precondition::TicketMove {
        reason,
        from: from.name(),
        to: to.name(),
        message: e.to_string(),
    })
}

impl Write<'_> {
    /// Writes a ticket's new state: its clocks computed again under the policy and calendar in
    /// force, its SLA state evaluated at the write's instant, what it implies, and the change
    /// log.
    pub(crate) fn store_ticket(
        &mut self,
        old: Option<&Ticket>,
        new: &mut Ticket,
        kind: ChangeKind,
        fields: Vec<String>,
        operation: &str,
    ) -> Result<()> {
        let policy = self.sla_policy()?.value;
        let calendar = self.business_calendar()?.value;
        new.sla = TicketSla::compute(new, &policy, &calendar);
        new.sla.evaluate(self.started);
        self.put_record::<TicketFamily>(old, Some(new))?;
        let entity = EntityRef {
            kind: EntityKind::Ticket,
            id: new.id.0,
        };
        let time = new.update_time;
        self.log_change(
            entity,
            Some(new.data.customer_id),
            kind,
            new.version,
            time,
            fields,
            operation,
        )
    }

    /// Puts a ticket's event on its customer's timeline.
    pub(crate) fn ticket_event(
        &mut self,
        t: &Ticket,
        what: TicketEventKind,
        at: DateTime<Utc>,
        operation: &str,
    ) -> Result<()> {
        // A customer merged since the ticket was opened: its timeline is its survivor's.
        let mut customer = t.data.customer_id;
        for _ in 0..=crate::customers::merge::MAX_MERGED {
            if self.customer(customer)?.is_some() {
                break;
            }
            let tomb = self.get(crate::kv::keys::of_customer(
                crate::kv::keys::MERGED,
                customer,
            ))?;
            match tomb.and_then(|t| crate::kv::keys::u64_value(t.get(..8)?)) {
                Some(survivor) => customer = crm_core::CustomerId(survivor),
                None => break,
            }
        }
        let mut s = self.subject(customer)?;
        let actor = self.store.origin().actor.clone();
        let event = Event::Ticket(TicketEvent {
            ticket_id: t.id,
            what,
            subject: t.data.subject.clone(),
        });
        self.append(&mut s, at, &actor, event)?;
        self.finish(s, operation)?;
        Ok(())
    }

    /// Sets a ticket's assignee or priority (an automation action).
    pub(crate) fn set_ticket_field(
        &mut self,
        id: TicketId,
        field: &str,
        value: &str,
        operation: &str,
    ) -> Result<()> {
        let old = existing(self, id)?;
        let mut new = old.clone();
        match field {
            "assignee" => new.data.assignee = Some(value.to_owned()).filter(|v| !v.is_empty()),
            "priority" => {
                new.data.priority = crm_core::support::Priority::parse(value).ok_or_else(|| {
                    Violations::one("priority", "expected LOW, NORMAL, HIGH or URGENT")
                })?
            }
            other => {
                return Err(Violations::one("field", format!("{other:?} is not settable")).into());
            }
        }
        validate_ticket(&mut new.data).map_err(|v| v.prefixed("ticket"))?;
        if new.data == old.data {
            return Ok(());
        }
        new.version += 1;
        new.update_time = self.store.now().max(old.update_time);
        let fields = vec![field.to_owned()];
        self.store_ticket(Some(&old), &mut new, ChangeKind::Updated, fields, operation)
    }

    /// Moves a ticket (checked), with the timeline event a solve or a reopen makes.
    pub(crate) fn move_ticket(
        &mut self,
        t: &mut Ticket,
        to: TicketStatus,
        at: DateTime<Utc>,
        operation: &str,
    ) -> Result<()> {
        let from = t.status;
        let window = self.store.inner.config.ticket_reopen_within;
        t.apply_move(to, at, window)
            .map_err(|e| refused(e, from, to))?;
        let event = match (from, to) {
            (TicketStatus::Solved, TicketStatus::Open) => Some(TicketEventKind::Reopened),
            (_, TicketStatus::Solved) => Some(TicketEventKind::Solved),
            _ => None,
        };
        if let Some(what) = event {
            self.ticket_event(t, what, at, operation)?;
        }
        Ok(())
    }
}

impl Support<'_> {
    /// Opens a ticket for a customer, at `opened_at` (default now; backdatable). With a
    /// `request_id`, a repeat returns the first call's ticket.
    ///
    /// Errors: [`StoreError::Invalid`] (every bad field), [`StoreError::NotFound`] (the
    /// customer).
    pub fn create_ticket(
        &self,
        mut data: TicketData,
        opened_at: Option<DateTime<Utc>>,
        request_id: Option<&str>,
    ) -> Result<Ticket> {
        let mut v = match validate_ticket(&mut data) {
            Ok(()) => Violations::default(),
            Err(v) => v.prefixed("ticket"),
        };
        let request_id = request_id.map(str::trim).filter(|r| !r.is_empty());
        if let Some(rid) = request_id {
            crate::customers::check_request_id(&mut v, rid);
        }
        v.into_result(())?;
        let at = instant(self, "ticket.open_time", opened_at)?;
        self.write(|w| {
            if let Some(rid) = request_id
                && let Some(id) = created_for(w, 1, rid)?
            {
                return existing(w, TicketId(id));
            }
            let now = w.store.now();
            let id = TicketId(w.next_id_in(crate::kv::keys::META_LAST_TICKET, now)?);
            let mut t = Ticket {
                id,
                data: data.clone(),
                status: TicketStatus::New,
                opened_at: at,
                moves: Vec::new(),
                first_reply_at: None,
                message_count: 0,
                reopen_count: 0,
                create_time: now,
                update_time: now,
                version: 1,
                sla: TicketSla::default(),
            };
            w.ticket_event(&t, TicketEventKind::Opened, at, "CreateTicket")?;
            let fields = ["customer_id", "subject", "channel", "priority", "status"]
                .into_iter()
                .map(String::from)
                .collect();
            w.store_ticket(None, &mut t, ChangeKind::Created, fields, "CreateTicket")?;
            if let Some(rid) = request_id {
                remember_created(w, 1, rid, id.0);
            }
            Ok(t)
        })
    }

    /// Reads a ticket, its SLA status as of now. Errors: [`StoreError::NotFound`].
    pub fn get_ticket(&self, id: TicketId) -> Result<Ticket> {
        let mut t: Ticket = match self.inner.engine.get(keys::ticket(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("ticket {id}"))?,
            None => return Err(StoreError::NotFound(Resource::Ticket(id))),
        };
        t.sla.evaluate(self.now());
        Ok(t)
    }

    /// Changes the fields `mask` names (of [`TICKET_FIELDS`]) to their values in `data`; with
    /// `etag`, only if the ticket is still at that version. A new priority takes that
    /// priority's targets.
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn update_ticket(
        &self,
        id: TicketId,
        data: TicketData,
        mask: &[String],
        etag: Option<&str>,
    ) -> Result<Ticket> {
        crate::customers::check_mask(mask, &TICKET_FIELDS)?;
        self.write(|w| {
            let old = existing(w, id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            let mut new = old.clone();
            for field in mask {
                let d = &mut new.data;
                match field.as_str() {
                    "subject" => d.subject = data.subject.clone(),
                    "channel" => d.channel = data.channel.clone(),
                    "priority" => d.priority = data.priority,
                    "assignee" => d.assignee = data.assignee.clone(),
                    "tags" => d.tags = data.tags.clone(),
                    _ => d.order_ref = data.order_ref.clone(),
                }
            }
            validate_ticket(&mut new.data).map_err(|v| v.prefixed("ticket"))?;
            if new.data == old.data {
                return Ok(old);
            }
            new.version += 1;
            new.update_time = w.store.now().max(old.update_time);
            let fields = mask.to_vec();
            w.store_ticket(
                Some(&old),
                &mut new,
                ChangeKind::Updated,
                fields,
                "UpdateTicket",
            )?;
            Ok(new)
        })
    }

    /// Moves a ticket to `to` at `at` (default now; backdatable, never before the ticket's
    /// latest event); with `etag`, only if it is still at that version.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`],
    /// [`StoreError::FailedPrecondition`] (`ILLEGAL_TICKET_MOVE`, `REOPEN_WINDOW_PASSED`,
    /// `MOVE_BEFORE_LAST_EVENT`), [`StoreError::LimitReached`] (the history is full).
    pub fn move_ticket(
        &self,
        id: TicketId,
        to: TicketStatus,
        at: Option<DateTime<Utc>>,
        etag: Option<&str>,
    ) -> Result<Ticket> {
        let at = instant(self, "move_time", at)?;
        self.write(|w| {
            let old = existing(w, id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            let mut new = old.clone();
            w.move_ticket(&mut new, to, at, "MoveTicket")?;
            new.version += 1;
            new.update_time = w.store.now().max(old.update_time);
            let fields = vec!["status".to_owned()];
            w.store_ticket(
                Some(&old),
                &mut new,
                ChangeKind::Updated,
                fields,
                "MoveTicket",
            )?;
            Ok(new)
        })
    }

    /// Deletes a ticket and its messages; with `etag`, only if it is still at that version.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn delete_ticket(&self, id: TicketId, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let old = existing(w, id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            let link = crm_core::tasks::TaskLink::Ticket(id);
            crate::tasks::forget_link(w, link, "DeleteTicket")?;
            for (key, value) in w.scan_prefix(&keys::messages_of(id))? {
                let m: crm_core::support::TicketMessage =
                    codec::decode(&value, &|| crate::kv::keys::describe(&key))?;
                w.put_record::<family::MessageFamily>(Some(&m), None)?;
            }
            w.put_record::<TicketFamily>(Some(&old), None)?;
            let entity = EntityRef {
                kind: EntityKind::Ticket,
                id: id.0,
            };
            let now = w.store.now();
            w.log_change(
                entity,
                Some(old.data.customer_id),
                ChangeKind::Deleted,
                old.version,
                now,
                Vec::new(),
                "DeleteTicket",
            )
        })
    }
}

/// Removes a deleted customer's tickets and their threads.
pub(crate) fn forget_customer(w: &mut Write<'_>, id: crm_core::CustomerId) -> Result<()> {
    for (key, _) in w.scan_prefix(&keys::by_customer_prefix(id))? {
        let Some(ticket) = keys::trailing_ticket(&key) else {
            continue;
        };
        let old = existing(w, ticket)?;
        let link = crm_core::tasks::TaskLink::Ticket(ticket);
        crate::tasks::forget_link(w, link, "DeleteCustomer")?;
        for (mkey, value) in w.scan_prefix(&keys::messages_of(ticket))? {
            let m: crm_core::support::TicketMessage =
                codec::decode(&value, &|| crate::kv::keys::describe(&mkey))?;
            w.put_record::<family::MessageFamily>(Some(&m), None)?;
        }
        w.put_record::<TicketFamily>(Some(&old), None)?;
        let entity = EntityRef {
            kind: EntityKind::Ticket,
            id: ticket.0,
        };
        let now = w.store.now();
        w.log_change(
            entity,
            Some(id),
            ChangeKind::Deleted,
            old.version,
            now,
            Vec::new(),
            "DeleteCustomer",
        )?;
    }
    Ok(())
}

/// A ticket's etag: `v` and its version.
pub fn etag_of(t: &Ticket) -> String {
    format!("v{}", t.version)
}

/// `j kind request_id` -> what a create made for a request id: kind 1 a ticket, 3 a deal,
/// 4 a task, 5 a pipeline, 6 a rule (`j 2 request_id` -> ticket id and message number).
fn request_key(kind: u8, rid: &str) -> Vec<u8> {
    let mut k = vec![crate::kv::keys::TICKET_REQUEST, kind];
    k.extend_from_slice(rid.as_bytes());
    k
}

/// The id a create of `kind` made for request id `rid`, if one did.
pub(crate) fn created_for(w: &mut Write<'_>, kind: u8, rid: &str) -> Result<Option<u64>> {
    let key = request_key(kind, rid);
    match w.get(&key)? {
        None => Ok(None),
        Some(bytes) => {
            crate::kv::keys::u64_value(&bytes)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt {
                    key: crate::kv::keys::describe(&key),
                    detail: "a request key does not hold an id".into(),
                })
        }
    }
}

/// Remembers that a create of `kind` made `id` for request id `rid`.
pub(crate) fn remember_created(w: &mut Write<'_>, kind: u8, rid: &str, id: u64) {
    w.put_raw(request_key(kind, rid), id.to_be_bytes());
}

pub(crate) fn message_request_key(rid: &str) -> Vec<u8> {
    let mut k = vec![crate::kv::keys::TICKET_REQUEST, 2];
    k.extend_from_slice(rid.as_bytes());
    k
}

/// Replaces the texts of an erased customer's tickets: subjects, message bodies, the
/// customer's name or address as a message's author, and the texts of the tasks about them.
pub(crate) fn erase_customer(w: &mut Write<'_>, id: crm_core::CustomerId) -> Result<()> {
    use crm_core::privacy::erasure::erase_text;
    for (key, _) in w.scan_prefix(&keys::by_customer_prefix(id))? {
        let Some(ticket) = keys::trailing_ticket(&key) else {
            continue;
        };
        crate::tasks::erase_link(w, crm_core::tasks::TaskLink::Ticket(ticket))?;
        let old = existing(w, ticket)?;
        let mut new = old.clone();
        erase_text(&mut new.data.subject);
        if new != old {
            new.version += 1;
            new.update_time = w.store.now().max(old.update_time);
            w.put_record::<TicketFamily>(Some(&old), Some(&new))?;
        }
        for (mkey, value) in w.scan_prefix(&keys::messages_of(ticket))? {
            let m: crm_core::support::TicketMessage =
                codec::decode(&value, &|| crate::kv::keys::describe(&mkey))?;
            let mut n = m.clone();
            erase_text(&mut n.body);
            if n.from_customer {
                erase_text(&mut n.author);
            }
            if n != m {
                w.put_record::<family::MessageFamily>(Some(&m), Some(&n))?;
            }
        }
    }
    Ok(())
}
