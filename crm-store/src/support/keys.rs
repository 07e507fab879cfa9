//! The support domain's keys, under the first bytes `keys.rs` allocates to it:
//!
//! - `Q id` -> a ticket;
//! - `J id number(4)` -> a ticket's message;
//! - `q 1 status id` -> empty: tickets by status;
//! - `q 2 customer id` -> empty: a customer's tickets;
//! - `q 3 assignee 0 id` -> empty: tickets by assignee;
//! - `q 4 sla_status id` -> empty: tickets by SLA status, as last evaluated;
//! - `q 5 until id` -> empty: when a ticket's SLA status must be evaluated again;
//! - `q 6 status priority` -> count: tickets by status and priority (the backlog).

use chrono::{DateTime, Utc};
use crm_core::CustomerId;
use crm_core::support::{Priority, SlaStatus, TicketId, TicketStatus};

use crate::kv::keys::{TICKET, TICKET_KEPT, TICKET_MESSAGE, time_bytes};

const BY_STATUS: u8 = 1;
const BY_CUSTOMER: u8 = 2;
const BY_ASSIGNEE: u8 = 3;
const BY_SLA: u8 = 4;
const SLA_DUE: u8 = 5;
const BACKLOG: u8 = 6;

pub(crate) fn ticket(id: TicketId) -> [u8; 9] {
    let mut k = [TICKET; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn message(id: TicketId, number: u32) -> [u8; 13] {
    let mut k = [TICKET_MESSAGE; 13];
    k[1..9].copy_from_slice(&id.0.to_be_bytes());
    k[9..].copy_from_slice(&number.to_be_bytes());
    k
}

pub(crate) fn messages_of(id: TicketId) -> [u8; 9] {
    let mut k = [TICKET_MESSAGE; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

fn status_byte(s: TicketStatus) -> u8 {
    s as u8
}

fn sla_byte(s: SlaStatus) -> u8 {
    s as u8
}

fn with_id(mut key: Vec<u8>, id: TicketId) -> Vec<u8> {
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

pub(crate) fn by_status_prefix(s: TicketStatus) -> Vec<u8> {
    vec![TICKET_KEPT, BY_STATUS, status_byte(s)]
}

pub(crate) fn by_status(s: TicketStatus, id: TicketId) -> Vec<u8> {
    with_id(by_status_prefix(s), id)
}

pub(crate) fn by_customer_prefix(c: CustomerId) -> Vec<u8> {
    let mut k = vec![TICKET_KEPT, BY_CUSTOMER];
    k.extend_from_slice(&c.0.to_be_bytes());
    k
}

pub(crate) fn by_customer(c: CustomerId, id: TicketId) -> Vec<u8> {
    with_id(by_customer_prefix(c), id)
}

pub(crate) fn by_assignee_prefix(assignee: &str) -> Vec<u8> {
    let mut k = vec![TICKET_KEPT, BY_ASSIGNEE];
    k.extend_from_slice(assignee.as_bytes());
    k.push(0);
    k
}

pub(crate) fn by_assignee(assignee: &str, id: TicketId) -> Vec<u8> {
    with_id(by_assignee_prefix(assignee), id)
}

pub(crate) fn by_sla_prefix(s: SlaStatus) -> Vec<u8> {
    vec![TICKET_KEPT, BY_SLA, sla_byte(s)]
}

pub(crate) fn by_sla(s: SlaStatus, id: TicketId) -> Vec<u8> {
    with_id(by_sla_prefix(s), id)
}

pub(crate) fn sla_due(until: DateTime<Utc>, id: TicketId) -> Vec<u8> {
    let mut k = sla_due_before(until);
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

/// The schedule's keys before `t` sort below this.
pub(crate) fn sla_due_before(t: DateTime<Utc>) -> Vec<u8> {
    let mut k = vec![TICKET_KEPT, SLA_DUE];
    k.extend_from_slice(&time_bytes(t));
    k
}

pub(crate) fn sla_due_start() -> Vec<u8> {
    vec![TICKET_KEPT, SLA_DUE]
}

pub(crate) fn backlog(s: TicketStatus, p: Priority) -> Vec<u8> {
    vec![TICKET_KEPT, BACKLOG, status_byte(s), p as u8]
}

/// The ticket id a `q` entry or a message key ends with.
pub(crate) fn trailing_ticket(key: &[u8]) -> Option<TicketId> {
    let tail = key.len().checked_sub(8).map(|at| &key[at..])?;
    Some(TicketId(u64::from_be_bytes(tail.try_into().ok()?)))
}

/// The ticket a message key belongs to.
pub(crate) fn message_ticket(key: &[u8]) -> Option<TicketId> {
    let id = key.get(1..9)?;
    Some(TicketId(u64::from_be_bytes(id.try_into().ok()?)))
}

/// Whether a `q` entry names its ticket at its end (every kind but the backlog counts).
pub(crate) fn names_a_ticket(key: &[u8]) -> bool {
    key.get(1).is_some_and(|&k| k != BACKLOG)
}
