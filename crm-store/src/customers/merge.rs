//! Merging duplicate customers, and undoing a merge.
//!
//! A merge is one atomic write:
//! - each merged customer's timeline entries, orders, purchase times and referral keys move to
//!   the survivor (its entries keep their ids and times), and referral entries that named it
//!   name the survivor;
//! - people who belonged to a merged organization belong to the survivor;
//! - the merged records are deleted (freeing their emails and external ids), and the survivor
//!   takes the values the field rules choose ([`crm_core::merge`]); its summary is recomputed
//!   from the combined timeline;
//! - each merged id keeps a tombstone (`X id`): reading it answers
//!   [`Resource::Merged`] naming the survivor;
//! - a merge record (`Y merge_id`) keeps the records as they were and every key moved, so
//!   [`Customers::unmerge`] puts everything back.
//!
//! Segments are saved filters: membership follows the records, nothing to re-point.

use chrono::{DateTime, Utc};
use crm_core::merge::{MergeRules, check_rules, merge_data};
use crm_core::{
    Customer, CustomerId, Event, Summary, TimelineEntry, UpdateMask, Violations, validate_customer,
};
use serde::{Deserialize, Serialize};

use crate::audit::changes::ChangeKind;
use crate::customers::Customers;
use crate::error::{Precondition, Resource, Result, StoreError};
use crate::kv::codec::{self, Stored};
use crate::kv::keys;
use crate::write::Write;

/// Most customers one merge folds into a survivor.
pub const MAX_MERGED: usize = 10;

/// What a merge changed, kept to undo it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The merge's id: the change-log sequence of its first event.
    pub id: u64,
    /// When.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// The survivor as it was.
    pub survivor: Customer,
    /// The survivor's fields the merge changed.
    pub changed_fields: Vec<String>,
    /// The merged customers as they were.
    pub merged: Vec<Customer>,
    /// Every key moved, `(from, to)`, in the order moved.
    pub moved: Vec<(Vec<u8>, Vec<u8>)>,
    /// Referral entries (their keys after the merge) that named a merged customer, with it.
    pub renamed_referrals: Vec<(Vec<u8>, CustomerId)>,
    /// People moved from a merged organization to the survivor, with the organization.
    pub moved_members: Vec<(CustomerId, CustomerId)>,
    /// When it was undone, once it was.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub undone: Option<DateTime<Utc>>,
}

impl Stored for MergeRecord {
    const VERSION: u8 = 1;
}

fn refused(message: String) -> StoreError {
    StoreError::FailedPrecondition(Precondition::MergeRefused { message })
}

/// The customer a key of a per-customer family belongs to.
fn owner(key: &[u8]) -> Option<CustomerId> {
    Some(CustomerId(u64::from_be_bytes(
        key.get(1..9)?.try_into().ok()?,
    )))
}

/// `key` with its owner replaced by `to`.
fn rekeyed(key: &[u8], to: CustomerId) -> Vec<u8> {
    let mut k = key.to_vec();
    if let Some(id) = k.get_mut(1..9) {
        id.copy_from_slice(&to.0.to_be_bytes());
    }
    k
}

