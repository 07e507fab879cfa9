//! `crm.v1.SupportService`: tickets, their threads, the SLA policy, the business calendar and
//! the support report.

use crm_core::Violations;
use crm_core::support::{BusinessCalendar, Ticket, TicketId};
use crm_store::support::{NewMessage, TicketQuery};
use crm_store::{Store, StoreError};
use tonic::{Request, Response, Status};

use crate::convert::support::{
    calendar_from_proto, calendar_to_proto, message_to_proto, policy_from_proto, policy_to_proto,
    status_from_proto, support_report_to_proto, ticket_from_proto, ticket_to_proto,
};
use crate::layer::Call;
use crate::pb;
use crate::pb::support_service_server::SupportService;
use crate::services::common::{audited, blocking, non_empty, page_size, time_in};
use crate::services::feedback::period;
use crate::status::{Fields, invalid};

/// The support service over a store.
#[derive(Clone, Debug)]
pub struct SupportApi {
    store: Store,
}

impl SupportApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        SupportApi { store }
    }

    /// The caller's audited store.
    fn as_caller<T>(&self, request: &Request<T>) -> Result<Store, Status> {
        let Call { caller, request_id } = Call::of(request)?;
        Ok(audited(&self.store, caller, request_id))
    }
}

fn ticket_id(field: &str, text: &str) -> Result<TicketId, Status> {
    text.trim()
        .parse()
        .map_err(|e: String| invalid(Violations::one(field, e)))
}

/// Tickets as messages, with the calendar in force (for business time left).
fn tickets_out(
    s: &Store,
    tickets: Vec<Ticket>,
) -> Result<(Vec<Ticket>, BusinessCalendar), StoreError> {
    Ok((tickets, s.support().business_calendar()?.value))
}

fn one_out(s: &Store, t: Ticket) -> Result<(Ticket, BusinessCalendar), StoreError> {
    Ok((t, s.support().business_calendar()?.value))
}

fn ticket_response(store: &Store, (t, calendar): (Ticket, BusinessCalendar)) -> pb::Ticket {
    ticket_to_proto(&t, store.now(), &calendar)
}

#[tonic::async_trait]
impl SupportService for SupportApi {
    async fn create_ticket(
        &self,
        request: Request<pb::CreateTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let store = self.as_caller(&request)?;
        let pb::CreateTicketRequest { ticket, request_id } = request.into_inner();
        let Some(ticket) = ticket else {
            return Err(invalid(Violations::one("ticket", "is required")));
        };
        let missing_customer = ticket.customer_id.trim().is_empty();
        let input = ticket_from_proto(ticket).map_err(|v| invalid(v.prefixed("ticket")))?;
        if missing_customer {
            return Err(invalid(Violations::one(
                "ticket.customer_id",
                "is required",
            )));
        }
        let rid = non_empty(request_id);
        let out = blocking(store.clone(), Fields::Request, move |s| {
            let t = s
                .support()
                .create_ticket(input.data, input.opened_at, rid.as_deref())?;
            one_out(s, t)
        })
        .await?;
        Ok(Response::new(ticket_response(&store, out)))
    }

