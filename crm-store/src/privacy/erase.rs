//! The erasure write: one transaction per batch of customers.

use crm_core::privacy::{Erasure, anonymized};
use crm_core::{Customer, CustomerId};

use super::check_not_erased;
use crate::ChangeKind;
use crate::customers::merge::MergeRecord;
use crate::error::Result;
use crate::kv::{codec, keys};
use crate::write::Write;

/// Erases each customer of `ids` (see the module), in `w`; returns them as they are after.
pub(crate) fn erase_in(
    w: &mut Write<'_>,
    ids: &[CustomerId],
    erasure: &Erasure,
) -> Result<Vec<Customer>> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let current = w.existing_customer(id)?;
        check_not_erased(&current)?;
        w.suppress(&current, erasure.time);
        for eraser in crate::kv::family::CUSTOMER_ERASERS {
            eraser(w, id)?;
        }
        let after = Customer {
            data: anonymized(&current.data),
            erased: Some(erasure.clone()),
            version: current.version + 1,
            update_time: erasure.time.max(current.update_time),
            ..current.clone()
        };
        let fields = current
            .data
            .changed_fields(&after.data)
            .into_iter()
            .map(String::from)
            .collect();
        w.put_customer(Some(&current), Some(&after), ChangeKind::Erased, fields)?;
        out.push(after);
    }
    forget_import_rows(w, ids)?;
    forget_merge_records(w, ids)?;
    Ok(out)
}

/// Deletes the import-row keys (`W row_key`, a client's key, often an email) that name an
/// erased customer: one scan of them for the whole batch.
fn forget_import_rows(w: &mut Write<'_>, ids: &[CustomerId]) -> Result<()> {
    let mut doomed = Vec::new();
    for (key, value) in w.scan_prefix(&[keys::IMPORT_ROW])? {
        let owner = value.get(..8).and_then(keys::u64_value).map(CustomerId);
        if owner.is_some_and(|o| ids.contains(&o)) {
            doomed.push(key);
        }
    }
    for key in doomed {
        w.delete_raw(key);
    }
    Ok(())
}

/// Deletes the merge records (`Y`) whose survivor is an erased customer: they hold the merged
/// records as they were (the same person's data). Such a merge can no longer be undone.
fn forget_merge_records(w: &mut Write<'_>, ids: &[CustomerId]) -> Result<()> {
    let mut doomed = Vec::new();
    for (key, value) in w.scan_prefix(&[keys::MERGE])? {
        let record: MergeRecord = codec::decode(&value, &|| keys::describe(&key))?;
        if ids.contains(&record.survivor.id) {
            doomed.push(key);
        }
    }
    for key in doomed {
        w.delete_raw(key);
    }
    Ok(())
}
