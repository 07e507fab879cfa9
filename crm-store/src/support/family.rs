//! Tickets and their messages as families: what a ticket implies (its indexes, its SLA status
//! and schedule, the backlog counts), stated once for the write path and `verify`.

use crm_core::support::{Ticket, TicketMessage};

use super::keys;
use crate::kv::family::{Family, Kept};
use crate::kv::keys::{TICKET, TICKET_KEPT, TICKET_MESSAGE};

/// The ticket family.
#[derive(Debug)]
pub(crate) struct TicketFamily;

impl Family for TicketFamily {
    type Record = Ticket;
    const NAME: &'static str = "ticket";
    const PREFIX: &'static [u8] = &[TICKET];

    fn key(t: &Ticket) -> Vec<u8> {
        keys::ticket(t.id).to_vec()
    }

    fn keep(t: &Ticket, kept: &mut Kept) {
        kept.index(keys::by_status(t.status, t.id), []);
        kept.index(keys::by_customer(t.data.customer_id, t.id), []);
        if let Some(a) = &t.data.assignee {
            kept.index(keys::by_assignee(a, t.id), []);
        }
        if let Some(status) = t.sla.status {
            kept.index(keys::by_sla(status, t.id), []);
        }
        if let Some(until) = t.sla.until {
            kept.index(keys::sla_due(until, t.id), []);
        }
        kept.count(keys::backlog(t.status, t.data.priority));
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        vec![vec![TICKET_KEPT]]
    }

    fn describe(key: &[u8]) -> String {
        match keys::trailing_ticket(key) {
            Some(id) if key.len() == 9 => format!("ticket {id}"),
            _ => crate::kv::keys::describe(key),
        }
    }

    fn owner_of(key: &[u8], _value: &[u8]) -> Option<Vec<u8>> {
        if !keys::names_a_ticket(key) {
            return None;
        }
        keys::trailing_ticket(key).map(|id| keys::ticket(id).to_vec())
    }

    /// A ticket's SLA status, as stored, is its status at `now` until `until`.
    fn stale_at(t: &Ticket, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        if t.sla.until.is_some_and(|u| u <= now) {
            return None;
        }
        let (status, _) = t.sla.at(now);
        (status != t.sla.status).then(|| {
            format!(
                "holds SLA status {:?} until {:?}, but it is {:?} now",
                t.sla.status, t.sla.until, status
            )
        })
    }
}

/// The message family: messages imply nothing else.
#[derive(Debug)]
pub(crate) struct MessageFamily;

impl Family for MessageFamily {
    type Record = TicketMessage;
    const NAME: &'static str = "ticket message";
    const PREFIX: &'static [u8] = &[TICKET_MESSAGE];

    fn key(m: &TicketMessage) -> Vec<u8> {
        keys::message(m.ticket_id, m.number).to_vec()
    }

    fn keep(_: &TicketMessage, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn describe(key: &[u8]) -> String {
        match keys::message_ticket(key) {
            Some(id) => format!("a message of ticket {id}"),
            None => crate::kv::keys::describe(key),
        }
    }
}
