//! Customers as a family: the record (`C id`) and what it implies: its index entries (`I`), its
//! unique email and external-id keys (`U`), the member count of its organization (`N`) and the
//! count of its kind in its lifecycle stage (`K`).

use crm_core::{Customer, CustomerId};

use crate::audit::changes::{ChangeKind, EntityRef};
use crate::error::{Result, UniqueField};
use crate::kv::family::{Family, Kept};
use crate::kv::keys;
use crate::write::Write;

/// The customer family.
#[derive(Debug)]
pub(crate) struct CustomerFamily;

impl Family for CustomerFamily {
    type Record = Customer;
    const NAME: &'static str = "customer";
    const PREFIX: &'static [u8] = &[keys::CUSTOMER];

    fn key(c: &Customer) -> Vec<u8> {
        keys::customer(c.id).to_vec()
    }

    fn keep(c: &Customer, kept: &mut Kept) {
        for entry in keys::index_entries(c) {
            kept.index(entry, []);
        }
        let owner = c.id.0.to_be_bytes();
        for (index, e) in c.data.emails.iter().enumerate() {
            kept.unique(
                keys::unique_email(&e.address),
                owner,
                UniqueField::Email { index },
                e.address.clone(),
            );
        }
        if let Some(ext) = &c.data.external_id {
            kept.unique(
                keys::unique_external_id(ext),
                owner,
                UniqueField::ExternalId,
                ext.clone(),
            );
        }
        if let Some(org) = c.data.organization_id {
            kept.count(keys::members(org));
        }
        kept.count(keys::stage_count(c.kind(), c.data.lifecycle_stage));
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        [keys::INDEX, keys::UNIQUE, keys::MEMBERS, keys::STAGE_COUNT]
            .into_iter()
            .map(|p| vec![p])
            .collect()
    }

    fn describe(key: &[u8]) -> String {
        match keys::trailing_id(key) {
            Some(id) if key.len() == 9 => format!("customer {id}"),
            _ => keys::describe(key),
        }
    }

    fn owner_of(key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let id = match key.first() {
            Some(&keys::INDEX) => keys::trailing_id(key)?,
            Some(&keys::UNIQUE) => CustomerId(keys::u64_value(value)?),
            _ => return None,
        };
        Some(keys::customer(id).to_vec())
    }
}

impl Write<'_> {
    /// Writes a customer's new state (`new`), replacing `old`, and logs it: see
    /// [`Write::store_customer`] and [`Write::log`].
    pub(crate) fn put_customer(
        &mut self,
        old: Option<&Customer>,
        new: Option<&Customer>,
        kind: ChangeKind,
        fields: Vec<String>,
    ) -> Result<()> {
        let Some(subject) = new.or(old) else {
            return Ok(());
        };
        let (id, version) = (subject.id, subject.version);
        let time = new.map_or_else(|| self.store.now(), |c| c.update_time);
        self.store_customer(old, new)?;
        let operation = match kind {
            ChangeKind::Created => "CreateCustomer",
            ChangeKind::Updated => "UpdateCustomer",
            ChangeKind::Deleted => "DeleteCustomer",
            ChangeKind::Recorded => "RecordTimelineEntry",
            ChangeKind::Published => "PublishEvent",
            ChangeKind::Erased => "EraseCustomer",
        };
        self.log(id, kind, version, time, fields, operation)
    }

    /// Writes a customer's new state (`new`), replacing `old`, with what the family keeps, and
    /// marks the customer for the derived index.
    pub(crate) fn store_customer(
        &mut self,
        old: Option<&Customer>,
        new: Option<&Customer>,
    ) -> Result<()> {
        let Some(subject) = new.or(old) else {
            return Ok(());
        };
        let id = subject.id;
        self.put_record::<CustomerFamily>(old, new)?;
        let inputs_changed = match (old, new) {
            (Some(o), Some(n)) => {
                let model = self.scoring_model()?;
                model.fit(o) != model.fit(n)
            }
            _ => true,
        };
        let touched = self.touched.entry(id).or_default();
        touched.customer = Some(new.cloned());
        touched.reevaluate |= inputs_changed;
        Ok(())
    }

    /// Appends a change-log event (with who made it, for the audit trail) for a write to a
    /// customer; the family keeps its entry in the customer's audit index.
    pub(crate) fn log(
        &mut self,
        id: CustomerId,
        kind: ChangeKind,
        version: u64,
        time: chrono::DateTime<chrono::Utc>,
        fields: Vec<String>,
        operation: &str,
    ) -> Result<()> {
        let entity = EntityRef::customer(id);
        self.log_change(entity, Some(id), kind, version, time, fields, operation)
    }

    /// Appends a change-log event about any entity (belonging to a customer, or not).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn log_change(
        &mut self,
        entity: EntityRef,
        customer_id: Option<CustomerId>,
        kind: ChangeKind,
        version: u64,
        time: chrono::DateTime<chrono::Utc>,
        fields: Vec<String>,
        operation: &str,
    ) -> Result<()> {
        let seq = self.next_seq()?;
        let origin = self.store.origin();
        let actor = match self.cause {
            Some(c) => format!("rule:{}", c.rule),
            None => origin.actor.clone(),
        };
        let record = crate::audit::changes::LogRecord {
            change: crate::ChangeEvent {
                seq,
                time,
                entity,
                customer_id,
                kind,
                version,
                fields,
            },
            actor,
            operation: self.operation.unwrap_or(operation).into(),
            request_id: origin.request_id.clone(),
            origin: origin.source.clone(),
            cause: self.cause,
        };
        self.put_record::<crate::audit::changes::ChangeLog>(None, Some(&record))
    }

    /// How many people belong to an organization.
    pub(crate) fn members(&mut self, org: CustomerId) -> Result<u64> {
        self.count(&keys::members(org))
    }
}