impl Write<'_> {
    /// Moves the value at `from` to `to` (an entry's owner follows its key), and records it.
    fn move_key(
        &mut self,
        from: &[u8],
        to: Vec<u8>,
        moved: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let Some(mut value) = self.get(from)? else {
            return Ok(());
        };
        if from.first() == Some(&keys::TIMELINE)
            && let Some(new_owner) = owner(&to)
        {
            let mut entry: TimelineEntry = codec::decode(&value, &|| keys::describe(from))?;
            entry.customer_id = new_owner;
            value = codec::encode(&entry)?;
        }
        self.delete_raw(from);
        self.put_raw(&to, value);
        moved.push((from.to_vec(), to));
        Ok(())
    }

    /// Moves a person to organization `org`, at a new version.
    fn move_to_organization(
        &mut self,
        before: &Customer,
        org: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let after = Customer {
            version: before.version + 1,
            update_time: now.max(before.update_time),
            data: crm_core::CustomerData {
                organization_id: Some(org),
                ..before.data.clone()
            },
            ..before.clone()
        };
        self.put_customer(
            Some(before),
            Some(&after),
            ChangeKind::Updated,
            vec!["organization_id".into()],
        )
    }

    /// Recomputes a customer's summary from its timeline.
    fn recompute_summary(&mut self, id: CustomerId) -> Result<()> {
        let mut entries = Vec::new();
        for (key, value) in self.scan_prefix(&keys::of_customer(keys::TIMELINE, id))? {
            entries.push(codec::decode::<TimelineEntry>(&value, &|| {
                keys::describe(&key)
            })?);
        }
        let summary = Summary::from_entries(&entries).map_err(|e| {
            refused(format!(
                "the combined timeline of {id} does not add up: {e}"
            ))
        })?;
        self.put_summary(id, &summary)
    }

    /// Sets the customer a referral entry names.
    fn rename_referral(&mut self, entry_key: &[u8], to: CustomerId) -> Result<Option<CustomerId>> {
        let Some(bytes) = self.get(entry_key)? else {
            return Ok(None);
        };
        let mut entry: TimelineEntry = codec::decode(&bytes, &|| keys::describe(entry_key))?;
        let Event::Interaction(i) = &mut entry.event else {
            return Ok(None);
        };
        let before = i.referred_customer_id.replace(to);
        self.put_raw(entry_key, codec::encode(&entry)?);
        Ok(before)
    }
}

/// The entry id in an `F referred referrer entry` key.
fn entry_of(f_key: &[u8]) -> crm_core::EntryId {
    let raw: [u8; 8] = f_key
        .get(17..25)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default();
    crm_core::EntryId(u64::from_be_bytes(raw))
}

/// The entry key an `F referred referrer entry` key stands for, given where the referrer's
/// entries are now.
fn referral_entry_key(f_key: &[u8], value: &[u8], referrer_now: CustomerId) -> Option<Vec<u8>> {
    let entry = u64::from_be_bytes(f_key.get(17..25)?.try_into().ok()?);
    let at = i64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let at = DateTime::from_timestamp_micros(at)?;
    Some(keys::timeline(referrer_now, at, crm_core::EntryId(entry)))
}

