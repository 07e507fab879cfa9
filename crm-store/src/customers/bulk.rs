//! Batch writes: many customers in one engine transaction, each item on its own.
//!
//! A batch is one atomic write of the items that succeed: an item that fails (invalid, a taken
//! email, a stale match) is undone and gets its error; the others commit together, with one
//! change-log event each. An error about the store itself (the engine, damage) fails the whole
//! batch, and nothing of it is written.

use chrono::{DateTime, Utc};
use crm_core::normalize::normalize_email;
use crm_core::{Customer, CustomerData, CustomerId, UpdateMask, Violations, validate_customer};

use crate::customers::{Customers, check_request_id, create_in, update_in};
use crate::error::{Precondition, Result, StoreError};
use crate::kv::keys;
use crate::write::Write;

/// Most items one batch call takes.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// What an upsert did with one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upserted {
    /// No customer matched: this one was created.
    Created(Customer),
    /// A customer matched and was changed.
    Updated(Customer),
    /// A customer matched and already held these values: nothing was written.
    Unchanged(Customer),
}

impl Upserted {
    /// The customer, as it is after the upsert.
    pub fn customer(&self) -> &Customer {
        match self {
            Upserted::Created(c) | Upserted::Updated(c) | Upserted::Unchanged(c) => c,
        }
    }
}

/// One item's result.
pub type ItemResult<T> = std::result::Result<T, StoreError>;

fn check_size(n: usize) -> Result<()> {
    if n > MAX_BATCH_ITEMS {
        return Err(Violations::one(
            "requests",
            format!("holds {n} items; a batch takes at most {MAX_BATCH_ITEMS}"),
        )
        .into());
    }
    Ok(())
}

/// Validates and normalizes each item's data before the write: an invalid item is failed
/// here, its violations named within the customer.
pub(crate) fn validated(
    items: Vec<CustomerData>,
    now: DateTime<Utc>,
) -> Vec<ItemResult<CustomerData>> {
    items
        .into_iter()
        .map(|mut data| match validate_customer(&mut data, now) {
            Ok(()) => Ok(data),
            Err(v) => Err(StoreError::Invalid(v)),
        })
        .collect()
}

/// The customer an upsert of `data` is about: the one with its external id, else the one with
/// one of its emails. Emails that belong to two customers, or an email whose customer has
/// another external id, are refused (the row would merge two records).
pub(crate) fn matching(w: &mut Write<'_>, data: &CustomerData) -> Result<Option<Customer>> {
    if let Some(ext) = &data.external_id
        && let Some(owner) = w.get(keys::unique_external_id(ext))?
        && let Some(id) = keys::u64_value(&owner)
    {
        return w.customer(CustomerId(id));
    }
    let mut found: Option<CustomerId> = None;
    for e in &data.emails {
        let Ok(address) = normalize_email(&e.address) else {
            continue;
        };
        let Some(owner) = w.get(keys::unique_email(&address))? else {
            continue;
        };
        let Some(id) = keys::u64_value(&owner).map(CustomerId) else {
            continue;
        };
        match found {
            Some(other) if other != id => {
                return Err(StoreError::FailedPrecondition(
                    Precondition::AmbiguousMatch {
                        message: format!(
                            "its emails belong to two customers, {other} and {id}: merge them first, \
                         or send an external_id"
                        ),
                    },
                ));
            }
            _ => found = Some(id),
        }
    }
    let Some(id) = found else { return Ok(None) };
    let Some(customer) = w.customer(id)? else {
        return Ok(None);
    };
    if let (Some(mine), Some(theirs)) = (&data.external_id, &customer.data.external_id)
        && mine != theirs
    {
        return Err(StoreError::FailedPrecondition(
            Precondition::AmbiguousMatch {
                message: format!(
                    "its email belongs to customer {id}, whose external_id is {theirs:?}, not {mine:?}"
                ),
            },
        ));
    }
    Ok(Some(customer))
}

/// Upserts one item within `w`: see [`Customers::batch_upsert`].
pub(crate) fn upsert_in(
    w: &mut Write<'_>,
    data: &CustomerData,
    mask: &UpdateMask,
    now: DateTime<Utc>,
) -> Result<Upserted> {
    match matching(w, data)? {
        None => create_in(w, data, None, now).map(Upserted::Created),
        Some(current) => {
            // A row without an external id keeps the one the customer has.
            let kept;
            let data = if data.external_id.is_none() && current.data.external_id.is_some() {
                kept = CustomerData {
                    external_id: current.data.external_id.clone(),
                    ..data.clone()
                };
                &kept
            } else {
                data
            };
            let updated = update_in(w, current.id, data, mask, None, now)?;
            Ok(if updated.version == current.version {
                Upserted::Unchanged(updated)
            } else {
                Upserted::Updated(updated)
            })
        }
    }
}

impl Customers<'_> {
    /// Creates up to [`MAX_BATCH_ITEMS`] customers in one atomic write, each item on its own:
    /// the result of each, in order (the customer, or why it was refused, with fields named
    /// within the item: the others are created all the same). An item's request id makes it idempotent, as for
    /// [`Customers::create`].
    ///
    /// Errors (for the whole call, nothing written): [`StoreError::Invalid`] (too many items),
    /// engine errors.
    pub fn batch_create(
        &self,
        items: Vec<(CustomerData, Option<String>)>,
    ) -> Result<Vec<ItemResult<Customer>>> {
        check_size(items.len())?;
        let now = self.now();
        let (datas, rids): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        let mut checked = validated(datas, now);
        for (item, rid) in checked.iter_mut().zip(&rids) {
            if let (Some(rid), Ok(_)) = (rid, &item) {
                let mut v = Violations::default();
                check_request_id(&mut v, rid);
                if !v.is_empty() {
                    *item = Err(v.into());
                }
            }
        }
        self.write(|w| {
            w.operation = Some("BatchCreateCustomers");
            let mut out = Vec::with_capacity(checked.len());
            for (data, rid) in checked.iter().zip(&rids) {
                out.push(match data {
                    Err(e) => Err(e.clone_for_item()),
                    Ok(data) => w.item(|w| create_in(w, data, rid.as_deref(), now))?,
                });
            }
            Ok(out)
        })
    }

    /// Creates or updates up to [`MAX_BATCH_ITEMS`] customers in one atomic write, each item
    /// on its own. An item matches the customer with its `external_id`, else one with one of
    /// its emails; a match is updated with the fields `mask` names (default: every field but
    /// the lifecycle stage, which the timeline moves), anything else is created.
    ///
    /// Errors (for the whole call, nothing written): as [`Customers::batch_create`].
    pub fn batch_upsert(
        &self,
        items: Vec<CustomerData>,
        mask: Option<&UpdateMask>,
    ) -> Result<Vec<ItemResult<Upserted>>> {
        check_size(items.len())?;
        let now = self.now();
        let checked = validated(items, now);
        let mask = mask
            .cloned()
            .unwrap_or_else(|| UpdateMask::all().keep_lifecycle_stage());
        self.write(|w| {
            w.operation = Some("BatchUpsertCustomers");
            let mut out = Vec::with_capacity(checked.len());
            for data in &checked {
                out.push(match data {
                    Err(e) => Err(e.clone_for_item()),
                    Ok(data) => w.item(|w| upsert_in(w, data, &mask, now))?,
                });
            }
            Ok(out)
        })
    }
}
