//! Pipelines and deals: each write one transaction with the deal's indexes, its place in the
//! rotting schedule, the change log, and (for a won deal whose caller asks) the purchase on
//! the customer's timeline.
//!
//! A deal *rots* at a fixed instant (when it entered its stage, plus the stage's threshold),
//! so its schedule key `f 5 rots_at id` serves `rotting = true` exactly at every instant: the
//! deals rotting at `t` are the range up to `t`, with no sweep. A pipeline change that moves a
//! threshold writes its deals again in the same transaction.

pub(crate) mod family;
pub(crate) mod keys;
mod list;
pub mod pipelines;

use chrono::{DateTime, Utc};
use crm_core::deals::deal::validate_deal;
use crm_core::deals::{Deal, DealData, DealId, DealRefused, DealStatus, Pipeline, PipelineId};
use crm_core::{CustomerId, Violations};

pub use list::{DealPage, DealQuery};

use crate::audit::changes::{ChangeKind, EntityKind, EntityRef};
use crate::error::{Precondition, Resource, Result, StoreError};
use crate::kv::codec;
use crate::write::Write;
use family::DealFamily;

crate::store::handle!(
    /// Sales pipelines, deals, and the forecast.
    Deals,
    deals
);

/// The fields of a deal an update can name (the stage moves with [`Deals::move_deal`]).
pub const DEAL_FIELDS: [&str; 7] = [
    "name",
    "amount",
    "close_date",
    "owner",
    "probability",
    "contacts",
    "line_items",
];

/// A refused deal change as the store's error.
pub(crate) fn refused(e: DealRefused) -> StoreError {
    match e {
        DealRefused::UnknownStage { .. } => Violations::one("stage", e.to_string()).into(),
        DealRefused::Closed(_) => not_now("DEAL_CLOSED", e.to_string()),
        DealRefused::AlreadyOpen => not_now("DEAL_OPEN", e.to_string()),
        DealRefused::HistoryFull => StoreError::LimitReached(e.to_string()),
    }
}

pub(crate) fn not_now(reason: &'static str, message: String) -> StoreError {
    StoreError::FailedPrecondition(Precondition::NotNow { reason, message })
}

/// A deal's etag: `v` and its version.
pub fn etag_of(d: &Deal) -> String {
    format!("v{}", d.version)
}