fn merge_in(
    w: &mut Write<'_>,
    survivor_id: CustomerId,
    merged_ids: &[CustomerId],
    rules: &MergeRules,
    now: DateTime<Utc>,
) -> Result<MergeRecord> {
    let survivor = w.existing_customer(survivor_id)?;
    // An erased customer takes no personal data back, and gives none.
    crate::privacy::check_not_erased(&survivor)?;
    let mut merged = Vec::with_capacity(merged_ids.len());
    for (i, id) in merged_ids.iter().enumerate() {
        let c = w.existing_customer(*id).map_err(|e| match e {
            StoreError::NotFound(_) => Violations::one(
                format!("merged_ids[{i}]"),
                format!("no customer {id} to merge"),
            )
            .into(),
            other => other,
        })?;
        crate::privacy::check_not_erased(&c)?;
        if c.kind() != survivor.kind() {
            return Err(refused(format!(
                "{id} is a {:?} and {survivor_id} a {:?}: only records of one kind merge",
                c.kind(),
                survivor.kind()
            )));
        }
        merged.push(c);
    }
    let id = w.next_seq_peek()?;
    let mut record = MergeRecord {
        id,
        time: now,
        actor: w.store.origin().actor.clone(),
        survivor: survivor.clone(),
        changed_fields: Vec::new(),
        merged: merged.clone(),
        moved: Vec::new(),
        renamed_referrals: Vec::new(),
        moved_members: Vec::new(),
        undone: None,
    };
    let map = |c: CustomerId| {
        if merged_ids.contains(&c) {
            survivor_id
        } else {
            c
        }
    };
    let mut moved = Vec::new();
    for m in &merged {
        // Entries, orders and purchase times move to the survivor.
        for family in [keys::TIMELINE, keys::ORDER, keys::PURCHASE_TIME] {
            for (key, _) in w.scan_prefix(&keys::of_customer(family, m.id))? {
                let to = rekeyed(&key, survivor_id);
                if family == keys::ORDER && w.get(&to)?.is_some() {
                    let order = String::from_utf8_lossy(&key[9..]).into_owned();
                    return Err(refused(format!(
                        "order {order:?} is recorded for both {} and {survivor_id}: one of them \
                         is wrong; refund or correct it first",
                        m.id
                    )));
                }
                w.move_key(&key, to, &mut moved)?;
            }
        }
    }
    for m in &merged {
        // Referrals of the merged customer: its referrers' entries name the survivor.
        for (key, value) in w.scan_prefix(&keys::of_customer(keys::REFERRAL, m.id))? {
            let Some(referrer) = keys::referrer_of(&key) else {
                continue;
            };
            if let Some(entry_key) = referral_entry_key(&key, &value, map(referrer)) {
                w.rename_referral(&entry_key, survivor_id)?;
                record.renamed_referrals.push((entry_key, m.id));
            }
            let to = keys::referral(survivor_id, map(referrer), entry_of(&key));
            w.move_key(&key, to, &mut moved)?;
        }
    }
    for m in &merged {
        // Referrals the merged customer made: the keys name the survivor as the referrer.
        for (_, to_entry) in moved
            .clone()
            .iter()
            .filter(|(from, _)| from.first() == Some(&keys::TIMELINE) && owner(from) == Some(m.id))
        {
            let Some(bytes) = w.get(to_entry)? else {
                continue;
            };
            let entry: TimelineEntry = codec::decode(&bytes, &|| keys::describe(to_entry))?;
            if let Event::Interaction(crm_core::timeline::Interaction {
                referred_customer_id: Some(referred),
                ..
            }) = entry.event
            {
                let from = keys::referral(referred, m.id, entry.id);
                let to = keys::referral(map(referred), survivor_id, entry.id);
                if from != to {
                    w.move_key(&from, to, &mut moved)?;
                }
            }
        }
        // People of a merged organization belong to the survivor.
        for (key, _) in w.scan_prefix(&keys::org_members_prefix(m.id))? {
            let Some(person) = keys::trailing_id(&key) else {
                continue;
            };
            let Some(before) = w.customer(person)? else {
                continue;
            };
            w.move_to_organization(&before, survivor_id, now)?;
            record.moved_members.push((person, m.id));
        }
    }
    // The merged records go (their emails and external ids with them), leaving tombstones.
    for m in &merged {
        w.delete_raw(keys::of_customer(keys::SUMMARY, m.id));
        w.put_customer(Some(m), None, ChangeKind::Deleted, Vec::new())?;
        let mut tomb = survivor_id.0.to_be_bytes().to_vec();
        tomb.extend_from_slice(&id.to_be_bytes());
        w.put_raw(keys::of_customer(keys::MERGED, m.id), tomb);
    }
    let mut data = merge_data(&survivor, &merged, rules);
    validate_customer(&mut data, now)?;
    let mut fields: Vec<String> = survivor
        .data
        .changed_fields(&data)
        .into_iter()
        .map(String::from)
        .collect();
    record.changed_fields = fields.clone();
    fields.extend(["timeline".into(), "summary".into()]);
    let after = Customer {
        version: survivor.version + 1,
        update_time: now.max(survivor.update_time),
        data,
        ..survivor.clone()
    };
    w.put_customer(Some(&survivor), Some(&after), ChangeKind::Updated, fields)?;
    w.recompute_summary(survivor_id)?;
    record.moved = moved;
    w.put_raw(keys::merge(id), codec::encode(&record)?);
    Ok(record)
}

