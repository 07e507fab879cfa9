//! Import: rows of customers, each with the timeline entries it brings (purchases, refunds,
//! interactions at their real, backdated times), written many rows per engine transaction.
//!
//! - Each row carries an idempotency key. The key is stored with the row, in the same atomic
//!   write, with a digest of the row: an import cut short (a killed client, a dropped
//!   connection, a killed server) is resumed by sending it again, whole, and rows already in
//!   are answered `AlreadyImported` without writing anything. The same key with other content
//!   is refused.
//! - A row is upserted: it matches the customer with its external id, else one of its emails
//!   ([`crate::customers::bulk`]).
//! - A row that fails is undone alone and gets its error; the other rows of the batch commit.
//! - A dry run does all of it, rows seeing the rows before them, and writes nothing.

use chrono::{DateTime, Utc};
use crm_core::timeline::{
    Interaction, Purchase, Refund, validate_interaction, validate_purchase, validate_refund,
};
use crm_core::{Customer, CustomerData, CustomerId, UpdateMask, Violations, validate_customer};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::customers::Customers;
use crate::customers::bulk::{ItemResult, MAX_BATCH_ITEMS, Upserted, upsert_in};
use crate::error::{Precondition, Result, StoreError};
use crate::kv::keys;
use crate::timeline::record::{EntryMeta, Meta, interaction_in, purchase_in, refund_in};
use crate::write::Write;

/// The operation an import's change-log events name.
pub const IMPORT_OPERATION: &str = "ImportCustomers";

/// A timeline entry an import row brings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ImportEvent {
    /// A purchase (its order reference makes it count once, as for `RecordPurchase`).
    Purchase(Purchase),
    /// A refund of one of the customer's purchases (recorded earlier, or earlier in the row).
    Refund(Refund),
    /// A contact.
    Interaction(Interaction),
}

/// One timeline entry of a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportEntry {
    /// When it happened (backdated freely; at most 5 minutes ahead of the store's clock).
    pub occurred_at: DateTime<Utc>,
    /// Who did it on the business's side (default: the importer's actor).
    pub actor: String,
    /// What happened.
    pub event: ImportEvent,
}

/// One row of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportRow {
    /// The row's idempotency key: unique within what is ever imported into this store (a file
    /// name and line number, an ERP's record id and version). 1 to 128 printable ASCII.
    pub key: String,
    /// The customer: created, or upserted onto the one with its external id or email.
    pub customer: CustomerData,
    /// Timeline entries, recorded in order after the customer.
    pub entries: Vec<ImportEntry>,
}

/// What an import did with one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    /// The customer was created, updated or found unchanged, and the entries recorded.
    Written {
        /// The customer, after the row.
        upserted: Box<Upserted>,
        /// Entries recorded (a purchase whose order was already recorded counts as none).
        entries: usize,
    },
    /// A row with this key and this content was imported before: nothing was written.
    AlreadyImported {
        /// The customer the row wrote to.
        customer_id: CustomerId,
    },
}

/// A row checked before the write: the customer normalized, each entry's meta.
struct Checked<'r> {
    row: &'r ImportRow,
    customer: CustomerData,
    metas: Vec<Meta>,
    digest: [u8; 32],
}

