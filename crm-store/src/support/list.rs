//! Listing tickets: by an index when the filter names an indexed equality (status, SLA status,
//! customer, assignee), else over every ticket; always exact at the query's instant, because
//! the SLA index is first brought to it ([`Support::sla_index_at`]).

use std::ops::Bound;

use chrono::{DateTime, Utc};
use crm_core::Violations;
use crm_core::support::Ticket;
use crm_core::support::filter::{self, TicketIndexed};

use super::family::TicketFamily;
use super::{Support, keys};
use crate::customers::list::{page_size, prefix_end};
use crate::error::Result;
use crate::kv::codec;
use crate::kv::token::Listing;
use crate::write::Write;

/// Tickets re-evaluated per transaction by a sweep.
const SWEEP_CHUNK: usize = 1_000;

/// A page of tickets to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketQuery {
    /// A ticket filter ([`crm_core::support::filter`]).
    pub filter: String,
    /// At most this many (0: 50; at most 1000).
    pub page_size: usize,
    /// From a previous page's `next_page_token`.
    pub page_token: String,
    /// Newest first (tickets are listed in creation order otherwise).
    pub newest_first: bool,
}

/// One page of tickets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketPage {
    /// The tickets, each with its SLA status at the instant the page was read.
    pub tickets: Vec<Ticket>,
    /// The token for the next page; empty on the last.
    pub next_page_token: String,
    /// The instant the page's filter and SLA statuses were evaluated at.
    pub as_of: DateTime<Utc>,
}

impl Support<'_> {
    /// Evaluates again, at `now`, every ticket whose SLA status may have changed by `now`:
    /// afterwards the SLA index holds every ticket's status at `now`. Its writes can be derived
    /// again, so they do not wait for the disk.
    pub fn sla_index_at(&self, now: DateTime<Utc>) -> Result<()> {
        let Some(end) = now.checked_add_signed(chrono::Duration::microseconds(1)) else {
            return Ok(());
        };
        loop {
            let due: Vec<Vec<u8>> = self
                .inner
                .engine
                .scan(
                    Bound::Included(keys::sla_due_start()),
                    Bound::Excluded(keys::sla_due_before(end)),
                    false,
                )
                .take(SWEEP_CHUNK)
                .map(|item| item.map(|(key, _)| key.to_vec()))
                .collect::<Result<_>>()?;
            if due.is_empty() {
                return Ok(());
            }
            self.write_with(false, |w| sweep(w, &due, now))?;
        }
    }

    /// Lists one page of tickets matching a filter.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (a filter that does not parse, a page token of
    /// another query).
    pub fn list_tickets(&self, q: &TicketQuery) -> Result<TicketPage> {
        let f = filter::parse(&q.filter).map_err(|e| Violations::one("filter", e.to_string()))?;
        let now = self.now();
        self.sla_index_at(now)?;
        let prefix = match filter::indexed(&f).into_iter().next() {
            Some(TicketIndexed::Status(s)) => keys::by_status_prefix(s),
            Some(TicketIndexed::Sla(s)) => keys::by_sla_prefix(s),
            Some(TicketIndexed::Customer(c)) => keys::by_customer_prefix(c),
            Some(TicketIndexed::Assignee(a)) => keys::by_assignee_prefix(&a),
            None => vec![crate::kv::keys::TICKET],
        };
        let records = prefix == [crate::kv::keys::TICKET];
        let query = format!("{}\n{}", q.filter.trim(), q.newest_first);
        let position = self.open_token(&q.page_token, Listing::Tickets, &query, &prefix)?;
        let (start, end) = match (position, q.newest_first) {
            (None, _) => (Bound::Included(prefix.clone()), prefix_end(&prefix)),
            (Some(p), false) => (Bound::Excluded(p), prefix_end(&prefix)),
            (Some(p), true) => (Bound::Included(prefix.clone()), Bound::Excluded(p)),
        };
        let size = page_size(q.page_size);
        let mut page = TicketPage {
            as_of: now,
            ..TicketPage::default()
        };
        let mut last: Option<Vec<u8>> = None;
        for item in self.inner.engine.scan(start, end, q.newest_first) {
            let (key, value) = item?;
            if page.tickets.len() == size {
                if let Some(last) = &last {
                    page.next_page_token = self.inner.tokens.seal(Listing::Tickets, &query, last);
                }
                break;
            }
            last = Some(key.to_vec());
            let ticket = if records {
                Some(codec::decode::<Ticket>(&value, &|| {
                    crate::kv::keys::describe(&key)
                })?)
            } else {
                match keys::trailing_ticket(&key) {
                    Some(id) => self.read_ticket(id)?,
                    None => None,
                }
            };
            let Some(mut t) = ticket else { continue };
            t.sla.evaluate(now);
            if filter::matches(&f, &t, now) {
                page.tickets.push(t);
            }
        }
        Ok(page)
    }

    fn read_ticket(&self, id: crm_core::support::TicketId) -> Result<Option<Ticket>> {
        match self.inner.engine.get(keys::ticket(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("ticket {id}")).map(Some),
            None => Ok(None),
        }
    }
}

/// Evaluates the tickets whose schedule keys are `due` again at `now`.
fn sweep(w: &mut Write<'_>, due: &[Vec<u8>], now: DateTime<Utc>) -> Result<()> {
    for key in due {
        let ticket = match keys::trailing_ticket(key) {
            Some(id) => w.read::<Ticket>(&keys::ticket(id), &|| format!("ticket {id}"))?,
            None => None,
        };
        let Some(old) = ticket else {
            // An entry without its ticket (a damaged store: verify names it) must not be
            // found due again and again.
            w.delete_raw(key);
            continue;
        };
        let mut new = old.clone();
        new.sla.evaluate(now);
        if new.sla == old.sla {
            w.delete_raw(key);
            continue;
        }
        w.put_record::<TicketFamily>(Some(&old), Some(&new))?;
    }
    Ok(())
}
