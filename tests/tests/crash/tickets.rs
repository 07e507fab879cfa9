//! The crash harness's tickets: a writer opens tickets for its customers and replies to them;
//! after each restart, every acknowledged ticket state must be there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crm_tests::*;
use tonic::Code;

use super::{Model, is_crash, lock, version};

/// What a client was told about a ticket: version, messages.
pub(crate) type TicketState = (u64, i32);

/// A ticket write whose answer never came.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TicketPending {
    Create,
    Reply,
}

/// What the clients were told about one ticket (known by its subject).
#[derive(Clone, Debug)]
pub(crate) struct TicketEntry {
    subject: String,
    customer: String,
    id: Option<String>,
    acked: Option<TicketState>,
    pending: Option<TicketPending>,
}

pub(crate) type Tickets = Arc<Mutex<Vec<TicketEntry>>>;

fn ticket_state(t: &pb::Ticket) -> TicketState {
    (version(&t.etag), t.message_count)
}

/// One ticket write for customer `id`: a new ticket, or a reply on one of the writer's
/// acknowledged tickets. `false` when the server died.
pub(crate) async fn ticket_write(
    support: &mut pb::support_service_client::SupportServiceClient<tonic::transport::Channel>,
    tickets: &Tickets,
    rng: &mut Rng,
    customer: &str,
    cycle: usize,
    w: usize,
    made: usize,
) -> bool {
    let mine: Vec<usize> = lock_tickets(tickets)
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            t.subject.starts_with(&format!("w{w}.")) && t.acked.is_some() && t.pending.is_none()
        })
        .map(|(i, _)| i)
        .collect();
    if mine.is_empty() || rng.below(2) == 0 {
        let subject = format!("w{w}.t{cycle}.{made}");
        let index = {
            let mut t = lock_tickets(tickets);
            t.push(TicketEntry {
                subject: subject.clone(),
                customer: customer.to_owned(),
                id: None,
                acked: None,
                pending: Some(TicketPending::Create),
            });
            t.len() - 1
        };
        let result = support
            .create_ticket(pb::CreateTicketRequest {
                ticket: Some(pb::Ticket {
                    customer_id: customer.to_owned(),
                    subject,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await;
        return match result {
            Ok(r) => {
                let r = r.into_inner();
                let mut t = lock_tickets(tickets);
                t[index].id = Some(r.id.clone());
                t[index].acked = Some(ticket_state(&r));
                t[index].pending = None;
                true
            }
            Err(s) if is_crash(&s) => false,
            Err(s) => panic!("ticket refused: {s:?}"),
        };
    }
    let index = mine[rng.below(mine.len() as u64) as usize];
    let id = {
        let mut t = lock_tickets(tickets);
        t[index].pending = Some(TicketPending::Reply);
        t[index].id.clone().unwrap_or_default()
    };
    let result = support
        .add_ticket_message(pb::AddTicketMessageRequest {
            ticket_id: id,
            request_id: String::new(),
            message: Some(pb::TicketMessage {
                author: "agent".into(),
                public: true,
                body: "on it".into(),
                ..Default::default()
            }),
        })
        .await;
    match result {
        Ok(r) => {
            let ticket = r.into_inner().ticket.unwrap_or_default();
            let mut t = lock_tickets(tickets);
            t[index].acked = Some(ticket_state(&ticket));
            t[index].pending = None;
            true
        }
        Err(s) if is_crash(&s) => false,
        // Deleting a customer deletes its tickets: the writer deleted this one's customer.
        Err(s) if s.code() == Code::NotFound => {
            lock_tickets(tickets)[index].acked = None;
            lock_tickets(tickets)[index].pending = None;
            true
        }
        Err(s) => panic!("reply refused: {s:?}"),
    }
}

/// Whether the customer has a ticket in the model (acknowledged or in flight).
pub(crate) fn has_tickets(tickets: &Tickets, customer: &str) -> bool {
    lock_tickets(tickets).iter().any(|t| t.customer == customer)
}

fn lock_tickets(tickets: &Tickets) -> std::sync::MutexGuard<'_, Vec<TicketEntry>> {
    tickets.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks the restarted server's tickets against the model and settles unknown outcomes.
/// Returns how many acknowledged ticket states were checked.
pub(crate) async fn check_tickets(
    addr: std::net::SocketAddr,
    tickets: &Tickets,
    model: &Model,
) -> usize {
    // Customers the server no longer has (the customer check settled the model first): their
    // tickets went with them.
    let gone: std::collections::HashSet<String> = lock(model)
        .iter()
        .filter(|e| e.acked.is_none())
        .filter_map(|e| e.id.clone())
        .collect();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect_lazy();
    let mut support = pb::support_service_client::SupportServiceClient::new(channel);
    let mut on_server: HashMap<String, pb::Ticket> = HashMap::new();
    let mut page_token = String::new();
    loop {
        let page = support
            .list_tickets(pb::ListTicketsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("list tickets: {s:?}"))
            .into_inner();
        on_server.extend(page.tickets.into_iter().map(|t| (t.subject.clone(), t)));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let entries = lock_tickets(tickets).clone();
    let mut checked = 0;
    let mut settled = Vec::with_capacity(entries.len());
    for mut e in entries {
        let found = on_server.remove(&e.subject);
        let now = found.as_ref().map(ticket_state);
        let ok = match (&e.acked, e.pending, now) {
            _ if now.is_none() && gone.contains(&e.customer) => true,
            (None, None, None) => true,
            (_, Some(TicketPending::Create), None) => true,
            (_, Some(TicketPending::Create), Some(state)) => state == (1, 0),
            (Some(acked), None, Some(state)) => *acked == state,
            (Some((v, m)), Some(TicketPending::Reply), Some(state)) => {
                state == (*v, *m) || state == (v + 1, m + 1)
            }
            _ => false,
        };
        assert!(
            ok,
            "ticket {} of {}: acknowledged {:?}, in flight {:?}, found {:?}",
            e.subject, e.customer, e.acked, e.pending, now
        );
        if e.pending.is_none() {
            checked += 1;
        }
        e.id = found.map(|t| t.id).or(e.id);
        e.acked = now;
        e.pending = None;
        if e.acked.is_some() {
            settled.push(e);
        }
    }
    assert!(
        on_server.is_empty(),
        "tickets nobody opened: {:?}",
        on_server.keys().collect::<Vec<_>>()
    );
    *lock_tickets(tickets) = settled;
    checked
}
