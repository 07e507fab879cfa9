//! Customers: create, get, update, delete and look up. Each write changes the record, its index
//! entries, its unique keys and the change log in one atomic batch.

use chrono::DateTime;
use crm_core::lifecycle::{MoveError, check_manual_move};
use crm_core::normalize::normalize_email;
use crm_core::timeline::StageChange;
use crm_core::{
    Customer, CustomerData, CustomerId, CustomerKind, Event, TimelineEntry, UpdateMask, Violations,
    validate_customer,
};

pub mod bulk;
pub mod counts;
pub mod duplicates;
pub mod export;
pub(crate) mod family;
pub mod import;
pub(crate) mod legacy;
pub mod list;
pub mod merge;
pub mod search;

use crate::Store;
use crate::audit::changes::ChangeKind;
use crate::error::{Precondition, Resource, Result, StoreError};
use crate::kv::keys;
use crate::write::Write;

crate::store::handle!(
    /// Customers: create, read, update, delete, look up, list, search and count them.
    Customers,
    customers
);

/// Longest request id accepted (AIP-155), in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

impl Store {
    fn lookup(&self, key: &[u8], what: Resource) -> Result<Customer> {
        let Some(owner) = self.inner.engine.get(key)? else {
            return Err(StoreError::NotFound(what));
        };
        let id = keys::u64_value(&owner)
            .map(CustomerId)
            .ok_or_else(|| StoreError::Corrupt {
                key: keys::describe(key),
                detail: "a unique key does not hold a customer id".into(),
            })?;
        self.customers().get(id).map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::NotFound(what),
            other => other,
        })
    }
}

pub(crate) fn check_request_id(v: &mut Violations, rid: &str) {
    if rid.is_empty()
        || rid.len() > MAX_REQUEST_ID_BYTES
        || !rid.bytes().all(|b| b.is_ascii_graphic())
    {
        v.add(
            "request_id",
            format!(
                "must be 1 to {MAX_REQUEST_ID_BYTES} printable ASCII characters (a UUID is best)"
            ),
        );
    }
}

fn replay(w: &mut Write<'_>, rid: &str, first: &[u8]) -> Result<Customer> {
    let id = keys::u64_value(first)
        .map(CustomerId)
        .ok_or_else(|| StoreError::Corrupt {
            key: keys::describe(&keys::request(rid)),
            detail: "a request entry does not hold a customer id".into(),
        })?;
    w.customer(id)?.ok_or_else(|| {
        StoreError::FailedPrecondition(Precondition::RequestIdReused {
            request_id: rid.to_owned(),
            message: format!(
                "request_id {rid:?} already created customer {id}, which has since been deleted"
            ),
        })
    })
}

