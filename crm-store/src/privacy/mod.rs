//! Privacy (KVKK, GDPR): consent records, erasure with its suppression list, the subject's
//! export, retention, and the offline compaction that takes erased bytes out of the files.
//!
//! - **Consent** lives in the customer record as an append-only history
//!   (`crm_core::privacy::consent`); [`Privacy::record_consent`] appends one decision in the
//!   customer's own write, so the current consent (filters, segments for a purpose) is exact
//!   the moment the write returns.
//! - **Erasure** ([`Privacy::erase`], `erase.rs`) anonymizes the customer in one write: the
//!   record, every domain's texts about the person (each domain lists its eraser in
//!   `kv::family::CUSTOMER_ERASERS`), index and search entries and unique keys (through the
//!   families' keepers), import-row keys and merge records that hold the person's data. Its
//!   emails and phones join the suppression list as keyed hashes (`x kind hash`), so a create,
//!   import or update that brings one back is refused (`SUPPRESSED_CONTACT`) unless it records
//!   a new consent grant. The erasure is an `ERASED` event on the change feed.
//! - **Compaction** (`compact.rs`) rewrites the data directory with only the live keys: after it,
//!   no file holds the erased bytes (DESIGN.md, "Erasure and the bytes on disk").

mod compact;
mod erase;
mod export;
mod retention;

use chrono::{DateTime, Utc};
use crm_core::privacy::{ConsentRecord, Erasure, validate_consent_record};
use crm_core::{Customer, CustomerData, CustomerId};

use crate::error::{Precondition, Result, StoreError};
use crate::kv::keys;
use crate::write::Write;

pub use compact::{CompactInfo, compact};
pub use export::{ExportItem, ExportSection};
pub use retention::{RetentionPlan, RetentionRun};

crate::store::handle!(
    /// Privacy: consent records, erasure, the subject's export, retention.
    Privacy,
    privacy
);

/// The refusal of a write to an erased customer.
pub(crate) fn erased(id: CustomerId) -> StoreError {
    StoreError::FailedPrecondition(Precondition::NotNow {
        reason: "CUSTOMER_ERASED",
        message: format!(
            "customer {id}'s personal data was erased; it takes no more personal data (create \
             a new customer, with new consent, if the person comes back)"
        ),
    })
}

/// Refuses a write to a customer that was erased.
pub(crate) fn check_not_erased(c: &Customer) -> Result<()> {
    match c.erased {
        Some(_) => Err(erased(c.id)),
        None => Ok(()),
    }
}

/// What a suppression key is about.
#[derive(Clone, Copy)]
enum Contact {
    Email = 1,
    Phone = 2,
}

impl Write<'_> {
    /// The suppression key of an email (normalized, lower-case) or a phone (E.164).
    fn suppression_key(&self, contact: Contact, value: &str) -> Vec<u8> {
        let hash = self
            .store
            .inner
            .tokens
            .keyed_hash(b"crm suppression v1", value.as_bytes());
        let mut key = vec![keys::SUPPRESSED, contact as u8];
        key.extend_from_slice(&hash);
        key
    }

    /// Puts an erased customer's contact points on the suppression list.
    fn suppress(&mut self, c: &Customer, at: DateTime<Utc>) {
        let mut value = c.id.0.to_be_bytes().to_vec();
        value.extend_from_slice(&at.timestamp_micros().to_be_bytes());
        let contacts = c
            .data
            .emails
            .iter()
            .map(|e| (Contact::Email, e.address.as_str()))
            .chain(
                c.data
                    .phones
                    .iter()
                    .map(|p| (Contact::Phone, p.number.as_str())),
            );
        let keys: Vec<Vec<u8>> = contacts.map(|(k, v)| self.suppression_key(k, v)).collect();
        for key in keys {
            self.put_raw(key, &value);
        }
    }

    /// Refuses `after`'s emails and phones that `before` did not have and that belong to an
    /// erased person, unless `after` records a consent grant `before` did not (the person came
    /// back and agreed again): then their suppression ends in this write.
    pub(crate) fn check_suppressed(
        &mut self,
        before: Option<&CustomerData>,
        after: &CustomerData,
    ) -> Result<()> {
        let had = |f: &dyn Fn(&CustomerData) -> bool| before.is_some_and(f);
        let mut fresh = Vec::new();
        for e in &after.emails {
            if !had(&|d| d.emails.iter().any(|o| o.address == e.address)) {
                fresh.push(("emails", self.suppression_key(Contact::Email, &e.address)));
            }
        }
        for p in &after.phones {
            if !had(&|d| d.phones.iter().any(|o| o.number == p.number)) {
                fresh.push(("phones", self.suppression_key(Contact::Phone, &p.number)));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let old_history = before.map_or(0, |d| d.consent.history.len());
        let new_grant = after
            .consent
            .history
            .iter()
            .skip(old_history)
            .any(|r| r.granted);
        for (field, key) in fresh {
            if self.get(&key)?.is_none() {
                continue;
            }
            if !new_grant {
                return Err(StoreError::FailedPrecondition(Precondition::NotNow {
                    reason: "SUPPRESSED_CONTACT",
                    message: format!(
                        "one of the {field} belongs to a person whose data was erased; record \
                         their new consent with it (a consent grant) to add them again"
                    ),
                }));
            }
            self.delete_raw(key);
        }
        Ok(())
    }
}

impl Privacy<'_> {
    /// Appends one consent decision to a customer's history, in one write with its change-log
    /// event (`consent` changed). Returns the customer as it is after.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Invalid`] (a time in the future, a
    /// confirmation before the decision or of a withdrawal, a long text version),
    /// [`StoreError::LimitReached`] past the records a customer keeps,
    /// `FAILED_PRECONDITION CUSTOMER_ERASED`.
    pub fn record_consent(&self, id: CustomerId, mut record: ConsentRecord) -> Result<Customer> {
        let now = self.now();
        validate_consent_record(&mut record, now)?;
        self.write(|w| {
            let current = w.existing_customer(id)?;
            check_not_erased(&current)?;
            let max = crm_core::privacy::consent::MAX_CONSENT_RECORDS;
            if current.data.consent.history.len() >= max {
                return Err(StoreError::LimitReached(format!(
                    "customer {id} holds {max} consent records, the most one keeps"
                )));
            }
            let mut after = current.clone();
            after.data.consent.record(record.clone());
            after.version += 1;
            after.update_time = now.max(current.update_time);
            w.put_customer(
                Some(&current),
                Some(&after),
                crate::ChangeKind::Updated,
                vec!["consent".into()],
            )?;
            Ok(after)
        })
    }

    /// Erases a customer's personal data (see the module), as the store's actor, for `reason`.
    /// Returns the customer as it is after: anonymous, with its erasure.
    ///
    /// Errors: [`StoreError::NotFound`] (unknown or merged id), [`StoreError::Invalid`] (no
    /// reason), `FAILED_PRECONDITION CUSTOMER_ERASED` (erased before).
    pub fn erase(&self, id: CustomerId, reason: &str) -> Result<Customer> {
        let erasure = Erasure::new(self.now(), reason, self.origin().actor.clone())?;
        self.write(|w| erase::erase_in(w, &[id], &erasure))?
            .pop()
            .ok_or(StoreError::NotFound(crate::Resource::Customer(id)))
    }
}