impl Write<'_> {
    /// A pipeline, which must exist.
    pub(crate) fn pipeline(&mut self, id: PipelineId) -> Result<Pipeline> {
        self.read(&keys::pipeline(id), &|| format!("pipeline {id}"))?
            .ok_or(StoreError::NotFound(Resource::Pipeline(id)))
    }

    /// A deal, which must exist.
    pub(crate) fn existing_deal(&mut self, id: DealId) -> Result<Deal> {
        self.read(&keys::deal(id), &|| format!("deal {id}"))?
            .ok_or(StoreError::NotFound(Resource::Deal(id)))
    }

    /// Writes a deal's new state with what it implies and its change-log event.
    pub(crate) fn store_deal(
        &mut self,
        old: Option<&Deal>,
        new: &Deal,
        kind: ChangeKind,
        fields: Vec<String>,
        operation: &str,
    ) -> Result<()> {
        self.put_record::<DealFamily>(old, Some(new))?;
        let entity = EntityRef {
            kind: EntityKind::Deal,
            id: new.id.0,
        };
        let customer = Some(new.data.customer_id);
        self.log_change(
            entity,
            customer,
            kind,
            new.version,
            new.update_time,
            fields,
            operation,
        )
    }

    /// Moves an existing deal to a stage of its pipeline (an automation action, or
    /// [`Deals::move_deal`]); nothing is written if it is there already.
    pub(crate) fn move_deal_in(
        &mut self,
        id: DealId,
        stage: &str,
        operation: &str,
    ) -> Result<Deal> {
        let old = self.existing_deal(id)?;
        self.move_existing(old, stage, operation)
    }

    fn move_existing(&mut self, old: Deal, stage: &str, operation: &str) -> Result<Deal> {
        self.change_deal(old, &["stage"], operation, |d, p, at| {
            d.move_to(stage, p, at)
        })
    }

    /// Changes a deal by `change` at the write's instant under its pipeline, and stores it
    /// with `fields` as what changed (nothing, if nothing did).
    fn change_deal(
        &mut self,
        old: Deal,
        fields: &[&str],
        operation: &str,
        change: impl FnOnce(&mut Deal, &Pipeline, DateTime<Utc>) -> Result<(), DealRefused>,
    ) -> Result<Deal> {
        let pipeline = self.pipeline(old.data.pipeline_id)?;
        let now = self.store.now().max(old.update_time);
        let mut new = old.clone();
        change(&mut new, &pipeline, now).map_err(refused)?;
        if new == old {
            return Ok(old);
        }
        new.version += 1;
        new.update_time = now;
        let fields = fields.iter().map(|f| (*f).to_owned()).collect();
        self.store_deal(Some(&old), &new, ChangeKind::Updated, fields, operation)?;
        Ok(new)
    }

    /// Sets a deal's owner (an automation action).
    pub(crate) fn set_deal_owner(
        &mut self,
        id: DealId,
        owner: Option<String>,
        op: &str,
    ) -> Result<()> {
        let old = self.existing_deal(id)?;
        self.change_deal(old, &["owner"], op, |d, p, at| {
            d.data.owner = owner;
            d.settle(p, at)
        })?;
        Ok(())
    }

    fn check_parties(&mut self, d: &DealData) -> Result<()> {
        self.existing_customer(d.customer_id)?;
        for (i, c) in d.contacts.iter().enumerate() {
            if self.customer(*c)?.is_none() {
                return Err(Violations::one(
                    format!("deal.contacts[{i}]"),
                    format!("customer {c} does not exist"),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Deletes a deal, the tasks about it, and logs it.
    pub(crate) fn delete_deal_in(&mut self, old: &Deal, operation: &str) -> Result<()> {
        crate::tasks::forget_link(self, crm_core::tasks::TaskLink::Deal(old.id), operation)?;
        self.put_record::<DealFamily>(Some(old), None)?;
        let entity = EntityRef {
            kind: EntityKind::Deal,
            id: old.id.0,
        };
        let now = self.store.now();
        let customer = Some(old.data.customer_id);
        self.log_change(
            entity,
            customer,
            ChangeKind::Deleted,
            old.version,
            now,
            Vec::new(),
            operation,
        )
    }
}

impl Deals<'_> {
    /// Opens a deal in its pipeline's stage (the first stage if none is named). With a
    /// `request_id`, a repeat returns the first call's deal.
    ///
    /// Errors: [`StoreError::Invalid`] (every bad field; a stage not in the pipeline; a
    /// contact that does not exist), [`StoreError::NotFound`] (the customer, the pipeline).
    pub fn create_deal(&self, mut data: DealData, request_id: Option<&str>) -> Result<Deal> {
        let mut v = match validate_deal(&mut data) {
            Ok(()) => Violations::default(),
            Err(v) => v.prefixed("deal"),
        };
        let request_id = request_id.map(str::trim).filter(|r| !r.is_empty());
        if let Some(rid) = request_id {
            crate::customers::check_request_id(&mut v, rid);
        }
        data.stage = data.stage.trim().to_ascii_lowercase();
        v.into_result(())?;
        self.write(|w| {
            if let Some(rid) = request_id
                && let Some(id) = crate::support::created_for(w, 3, rid)?
            {
                return w.existing_deal(DealId(id));
            }
            let pipeline = w.pipeline(data.pipeline_id)?;
            w.check_parties(&data)?;
            let now = w.store.now();
            let id = DealId(w.next_id_in(crate::kv::keys::META_LAST_DEAL, now)?);
            let mut d = Deal {
                id,
                data: data.clone(),
                status: DealStatus::Open,
                outcome_reason: None,
                stage_entered_at: now,
                rots_at: None,
                history: Vec::new(),
                create_time: now,
                update_time: now,
                version: 1,
            };
            if d.data.stage.is_empty() {
                d.data.stage = pipeline
                    .data
                    .stages
                    .first()
                    .map(|s| s.key.clone())
                    .unwrap_or_default();
            }
            d.settle(&pipeline, now).map_err(|e| match refused(e) {
                StoreError::Invalid(v) => StoreError::Invalid(v.prefixed("deal")),
                other => other,
            })?;
            let fields = [
                "customer_id",
                "name",
                "amount",
                "close_date",
                "pipeline_id",
                "stage",
            ]
            .into_iter()
            .map(String::from)
            .collect();
            w.store_deal(None, &d, ChangeKind::Created, fields, "CreateDeal")?;
            if let Some(rid) = request_id {
                crate::support::remember_created(w, 3, rid, id.0);
            }
            Ok(d)
        })
    }

    /// Reads a deal. Errors: [`StoreError::NotFound`].
    pub fn get_deal(&self, id: DealId) -> Result<Deal> {
        match self.inner.engine.get(keys::deal(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("deal {id}")),
            None => Err(StoreError::NotFound(Resource::Deal(id))),
        }
    }

    /// Changes the fields `mask` names (of [`DEAL_FIELDS`]) to their values in `data`; with
    /// `etag`, only if the deal is still at that version.
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn update_deal(
        &self,
        id: DealId,
        data: DealData,
        mask: &[String],
        etag: Option<&str>,
    ) -> Result<Deal> {
        crate::customers::check_mask(mask, &DEAL_FIELDS)?;
        self.write(|w| {
            let old = w.existing_deal(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            let mut new = old.clone();
            for field in mask {
                let d = &mut new.data;
                match field.as_str() {
                    "name" => d.name = data.name.clone(),
                    "amount" => d.amount = data.amount.clone(),
                    "close_date" => d.close_date = data.close_date,
                    "owner" => d.owner = data.owner.clone(),
                    "probability" => d.probability = data.probability,
                    "contacts" => d.contacts = data.contacts.clone(),
                    _ => d.line_items = data.line_items.clone(),
                }
            }
            validate_deal(&mut new.data).map_err(|v| v.prefixed("deal"))?;
            if new.data == old.data {
                return Ok(old);
            }
            if new.data.contacts != old.data.contacts {
                w.check_parties(&new.data)?;
            }
            let pipeline = w.pipeline(new.data.pipeline_id)?;
            new.version += 1;
            new.update_time = w.store.now().max(old.update_time);
            new.settle(&pipeline, new.update_time).map_err(refused)?;
            w.store_deal(
                Some(&old),
                &new,
                ChangeKind::Updated,
                mask.to_vec(),
                "UpdateDeal",
            )?;
            Ok(new)
        })
    }

    /// Moves an open deal to another stage of its pipeline; with `etag`, only if it is still
    /// at that version.
    ///
    /// Errors: [`StoreError::Invalid`] (a stage not in the pipeline), [`StoreError::NotFound`],
    /// [`StoreError::Aborted`], [`StoreError::FailedPrecondition`] (`DEAL_CLOSED`),
    /// [`StoreError::LimitReached`] (the history is full).
    pub fn move_deal(&self, id: DealId, stage: &str, etag: Option<&str>) -> Result<Deal> {
        let stage = stage.trim().to_ascii_lowercase();
        self.write(|w| {
            let old = w.existing_deal(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            w.move_existing(old, &stage, "MoveDeal")
        })
    }

    /// Closes an open deal as won or lost, with a reason. A won deal's amount goes to the
    /// customer's timeline as a purchase (order reference `deal-ID`) only if
    /// `record_purchase`: an ERP that reports the order itself would count it twice.
    ///
    /// Errors: [`StoreError::Invalid`] (no reason), [`StoreError::NotFound`],
    /// [`StoreError::Aborted`], [`StoreError::FailedPrecondition`] (`DEAL_CLOSED`).
    pub fn close_deal(
        &self,
        id: DealId,
        won: bool,
        reason: &str,
        record_purchase: bool,
        etag: Option<&str>,
    ) -> Result<Deal> {
        let mut reason = reason.to_owned();
        let mut v = Violations::default();
        crm_core::validate::check_text(&mut v, "reason", &mut reason, 200);
        if reason.is_empty() {
            v.add("reason", "is required: say why the deal was won or lost");
        }
        if record_purchase && !won {
            v.add("record_purchase", "only a won deal is a purchase");
        }
        v.into_result(())?;
        self.write(|w| {
            let old = w.existing_deal(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            let fields = ["status", "outcome_reason"];
            let new = w.change_deal(old, &fields, "CloseDeal", |d, p, at| {
                d.close(won, reason.clone(), p, at)
            })?;
            if won && record_purchase && new.data.amount.amount_minor > 0 {
                record_won(w, &new, new.update_time)?;
            }
            Ok(new)
        })
    }

    /// Reopens a won or lost deal into a stage of its pipeline.
    ///
    /// Errors: [`StoreError::Invalid`] (a stage not in the pipeline), [`StoreError::NotFound`],
    /// [`StoreError::Aborted`], [`StoreError::FailedPrecondition`] (`DEAL_OPEN`).
    pub fn reopen_deal(&self, id: DealId, stage: &str, etag: Option<&str>) -> Result<Deal> {
        let stage = stage.trim().to_ascii_lowercase();
        self.write(|w| {
            let old = w.existing_deal(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            w.change_deal(old, &["status", "stage"], "ReopenDeal", |d, p, at| {
                d.reopen(&stage, p, at)
            })
        })
    }

    /// Deletes a deal and the tasks about it; with `etag`, only if it is still at that
    /// version. Errors: [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn delete_deal(&self, id: DealId, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let old = w.existing_deal(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            w.delete_deal_in(&old, "DeleteDeal")
        })
    }
}

/// A won deal's amount as a purchase on its customer's timeline.
fn record_won(w: &mut Write<'_>, d: &Deal, at: DateTime<Utc>) -> Result<()> {
    let mut purchase = crm_core::timeline::Purchase {
        order_ref: format!("deal-{}", d.id),
        amount: d.data.amount.clone(),
        line_items: Vec::new(),
    };
    crm_core::timeline::validate_purchase(&mut purchase).map_err(|v| v.prefixed("deal"))?;
    let meta = crate::timeline::record::Meta {
        at,
        actor: w.store.origin().actor.clone(),
        request_id: None,
    };
    crate::timeline::record::purchase_in(w, d.data.customer_id, &purchase, &meta, "CloseDeal")?;
    Ok(())
}

/// Removes a deleted customer's deals and the tasks about them.
pub(crate) fn forget_customer(w: &mut Write<'_>, id: CustomerId) -> Result<()> {
    for (key, _) in w.scan_prefix(&keys::by_customer_prefix(id))? {
        if let Some(deal) = keys::trailing_deal(&key) {
            let old = w.existing_deal(deal)?;
            w.delete_deal_in(&old, "DeleteCustomer")?;
        }
    }
    Ok(())
}

/// Replaces the name and outcome reason of an erased customer's deals, and the texts of the
/// tasks about them (amounts, stages and history stay: forecasts and reports do not change).
pub(crate) fn erase_customer(w: &mut Write<'_>, id: CustomerId) -> Result<()> {
    use crm_core::privacy::erasure::erase_text;
    for (key, _) in w.scan_prefix(&keys::by_customer_prefix(id))? {
        if let Some(deal) = keys::trailing_deal(&key) {
            crate::tasks::erase_link(w, crm_core::tasks::TaskLink::Deal(deal))?;
            let old = w.existing_deal(deal)?;
            let mut new = old.clone();
            erase_text(&mut new.data.name);
            if let Some(reason) = &mut new.outcome_reason {
                erase_text(reason);
            }
            if new != old {
                new.version += 1;
                new.update_time = w.store.now().max(old.update_time);
                let fields = vec!["name".into(), "outcome_reason".into()];
                w.store_deal(
                    Some(&old),
                    &new,
                    ChangeKind::Updated,
                    fields,
                    "EraseCustomer",
                )?;
            }
        }
    }
    Ok(())
}