impl Customers<'_> {
    /// Imports up to [`MAX_BATCH_ITEMS`] rows in one atomic engine write, each row on its own
    /// (see the module documentation); with `dry_run`, writes nothing and answers what a real
    /// run would. `mask` is what an update of a matched customer changes (default: every field
    /// but the lifecycle stage).
    ///
    /// Errors (for the whole call, nothing written): [`StoreError::Invalid`] (too many rows),
    /// engine errors.
    pub fn import(
        &self,
        rows: &[ImportRow],
        mask: Option<&UpdateMask>,
        dry_run: bool,
    ) -> Result<Vec<ItemResult<Imported>>> {
        if rows.len() > MAX_BATCH_ITEMS {
            return Err(Violations::one(
                "rows",
                format!(
                    "holds {} rows; one message takes at most {MAX_BATCH_ITEMS}",
                    rows.len()
                ),
            )
            .into());
        }
        let now = self.now();
        let checked: Vec<ItemResult<Checked<'_>>> =
            rows.iter().map(|row| self.check_row(row, now)).collect();
        let mask = mask
            .cloned()
            .unwrap_or_else(|| UpdateMask::all().keep_lifecycle_stage());
        let body = |w: &mut Write<'_>| {
            w.operation = Some(IMPORT_OPERATION);
            let mut out = Vec::with_capacity(checked.len());
            for row in &checked {
                out.push(match row {
                    Err(e) => Err(e.clone_for_item()),
                    Ok(row) => w.item(|w| import_row(w, row, &mask, now))?,
                });
            }
            Ok(out)
        };
        if dry_run {
            self.write_nothing(body)
        } else {
            self.write(body)
        }
    }

    /// Checks a row before the write: every violation of the row, named within it.
    fn check_row<'r>(&self, row: &'r ImportRow, now: DateTime<Utc>) -> ItemResult<Checked<'r>> {
        let mut v = Violations::default();
        crate::customers::check_request_id(&mut v, &row.key);
        if !v.is_empty() {
            v = Violations::one("key", "must be 1 to 128 printable ASCII characters");
        }
        let mut customer = row.customer.clone();
        if let Err(e) = validate_customer(&mut customer, now) {
            v.0.extend(e.prefixed("customer").0);
        }
        let mut metas = Vec::with_capacity(row.entries.len());
        for (i, entry) in row.entries.iter().enumerate() {
            let mut event = entry.event.clone();
            let (checked, name) = match &mut event {
                ImportEvent::Purchase(p) => (validate_purchase(p), "purchase"),
                ImportEvent::Refund(r) => (validate_refund(r), "refund"),
                ImportEvent::Interaction(x) => (validate_interaction(x), "interaction"),
            };
            let meta = EntryMeta {
                occurred_at: Some(entry.occurred_at),
                actor: Some(entry.actor.clone()).filter(|a| !a.trim().is_empty()),
                request_id: None,
            };
            match self.checked(checked, name, meta) {
                Ok(m) => metas.push(m),
                Err(StoreError::Invalid(e)) => v.0.extend(e.prefixed(&format!("entries[{i}]")).0),
                Err(other) => return Err(other),
            }
        }
        v.into_result(())?;
        Ok(Checked {
            row,
            customer,
            metas,
            digest: digest(row)?,
        })
    }
}

/// A digest of everything a row says, to tell a resent row from a different one.
fn digest(row: &ImportRow) -> Result<[u8; 32]> {
    let bytes = bincode::serde::encode_to_vec(row, bincode::config::standard())
        .map_err(|e| StoreError::Storage(format!("cannot encode an import row: {e}")))?;
    Ok(Sha256::digest(&bytes).into())
}

fn import_row(
    w: &mut Write<'_>,
    row: &Checked<'_>,
    mask: &UpdateMask,
    now: DateTime<Utc>,
) -> Result<Imported> {
    let key = keys::import_row(&row.row.key);
    if let Some(done) = w.get(&key)? {
        let customer_id = keys::u64_value(&done).map(CustomerId);
        return match (customer_id, done.get(16..48)) {
            (Some(customer_id), Some(d)) if d == row.digest => {
                Ok(Imported::AlreadyImported { customer_id })
            }
            (Some(customer_id), _) => Err(StoreError::FailedPrecondition(
                Precondition::RequestIdReused {
                    request_id: row.row.key.clone(),
                    message: format!(
                        "row key {:?} was imported before (into customer {customer_id}) with \
                         other content: give changed rows new keys",
                        row.row.key
                    ),
                },
            )),
            (None, _) => Err(StoreError::Corrupt {
                key: keys::describe(&key),
                detail: "an import row key does not hold a customer id".into(),
            }),
        };
    }
    let upserted = upsert_in(w, &row.customer, mask, now)?;
    let id = upserted.customer().id;
    let mut recorded = 0;
    let mut last: Option<Customer> = None;
    for (i, (entry, m)) in row.row.entries.iter().zip(&row.metas).enumerate() {
        let done = match &entry.event {
            ImportEvent::Purchase(p) => purchase_in(w, id, p, m, IMPORT_OPERATION),
            ImportEvent::Refund(r) => refund_in(w, id, r, m, IMPORT_OPERATION),
            ImportEvent::Interaction(x) => interaction_in(w, id, x, m, IMPORT_OPERATION),
        }
        .map_err(|e| match e {
            StoreError::Invalid(v) => StoreError::Invalid(v.prefixed(&format!("entries[{i}]"))),
            other => other,
        })?;
        if !done.duplicate {
            recorded += 1;
        }
        last = Some(done.customer);
    }
    let mut value = id.0.to_be_bytes().to_vec();
    value.extend_from_slice(&now.timestamp_micros().to_be_bytes());
    value.extend_from_slice(&row.digest);
    w.put_raw(key, value);
    let upserted = match (upserted, last) {
        (Upserted::Created(_), Some(c)) => Upserted::Created(c),
        (Upserted::Updated(_), Some(c)) => Upserted::Updated(c),
        (Upserted::Unchanged(_), Some(c)) => Upserted::Unchanged(c),
        (u, None) => u,
    };
    Ok(Imported::Written {
        upserted: Box::new(upserted),
        entries: recorded,
    })
}
