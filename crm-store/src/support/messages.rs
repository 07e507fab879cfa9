//! A ticket's thread: public replies and internal notes. The business's first public reply is
//! the ticket's first response (and opens a NEW ticket); the customer's reply to a PENDING
//! ticket opens it again, and its clocks run again.

use chrono::{DateTime, Utc};
use crm_core::Violations;
use crm_core::support::ticket::{MAX_TICKET_MESSAGES, validate_message};
use crm_core::support::{Ticket, TicketId, TicketMessage, TicketStatus};
use crm_core::timeline::TicketEventKind;

use super::family::MessageFamily;
use super::{Support, existing, instant, keys};
use crate::audit::changes::ChangeKind;
use crate::error::{Result, StoreError};
use crate::kv::codec;
use crate::kv::token::Listing;

/// A message to add.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewMessage {
    /// Who wrote it; default: the caller.
    pub author: String,
    /// Whether the customer wrote it.
    pub from_customer: bool,
    /// A public reply (true) or an internal note.
    pub public: bool,
    /// The text.
    pub body: String,
    /// When it was written; default now (backdatable, not before the ticket was opened).
    pub at: Option<DateTime<Utc>>,
    /// Makes the call idempotent (AIP-155): a repeat returns the first call's message.
    pub request_id: Option<String>,
}

/// One page of a ticket's messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessagePage {
    /// The messages, in thread order.
    pub messages: Vec<TicketMessage>,
    /// The token for the next page; empty on the last.
    pub next_page_token: String,
}

/// The message a repeated request id added first, with the ticket as it is now.
fn repeat(
    w: &mut crate::write::Write<'_>,
    id: TicketId,
    rid: &str,
    first: &[u8],
) -> Result<(TicketMessage, Ticket)> {
    let reused = |message: String| {
        StoreError::FailedPrecondition(crate::error::Precondition::RequestIdReused {
            request_id: rid.to_owned(),
            message,
        })
    };
    let (ticket, number) = match first {
        [t @ .., a, b, c, d] if t.len() == 8 => (
            TicketId(u64::from_be_bytes(t.try_into().unwrap_or_default())),
            u32::from_be_bytes([*a, *b, *c, *d]),
        ),
        _ => {
            return Err(StoreError::Corrupt {
                key: crate::kv::keys::describe(&super::message_request_key(rid)),
                detail: "a request key does not hold a ticket and a message number".into(),
            });
        }
    };
    if ticket != id {
        return Err(reused(format!(
            "request_id {rid:?} was used for a message on ticket {ticket}"
        )));
    }
    let message = w
        .read::<TicketMessage>(&keys::message(id, number), &|| {
            format!("message {number} of {id}")
        })?
        .ok_or_else(|| reused(format!("request_id {rid:?} names a message since deleted")))?;
    Ok((message, existing(w, id)?))
}

impl Support<'_> {
    /// Adds a message to a ticket's thread. With a `request_id`, a repeat returns the first
    /// call's message and adds nothing.
    ///
    /// Errors: [`StoreError::Invalid`] (no body, a time before the ticket was opened),
    /// [`StoreError::NotFound`], [`StoreError::FailedPrecondition`] (a closed ticket),
    /// [`StoreError::LimitReached`] (the thread is full).
    pub fn add_message(&self, id: TicketId, m: NewMessage) -> Result<(TicketMessage, Ticket)> {
        let (mut author, mut body) = (m.author.clone(), m.body.clone());
        validate_message(&mut author, &mut body).map_err(|v| v.prefixed("message"))?;
        if author.is_empty() {
            author = self.origin().actor.clone();
        }
        let at = instant(self, "message.create_time", m.at)?;
        let rid = m
            .request_id
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let Some(rid) = rid {
            let mut v = Violations::default();
            crate::customers::check_request_id(&mut v, rid);
            v.into_result(())?;
        }
        self.write(|w| {
            if let Some(rid) = rid
                && let Some(first) = w.get(super::message_request_key(rid))?
            {
                return repeat(w, id, rid, &first);
            }
            let old = existing(w, id)?;
            if at < old.opened_at {
                return Err(Violations::one(
                    "message.create_time",
                    format!("is before the ticket was opened ({})", old.opened_at),
                )
                .into());
            }
            if old.status == TicketStatus::Closed {
                return Err(StoreError::FailedPrecondition(
                    crate::error::Precondition::TicketMove {
                        reason: "TICKET_CLOSED",
                        from: "CLOSED",
                        to: "CLOSED",
                        message: "the ticket is closed: open a new one".into(),
                    },
                ));
            }
            if old.message_count >= MAX_TICKET_MESSAGES {
                return Err(StoreError::LimitReached(format!(
                    "a ticket holds at most {MAX_TICKET_MESSAGES} messages"
                )));
            }
            let mut new = old.clone();
            new.message_count += 1;
            let message = TicketMessage {
                ticket_id: id,
                number: new.message_count,
                author: author.clone(),
                from_customer: m.from_customer,
                public: m.public,
                body: body.clone(),
                at,
            };
            w.put_record::<MessageFamily>(None, Some(&message))?;
            let mut fields = vec!["message_count".to_owned()];
            let from_business = m.public && !m.from_customer;
            if from_business && new.first_reply_at.is_none() {
                new.first_reply_at = Some(at);
                fields.push("first_reply_time".into());
                w.ticket_event(&new, TicketEventKind::FirstReply, at, "AddTicketMessage")?;
            }
            let reopens = match new.status {
                TicketStatus::New => from_business,
                TicketStatus::Pending => m.from_customer,
                _ => false,
            };
            if reopens {
                let when = at.max(new.last_event());
                w.move_ticket(&mut new, TicketStatus::Open, when, "AddTicketMessage")?;
                fields.push("status".into());
            }
            new.version += 1;
            new.update_time = w.store.now().max(old.update_time);
            w.store_ticket(
                Some(&old),
                &mut new,
                ChangeKind::Updated,
                fields,
                "AddTicketMessage",
            )?;
            if let Some(rid) = rid {
                let value = [id.0.to_be_bytes().as_slice(), &message.number.to_be_bytes()].concat();
                w.put_raw(super::message_request_key(rid), value);
            }
            Ok((message, new))
        })
    }

    /// Lists a ticket's messages in thread order, `page_size` at a time (0: 50; at most 1000).
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Invalid`] (a page token of another
    /// listing).
    pub fn list_messages(
        &self,
        id: TicketId,
        page_size: usize,
        page_token: &str,
    ) -> Result<MessagePage> {
        self.get_ticket(id)?;
        let prefix = keys::messages_of(id);
        let query = id.to_string();
        let size = crate::customers::list::page_size(page_size);
        let start = match self.open_token(page_token, Listing::TicketMessages, &query, &prefix)? {
            None => std::ops::Bound::Included(prefix.to_vec()),
            Some(after) => std::ops::Bound::Excluded(after),
        };
        let end = crate::customers::list::prefix_end(&prefix);
        let mut page = MessagePage::default();
        let mut last: Option<Vec<u8>> = None;
        for item in self.inner.engine.scan(start, end, false) {
            let (key, value) = item?;
            if page.messages.len() == size {
                if let Some(last) = &last {
                    page.next_page_token =
                        self.inner
                            .tokens
                            .seal(Listing::TicketMessages, &query, last);
                }
                break;
            }
            page.messages
                .push(codec::decode(&value, &|| crate::kv::keys::describe(&key))?);
            last = Some(key.to_vec());
        }
        Ok(page)
    }
}