fn unmerge_in(w: &mut Write<'_>, merge_id: u64, now: DateTime<Utc>) -> Result<Vec<Customer>> {
    let key = keys::merge(merge_id);
    let Some(mut record) = w.read::<MergeRecord>(&key, &|| keys::describe(&key))? else {
        return Err(StoreError::NotFound(Resource::Merge(merge_id)));
    };
    if let Some(at) = record.undone {
        return Err(refused(format!("merge {merge_id} was undone at {at}")));
    }
    let survivor_id = record.survivor.id;
    let survivor = w.existing_customer(survivor_id)?;
    for m in &record.merged {
        if w.customer(m.id)?.is_some() {
            return Err(refused(format!(
                "{} exists again: the merge cannot be undone",
                m.id
            )));
        }
    }
    // Referral entries name the merged customers again, then every key moves back.
    for (entry_key, was) in &record.renamed_referrals {
        w.rename_referral(entry_key, *was)?;
    }
    let mut ignored = Vec::new();
    for (from, to) in record.moved.iter().rev() {
        w.move_key(to, from.clone(), &mut ignored)?;
    }
    // The survivor's fields the merge changed take their old values (its other changes since
    // stay), freeing the merged records' emails and external ids.
    let mut data = survivor.data.clone();
    if !record.changed_fields.is_empty() {
        let mask = UpdateMask::parse(&record.changed_fields)?;
        data = mask.apply(&survivor.data, &record.survivor.data)?;
    }
    let fields: Vec<String> = survivor
        .data
        .changed_fields(&data)
        .into_iter()
        .map(String::from)
        .chain(["timeline".into(), "summary".into()])
        .collect();
    let after = Customer {
        version: survivor.version + 1,
        update_time: now.max(survivor.update_time),
        data,
        ..survivor.clone()
    };
    w.put_customer(Some(&survivor), Some(&after), ChangeKind::Updated, fields)?;
    let mut restored = Vec::new();
    for m in &record.merged {
        w.delete_raw(keys::of_customer(keys::MERGED, m.id));
        let back = Customer {
            version: m.version + 1,
            update_time: now.max(m.update_time),
            ..m.clone()
        };
        let blank = crm_core::CustomerData::new(match back.data.party {
            crm_core::Party::Person(_) => crm_core::Party::Person(crm_core::Person::default()),
            crm_core::Party::Organization(_) => {
                crm_core::Party::Organization(crm_core::Organization::default())
            }
        });
        let fields = blank
            .changed_fields(&back.data)
            .into_iter()
            .map(String::from)
            .collect();
        w.put_customer(None, Some(&back), ChangeKind::Created, fields)?;
        w.recompute_summary(m.id)?;
        restored.push(back);
    }
    for (person, org) in &record.moved_members {
        if let Some(before) = w.customer(*person)?
            && before.data.organization_id == Some(survivor_id)
        {
            w.move_to_organization(&before, *org, now)?;
        }
    }
    w.recompute_summary(survivor_id)?;
    record.undone = Some(now);
    w.put_raw(key, codec::encode(&record)?);
    Ok(restored)
}