/// An etag check (AIP-154): a given, non-empty etag must be the current one.
pub(crate) fn check_etag(current: &str, etag: Option<&str>) -> Result<()> {
    match etag.map(str::trim).filter(|e| !e.is_empty()) {
        Some(given) if given != current => Err(StoreError::Aborted {
            given: given.to_owned(),
            current: current.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// An update mask of a record whose updatable fields are `allowed` (tickets, deals, tasks,
/// rewards): at least one path, each one of them; every bad path named.
pub(crate) fn check_mask(mask: &[String], allowed: &[&str]) -> Result<()> {
    let mut v = Violations::default();
    if mask.is_empty() {
        v.add("update_mask", "name the fields to change");
    }
    for (i, field) in mask.iter().enumerate() {
        if !allowed.contains(&field.as_str()) {
            v.add(
                format!("update_mask.paths[{i}]"),
                format!(
                    "{field:?} cannot be updated; one of: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    v.into_result(()).map_err(Into::into)
}

/// An organization reference must name an existing organization (unique values are the
/// family's to check). Only what `before` did not already hold is checked.
fn check_references(w: &mut Write<'_>, before: Option<&Customer>, c: &Customer) -> Result<()> {
    if let Some(org) = c.data.organization_id
        && before.is_none_or(|b| b.data.organization_id != Some(org))
    {
        let problem = match w.customer(org)? {
            _ if org == c.id => Some("cannot name the customer itself"),
            None => Some("no customer has this id"),
            Some(o) if o.kind() != CustomerKind::Organization => {
                Some("names a person, not an organization")
            }
            Some(_) => None,
        };
        if let Some(why) = problem {
            return Err(Violations::one("organization_id", why).into());
        }
    }
    Ok(())
}

impl Customers<'_> {
    /// Creates a customer from validated, normalized `data` and returns it with its id, times
    /// and etag.
    ///
    /// `request_id` makes the call idempotent (AIP-155): a second call with the same id returns
    /// the customer the first one created instead of creating another.
    ///
    /// Errors: [`StoreError::Invalid`] (every bad field), [`StoreError::AlreadyExists`] (an email
    /// or the external id belongs to another customer).
    pub fn create(&self, mut data: CustomerData, request_id: Option<&str>) -> Result<Customer> {
        let now = self.now();
        let mut v = match validate_customer(&mut data, now) {
            Ok(()) => Violations::default(),
            Err(v) => v,
        };
        if let Some(rid) = request_id {
            check_request_id(&mut v, rid);
        }
        v.into_result(())?;
        self.write(|w| create_in(w, &data, request_id, now))
    }

    /// Reads a customer. Errors: [`StoreError::NotFound`], [`StoreError::Corrupt`].
    pub fn get(&self, id: CustomerId) -> Result<Customer> {
        match self.read_customer(id)? {
            Some(c) => Ok(c),
            None => {
                let tomb = self.inner.engine.get(keys::of_customer(keys::MERGED, id))?;
                Err(merge::missing(tomb, id))
            }
        }
    }

    /// Updates the fields `mask` names from `patch` (AIP-134). With `etag`, the update happens
    /// only if the customer is still at that version (AIP-154). An update that changes nothing
    /// writes nothing and returns the customer as it is.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`] (stale etag),
    /// [`StoreError::Invalid`], [`StoreError::AlreadyExists`], [`StoreError::FailedPrecondition`]
    /// (a backward lifecycle move, which needs a reason).
    pub fn update(
        &self,
        id: CustomerId,
        patch: &CustomerData,
        mask: &UpdateMask,
        etag: Option<&str>,
    ) -> Result<Customer> {
        let now = self.now();
        self.write(|w| update_in(w, id, patch, mask, etag, now))
    }

    /// Deletes a customer with every index entry, its timeline, and what other domains keep
    /// about it (its support tickets, its feedback) (AIP-135). With `etag`, only if the
    /// customer is still at that version. An organization that people belong to cannot be deleted.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`], [`StoreError::FailedPrecondition`].
    pub fn delete(&self, id: CustomerId, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let current = w.existing_customer(id)?;
            check_etag(&current.etag(), etag)?;
            if current.kind() == CustomerKind::Organization {
                let members = w.members(id)?;
                if members > 0 {
                    return Err(StoreError::FailedPrecondition(
                        Precondition::OrganizationHasMembers {
                            organization: id,
                            members,
                        },
                    ));
                }
            }
            for cascade in crate::kv::family::CUSTOMER_CASCADES {
                cascade(w, id)?;
            }
            w.delete_timeline(id)?;
            w.put_customer(Some(&current), None, ChangeKind::Deleted, Vec::new())
        })
    }

    /// Finds the customer with an email address, case-insensitively.
    /// Errors: [`StoreError::Invalid`] (not an address), [`StoreError::NotFound`].
    pub fn lookup_by_email(&self, email: &str) -> Result<Customer> {
        let address = normalize_email(email).map_err(|why| Violations::one("email", why))?;
        self.lookup(
            &keys::unique_email(&address),
            Resource::Email(address.clone()),
        )
    }

    /// Finds the customer with an external id (exact match). Errors: [`StoreError::NotFound`].
    pub fn lookup_by_external_id(&self, external_id: &str) -> Result<Customer> {
        let trimmed = external_id.trim();
        if trimmed.is_empty() {
            return Err(Violations::one("external_id", "is required").into());
        }
        self.lookup(
            &keys::unique_external_id(trimmed),
            Resource::ExternalId(trimmed.to_owned()),
        )
    }
}

/// Creates a customer within `w` from validated `data`: see [`Customers::create`].
pub(crate) fn create_in(
    w: &mut Write<'_>,
    data: &CustomerData,
    request_id: Option<&str>,
    now: DateTime<chrono::Utc>,
) -> Result<Customer> {
    if let Some(rid) = request_id
        && let Some(first) = w.get(keys::request(rid))?
    {
        return replay(w, rid, &first);
    }
    let id = w.next_id(now)?;
    let create_time =
        DateTime::from_timestamp_millis(i64::try_from(id.0 >> 20).unwrap_or(i64::MAX))
            .unwrap_or(now);
    let customer = Customer {
        erased: None,
        id,
        create_time,
        update_time: create_time,
        version: 1,
        data: data.clone(),
    };
    check_references(w, None, &customer)?;
    w.check_suppressed(None, &customer.data)?;
    let blank = CustomerData::new(match customer.kind() {
        CustomerKind::Person => crm_core::Party::Person(crm_core::Person::default()),
        CustomerKind::Organization => {
            crm_core::Party::Organization(crm_core::Organization::default())
        }
    });
    let fields = blank
        .changed_fields(&customer.data)
        .into_iter()
        .map(String::from)
        .collect();
    w.put_customer(None, Some(&customer), ChangeKind::Created, fields)?;
    if let Some(rid) = request_id {
        let mut value = id.0.to_be_bytes().to_vec();
        value.extend_from_slice(&now.timestamp_micros().to_be_bytes());
        w.put_raw(keys::request(rid), value);
    }
    Ok(customer)
}

/// Updates a customer within `w`: see [`Customers::update`].
pub(crate) fn update_in(
    w: &mut Write<'_>,
    id: CustomerId,
    patch: &CustomerData,
    mask: &UpdateMask,
    etag: Option<&str>,
    now: DateTime<chrono::Utc>,
) -> Result<Customer> {
    let current = w.existing_customer(id)?;
    crate::privacy::check_not_erased(&current)?;
    check_etag(&current.etag(), etag)?;
    let mut data = mask.apply(&current.data, patch)?;
    validate_customer(&mut data, now)?;
    if data == current.data {
        return Ok(current);
    }
    check_manual_move(current.data.lifecycle_stage, data.lifecycle_stage, None).map_err(
        |e| match e {
            MoveError::BackwardWithoutReason { from, to } => {
                StoreError::FailedPrecondition(Precondition::BackwardStageMove {
                    from,
                    to,
                    message: format!("{e}: an update can only move the lifecycle stage forward"),
                })
            }
        },
    )?;
    let fields = current
        .data
        .changed_fields(&data)
        .into_iter()
        .map(String::from)
        .collect();
    let updated = Customer {
        update_time: now.max(current.update_time),
        version: current.version + 1,
        data,
        ..current.clone()
    };
    check_references(w, Some(&current), &updated)?;
    w.check_suppressed(Some(&current.data), &updated.data)?;
    w.put_customer(Some(&current), Some(&updated), ChangeKind::Updated, fields)?;
    let (from, to) = (current.data.lifecycle_stage, updated.data.lifecycle_stage);
    if from != to {
        // Every move is on the timeline, also one made by an update.
        let actor = w.store.origin().actor.clone();
        let entry = TimelineEntry {
            id: w.next_entry()?,
            customer_id: id,
            occurred_at: now,
            recorded_at: now,
            actor,
            event: Event::StageChange(StageChange {
                from,
                to,
                reason: "UpdateCustomer".into(),
                automatic: false,
            }),
        };
        w.put_raw(
            keys::timeline(id, now, entry.id),
            crate::kv::codec::encode(&entry)?,
        );
    }
    Ok(updated)
}
