//! The subject's export (KVKK art. 11, GDPR art. 15 and 20): everything the store holds about
//! one person, as structured JSON, item by item.
//!
//! Items come in a fixed order: the customer record (with its consent history and, once
//! erased, its erasure), its timeline, its tickets each followed by its thread, its loyalty
//! account and ledger, its deals, the tasks about it, and the audit events about it. Each item
//! is one JSON object: the stored `crm-core` type as serde writes it (field names as in the
//! Rust types; times as microseconds since the Unix epoch, UTC; amounts in minor units).

use crm_core::CustomerId;
use serde::Serialize;

use super::Privacy;
use crate::error::{Result, StoreError};
use crate::kv::{codec, keys};
use crate::{AuditQuery, Resource};

/// What an export item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExportSection {
    /// The customer record, with its consent history.
    Customer,
    /// One timeline entry.
    TimelineEntry,
    /// One support ticket.
    Ticket,
    /// One message of a ticket's thread.
    TicketMessage,
    /// The loyalty account.
    LoyaltyAccount,
    /// One loyalty ledger entry.
    LoyaltyEntry,
    /// One deal.
    Deal,
    /// One task about the customer.
    Task,
    /// One audit event about the customer (who wrote what, never values).
    AuditEvent,
}

impl ExportSection {
    /// The section's name in the export (`timeline_entry`).
    pub fn name(self) -> &'static str {
        match self {
            ExportSection::Customer => "customer",
            ExportSection::TimelineEntry => "timeline_entry",
            ExportSection::Ticket => "ticket",
            ExportSection::TicketMessage => "ticket_message",
            ExportSection::LoyaltyAccount => "loyalty_account",
            ExportSection::LoyaltyEntry => "loyalty_entry",
            ExportSection::Deal => "deal",
            ExportSection::Task => "task",
            ExportSection::AuditEvent => "audit_event",
        }
    }
}

/// One item of an export.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportItem {
    /// What it is.
    pub section: ExportSection,
    /// The item, as a JSON object.
    pub json: serde_json::Value,
}

fn item(section: ExportSection, value: &impl Serialize) -> Result<ExportItem> {
    let json = serde_json::to_value(value)
        .map_err(|e| StoreError::Storage(format!("cannot export a {}: {e}", section.name())))?;
    Ok(ExportItem { section, json })
}

impl Privacy<'_> {
    /// Everything held about customer `id` (see the module). The export is audited: an
    /// `ExportCustomerData` event about `customer ID` in the configuration trail, with the
    /// handle's actor, written before anything is returned.
    ///
    /// Errors: [`StoreError::NotFound`] (unknown or merged id), [`StoreError::Corrupt`].
    pub fn export(&self, id: CustomerId) -> Result<Vec<ExportItem>> {
        use ExportSection as S;
        let customer = self.customers().get(id)?;
        let kv = &self.inner.engine;
        let mut out = vec![item(S::Customer, &customer)?];
        let scan = |prefix: &[u8], out: &mut Vec<(Vec<u8>, Vec<u8>)>| -> Result<()> {
            for pair in kv.scan_prefix(prefix) {
                out.push(pair?);
            }
            Ok(())
        };
        let mut rows = Vec::new();
        scan(&keys::of_customer(keys::TIMELINE, id), &mut rows)?;
        for (k, v) in rows.drain(..) {
            let e: crm_core::TimelineEntry = codec::decode(&v, &|| keys::describe(&k))?;
            out.push(item(S::TimelineEntry, &e)?);
        }
        let mut tickets = Vec::new();
        scan(&crate::support::keys::by_customer_prefix(id), &mut tickets)?;
        for (k, _) in tickets {
            let Some(tid) = crate::support::keys::trailing_ticket(&k) else {
                continue;
            };
            let ticket = self.support().get_ticket(tid)?;
            out.push(item(S::Ticket, &ticket)?);
            scan(&crate::support::keys::messages_of(tid), &mut rows)?;
            for (k, v) in rows.drain(..) {
                let m: crm_core::support::TicketMessage =
                    codec::decode(&v, &|| keys::describe(&k))?;
                out.push(item(S::TicketMessage, &m)?);
            }
        }
        let member_key = crate::loyalty::family::member_key(id);
        if let Some(v) = kv.get(member_key)? {
            let m: crate::loyalty::family::Member =
                codec::decode(&v, &|| keys::describe(&member_key))?;
            out.push(item(S::LoyaltyAccount, &m)?);
        }
        scan(&crate::loyalty::family::entries_of(id), &mut rows)?;
        for (k, v) in rows.drain(..) {
            let e: crate::loyalty::family::StoredEntry = codec::decode(&v, &|| keys::describe(&k))?;
            out.push(item(S::LoyaltyEntry, &e)?);
        }
        scan(&crate::deals::keys::by_customer_prefix(id), &mut rows)?;
        for (k, _) in std::mem::take(&mut rows) {
            if let Some(did) = crate::deals::keys::trailing_deal(&k) {
                out.push(item(S::Deal, &self.deals().get_deal(did)?)?);
            }
        }
        let link = crm_core::tasks::TaskLink::Customer(id);
        scan(&crate::tasks::keys::link_prefix(link), &mut rows)?;
        for (k, _) in std::mem::take(&mut rows) {
            if let Some(tid) = crate::tasks::keys::trailing_task(&k) {
                out.push(item(S::Task, &self.tasks().get_task(tid)?)?);
            }
        }
        let mut query = AuditQuery {
            customer_id: Some(id),
            page_size: 1000,
            ..AuditQuery::default()
        };
        loop {
            let page = self.audit().events(&query)?;
            for e in &page.events {
                out.push(item(S::AuditEvent, e)?);
            }
            if page.next_page_token.is_empty() {
                break;
            }
            query.page_token = page.next_page_token;
        }
        if out.is_empty() {
            return Err(StoreError::NotFound(Resource::Customer(id)));
        }
        self.write(|w| {
            let sections: std::collections::BTreeSet<&str> =
                out.iter().map(|i| i.section.name()).collect();
            let fields = sections.into_iter().map(String::from).collect();
            w.log_configuration("ExportCustomerData", format!("customer {id}"), fields)
        })?;
        Ok(out)
    }
}