impl Customers<'_> {
    /// Merges `merged` (1 to [`MAX_MERGED`] customers of the survivor's kind) into `survivor`,
    /// with `rules` choosing the values that survive. Returns the merge record (its `id` undoes
    /// it with [`Customers::unmerge`]).
    ///
    /// Errors: [`StoreError::Invalid`] (no or too many merged ids, the survivor among them,
    /// repeats, bad rules, a combined record that is not valid), [`StoreError::NotFound`],
    /// [`Precondition::MergeRefused`] (kinds differ, an order both hold),
    /// [`StoreError::AlreadyExists`].
    pub fn merge(
        &self,
        survivor: CustomerId,
        merged: &[CustomerId],
        rules: &MergeRules,
    ) -> Result<MergeRecord> {
        let mut v = Violations::default();
        if merged.is_empty() || merged.len() > MAX_MERGED {
            v.add(
                "merged_ids",
                format!("must name 1 to {MAX_MERGED} customers"),
            );
        }
        for (i, id) in merged.iter().enumerate() {
            if *id == survivor {
                v.add(format!("merged_ids[{i}]"), "is the survivor");
            } else if merged[..i].contains(id) {
                v.add(format!("merged_ids[{i}]"), "is named twice");
            }
        }
        let ids: Vec<CustomerId> = std::iter::once(survivor)
            .chain(merged.iter().copied())
            .collect();
        if let Err(e) = check_rules(rules, &ids) {
            v.0.extend(e.0);
        }
        v.into_result(())?;
        let now = self.now();
        self.write(|w| {
            w.operation = Some("MergeCustomers");
            merge_in(w, survivor, merged, rules, now)
        })
    }

    /// Undoes merge `merge_id`: the merged customers come back with their records as they were
    /// (at a new version), their timelines and summaries; the survivor's fields the merge
    /// changed take their old values; people moved to the survivor go back. Returns the
    /// customers restored.
    ///
    /// Errors: [`StoreError::NotFound`] (no such merge, or the survivor is gone),
    /// [`Precondition::MergeRefused`] (already undone), [`StoreError::AlreadyExists`] (the
    /// survivor has since taken an email of a merged record).
    pub fn unmerge(&self, merge_id: u64) -> Result<Vec<Customer>> {
        let now = self.now();
        self.write(|w| {
            w.operation = Some("UnmergeCustomers");
            unmerge_in(w, merge_id, now)
        })
    }

    /// A merge record.
    pub fn merge_record(&self, merge_id: u64) -> Result<MergeRecord> {
        let key = keys::merge(merge_id);
        match self.inner.engine.get(key)? {
            Some(bytes) => codec::decode(&bytes, &|| keys::describe(&key)),
            None => Err(StoreError::NotFound(Resource::Merge(merge_id))),
        }
    }
}

/// What a missing customer answers: merged into another, or simply not found.
pub(crate) fn missing(tomb: Option<Vec<u8>>, id: CustomerId) -> StoreError {
    let parsed = tomb.and_then(|t| {
        let survivor = keys::u64_value(t.get(..8)?)?;
        let merge = keys::u64_value(t.get(8..16)?)?;
        Some((survivor, merge))
    });
    match parsed {
        Some((survivor, merge)) => StoreError::NotFound(Resource::Merged {
            customer: id,
            survivor: CustomerId(survivor),
            merge,
        }),
        None => StoreError::NotFound(Resource::Customer(id)),
    }
}

/// Checks merge tombstones and records: a merged id is no customer, and its tombstone names a
/// merge that is kept and not undone, with the id among the merged. Returns tombstones checked.
pub(crate) fn verify(kv: &crate::kv::Kv, problems: &mut Vec<String>) -> Result<u64> {
    let mut checked = 0;
    for item in kv.scan_prefix(&[keys::MERGED]) {
        let (key, value) = item?;
        checked += 1;
        let Some(id) = keys::trailing_id(&key) else {
            problems.push(format!(
                "{}: not a merge tombstone key",
                keys::describe(&key)
            ));
            continue;
        };
        if kv.get(keys::customer(id))?.is_some() {
            problems.push(format!("{id} is a customer and has a merge tombstone"));
        }
        let merge = value.get(8..16).and_then(keys::u64_value);
        let record = match merge {
            Some(m) => kv.get(keys::merge(m))?,
            None => None,
        };
        let record: Option<MergeRecord> =
            record.and_then(|b| codec::decode(&b, &|| keys::describe(&key)).ok());
        match record {
            Some(r) if r.undone.is_none() && r.merged.iter().any(|c| c.id == id) => {}
            _ => problems.push(format!(
                "the merge tombstone of {id} names no merge of it that stands ({merge:?})"
            )),
        }
    }
    Ok(checked)
}