    async fn get_ticket(
        &self,
        request: Request<pb::GetTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let id = ticket_id("id", &request.into_inner().id)?;
        let out = blocking(self.store.clone(), Fields::Request, move |s| {
            let t = s.support().get_ticket(id)?;
            one_out(s, t)
        })
        .await?;
        Ok(Response::new(ticket_response(&self.store, out)))
    }

    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        let pb::ListTicketsRequest {
            filter,
            order_by,
            page_size: size,
            page_token,
        } = request.into_inner();
        let newest_first = match order_by.trim().to_ascii_lowercase().as_str() {
            "" | "create_time" | "create_time asc" => false,
            "create_time desc" => true,
            _ => {
                return Err(invalid(Violations::one(
                    "order_by",
                    format!(
                        "{order_by:?}: tickets are ordered by `create_time` or `create_time desc`"
                    ),
                )));
            }
        };
        let query = TicketQuery {
            filter,
            page_size: page_size(size)?,
            page_token,
            newest_first,
        };
        let ((tickets, calendar), next, now) =
            blocking(self.store.clone(), Fields::Request, move |s| {
                let page = s.support().list_tickets(&query)?;
                Ok((
                    tickets_out(s, page.tickets)?,
                    page.next_page_token,
                    page.as_of,
                ))
            })
            .await?;
        Ok(Response::new(pb::ListTicketsResponse {
            tickets: tickets
                .iter()
                .map(|t| ticket_to_proto(t, now, &calendar))
                .collect(),
            next_page_token: next,
        }))
    }

    async fn update_ticket(
        &self,
        request: Request<pb::UpdateTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateTicketRequest {
            ticket,
            update_mask,
            etag,
        } = request.into_inner();
        let Some(ticket) = ticket else {
            return Err(invalid(Violations::one("ticket", "is required")));
        };
        let id = ticket_id("ticket.id", &ticket.id)?;
        let etag = non_empty(etag).or_else(|| non_empty(ticket.etag.clone()));
        let mask = update_mask.map(|m| m.paths).unwrap_or_default();
        let input = ticket_from_proto(ticket).map_err(|v| invalid(v.prefixed("ticket")))?;
        let out = blocking(store.clone(), Fields::Request, move |s| {
            let t = s
                .support()
                .update_ticket(id, input.data, &mask, etag.as_deref())?;
            one_out(s, t)
        })
        .await?;
        Ok(Response::new(ticket_response(&store, out)))
    }

    async fn delete_ticket(
        &self,
        request: Request<pb::DeleteTicketRequest>,
    ) -> Result<Response<pb::DeleteTicketResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::DeleteTicketRequest { id, etag } = request.into_inner();
        let tid = ticket_id("id", &id)?;
        let etag = non_empty(etag);
        blocking(store, Fields::Request, move |s| {
            s.support().delete_ticket(tid, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeleteTicketResponse {
            id: tid.to_string(),
        }))
    }

    async fn move_ticket(
        &self,
        request: Request<pb::MoveTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let store = self.as_caller(&request)?;
        let pb::MoveTicketRequest {
            id,
            status,
            move_time,
            etag,
        } = request.into_inner();
        let mut v = Violations::default();
        let tid = ticket_id("id", &id)
            .map_err(|_| v.add("id", "is not a ticket id"))
            .ok();
        let to = status_from_proto(status);
        if to.is_none() {
            v.add(
                "status",
                "set the status to move to (TICKET_OPEN, TICKET_PENDING, ...)",
            );
        }
        let at = time_in(&mut v, "move_time", move_time);
        v.into_result(()).map_err(invalid)?;
        let (Some(tid), Some(to)) = (tid, to) else {
            return Err(invalid(Violations::one("status", "is required")));
        };
        let etag = non_empty(etag);
        let out = blocking(store.clone(), Fields::Request, move |s| {
            let t = s.support().move_ticket(tid, to, at, etag.as_deref())?;
            one_out(s, t)
        })
        .await?;
        Ok(Response::new(ticket_response(&store, out)))
    }

    async fn add_ticket_message(
        &self,
        request: Request<pb::AddTicketMessageRequest>,
    ) -> Result<Response<pb::AddTicketMessageResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::AddTicketMessageRequest {
            ticket_id: id,
            message,
            request_id,
        } = request.into_inner();
        let tid = ticket_id("ticket_id", &id)?;
        let Some(message) = message else {
            return Err(invalid(Violations::one("message", "is required")));
        };
        let pb::TicketMessage {
            number: _,
            author,
            from_customer,
            public,
            body,
            create_time,
        } = message;
        let mut v = Violations::default();
        let at = time_in(&mut v, "message.create_time", create_time);
        v.into_result(()).map_err(invalid)?;
        let new = NewMessage {
            author,
            from_customer,
            public,
            body,
            at,
            request_id: non_empty(request_id),
        };
        let ((message, ticket), calendar) = blocking(store.clone(), Fields::Request, move |s| {
            let out = s.support().add_message(tid, new)?;
            Ok((out, s.support().business_calendar()?.value))
        })
        .await?;
        Ok(Response::new(pb::AddTicketMessageResponse {
            message: Some(message_to_proto(&message)),
            ticket: Some(ticket_to_proto(&ticket, store.now(), &calendar)),
        }))
    }

    async fn list_ticket_messages(
        &self,
        request: Request<pb::ListTicketMessagesRequest>,
    ) -> Result<Response<pb::ListTicketMessagesResponse>, Status> {
        let pb::ListTicketMessagesRequest {
            ticket_id: id,
            page_size: size,
            page_token,
        } = request.into_inner();
        let tid = ticket_id("ticket_id", &id)?;
        let size = page_size(size)?;
        let page = blocking(self.store.clone(), Fields::Request, move |s| {
            s.support().list_messages(tid, size, &page_token)
        })
        .await?;
        Ok(Response::new(pb::ListTicketMessagesResponse {
            messages: page.messages.iter().map(message_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_sla_policy(
        &self,
        _request: Request<pb::GetSlaPolicyRequest>,
    ) -> Result<Response<pb::SlaPolicy>, Status> {
        let policy = blocking(self.store.clone(), Fields::Request, |s| {
            s.support().sla_policy()
        })
        .await?;
        Ok(Response::new(policy_to_proto(&policy)))
    }

    async fn update_sla_policy(
        &self,
        request: Request<pb::UpdateSlaPolicyRequest>,
    ) -> Result<Response<pb::SlaPolicy>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateSlaPolicyRequest { policy, etag } = request.into_inner();
        let Some(policy) = policy else {
            return Err(invalid(Violations::one("policy", "is required")));
        };
        let policy = policy_from_proto(policy).map_err(|v| invalid(v.prefixed("policy")))?;
        let etag = non_empty(etag);
        let stored = blocking(store, Fields::Request, move |s| {
            s.support().update_sla_policy(policy, etag.as_deref())
        })
        .await?;
        Ok(Response::new(policy_to_proto(&stored)))
    }

    async fn get_business_calendar(
        &self,
        _request: Request<pb::GetBusinessCalendarRequest>,
    ) -> Result<Response<pb::BusinessCalendar>, Status> {
        let calendar = blocking(self.store.clone(), Fields::Request, |s| {
            s.support().business_calendar()
        })
        .await?;
        Ok(Response::new(calendar_to_proto(&calendar)))
    }

    async fn update_business_calendar(
        &self,
        request: Request<pb::UpdateBusinessCalendarRequest>,
    ) -> Result<Response<pb::BusinessCalendar>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateBusinessCalendarRequest { calendar, etag } = request.into_inner();
        let Some(calendar) = calendar else {
            return Err(invalid(Violations::one("calendar", "is required")));
        };
        let calendar =
            calendar_from_proto(calendar).map_err(|v| invalid(v.prefixed("calendar")))?;
        let etag = non_empty(etag);
        let stored = blocking(store, Fields::Request, move |s| {
            s.support()
                .update_business_calendar(calendar, etag.as_deref())
        })
        .await?;
        Ok(Response::new(calendar_to_proto(&stored)))
    }

    async fn get_support_report(
        &self,
        request: Request<pb::GetSupportReportRequest>,
    ) -> Result<Response<pb::SupportReport>, Status> {
        let pb::GetSupportReportRequest {
            start_time,
            end_time,
        } = request.into_inner();
        let mut v = Violations::default();
        let (from, to) = period(&mut v, start_time, end_time);
        v.into_result(()).map_err(invalid)?;
        let report = blocking(self.store.clone(), Fields::Request, move |s| {
            s.support().report(from, to)
        })
        .await?;
        Ok(Response::new(support_report_to_proto(&report)))
    }
}
