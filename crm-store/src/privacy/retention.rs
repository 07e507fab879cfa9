//! Retention: the policy (a store-wide setting), what it decides at an instant (a plan: the
//! dry run), and applying it (the background job, `crm-grpc`'s worker, leased on PostgreSQL).
//!
//! **Activity.** A customer's last activity is the latest of its creation, its newest timeline
//! entry and its newest consent decision: what the person did or agreed to, not a staff edit of
//! the record. Only persons are erased for inactivity (the laws protect natural persons; an
//! organization's record is business data). Erased customers are skipped.
//!
//! Every destruction is audited: the job writes as the actor `retention policy vN`, so each
//! erasure (`EraseCustomer`) and each drop of interactions (`ApplyRetention`) names the policy
//! version that caused it, and an erased customer's erasure carries it as its reason.

use chrono::{DateTime, Utc};
use crm_core::privacy::{Erasure, RetentionPolicy};
use crm_core::{Customer, CustomerId, CustomerKind, Event, TimelineEntry};

use super::Privacy;
use crate::error::Result;
use crate::kv::codec::{self, Stored};
use crate::kv::keys;
use crate::settings::{self, Configured};
use crate::{ChangeKind, Origin};

impl Stored for Configured<RetentionPolicy> {}

/// Customers per write when a policy is applied.
const BATCH: usize = 64;

/// What a policy decides at an instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// Customers whose personal data it erases, in id order.
    pub erase: Vec<CustomerId>,
    /// Customers it drops interactions of, with how many, in id order.
    pub drop_interactions: Vec<(CustomerId, u64)>,
}

/// What applying a policy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionRun {
    /// The policy version applied (0: none set, nothing done).
    pub policy_version: u64,
    /// What it erased and dropped.
    pub done: RetentionPlan,
}

/// The instant of a customer's last activity (see the module).
fn last_activity(c: &Customer, entries: &[TimelineEntry]) -> DateTime<Utc> {
    let newest_entry = entries.iter().map(|e| e.occurred_at).max();
    let newest_consent = c.data.consent.history.iter().map(|r| r.time).max();
    [Some(c.create_time), newest_entry, newest_consent]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(c.create_time)
}

impl Privacy<'_> {
    /// The retention policy in force (version 0, every rule off, when never set).
    pub fn retention_policy(&self) -> Result<Configured<RetentionPolicy>> {
        settings::load(self, keys::META_RETENTION)
    }

    /// Replaces the retention policy; with `etag`, only if it is still at that version.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (a period of 0 or over 100 years),
    /// [`crate::StoreError::Aborted`].
    pub fn set_retention_policy(
        &self,
        policy: &RetentionPolicy,
        etag: Option<&str>,
    ) -> Result<Configured<RetentionPolicy>> {
        policy
            .validate()
            .map_err(|v| crate::StoreError::Invalid(v.prefixed("policy")))?;
        self.write(|w| {
            w.replace_setting(
                keys::META_RETENTION,
                policy,
                etag,
                "UpdateRetentionPolicy",
                "retention policy",
            )
        })
    }

    /// What `policy` (the one in force when `None`) would erase and drop now: the dry run.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (a policy that does not validate).
    pub fn retention_plan(&self, policy: Option<&RetentionPolicy>) -> Result<RetentionPlan> {
        let stored;
        let policy = match policy {
            Some(p) => {
                p.validate()
                    .map_err(|v| crate::StoreError::Invalid(v.prefixed("policy")))?;
                p
            }
            None => {
                stored = self.retention_policy()?;
                &stored.value
            }
        };
        self.plan(policy, self.now())
    }

    fn plan(&self, policy: &RetentionPolicy, now: DateTime<Utc>) -> Result<RetentionPlan> {
        let mut plan = RetentionPlan::default();
        if !policy.is_active() {
            return Ok(plan);
        }
        let inactive_before = policy.inactive_before(now);
        let interactions_before = policy.interactions_before(now);
        let kv = &self.inner.engine;
        for pair in kv.scan_prefix(&[keys::CUSTOMER]) {
            let (key, value) = pair?;
            let c: Customer = codec::decode(&value, &|| keys::describe(&key))?;
            if c.erased.is_some() {
                continue;
            }
            let mut entries = Vec::new();
            for pair in kv.scan_prefix(&keys::of_customer(keys::TIMELINE, c.id)) {
                let (k, v) = pair?;
                entries.push(codec::decode::<TimelineEntry>(&v, &|| keys::describe(&k))?);
            }
            if let Some(cut) = inactive_before
                && c.kind() == CustomerKind::Person
                && last_activity(&c, &entries) < cut
            {
                plan.erase.push(c.id);
                continue;
            }
            if let Some(cut) = interactions_before {
                let old = entries
                    .iter()
                    .filter(|e| {
                        e.occurred_at < cut
                            && matches!(&e.event, Event::Interaction(i) if i.referred_customer_id.is_none())
                    })
                    .count() as u64;
                if old > 0 {
                    plan.drop_interactions.push((c.id, old));
                }
            }
        }
        Ok(plan)
    }

    /// Applies the policy in force now: erases and drops what [`Privacy::retention_plan`]
    /// lists, a few dozen customers per write, as the actor `retention policy vN`. A customer
    /// that became active or was erased meanwhile is left alone (each write checks again).
    pub fn apply_retention(&self) -> Result<RetentionRun> {
        let setting = self.retention_policy()?;
        let mut run = RetentionRun {
            policy_version: setting.version,
            done: RetentionPlan::default(),
        };
        let policy = setting.value;
        if !policy.is_active() {
            return Ok(run);
        }
        let reason = format!("retention policy v{}", setting.version);
        let store = self.with_origin(Origin {
            actor: reason.clone(),
            request_id: None,
            source: None,
        });
        let now = store.now();
        let plan = store.privacy().plan(&policy, now)?;
        let erasure = Erasure::new(now, &reason, reason.clone())?;
        for chunk in plan.erase.chunks(BATCH) {
            let erased = store.write(|w| {
                let mut still = Vec::new();
                for &id in chunk {
                    // Gone, erased or active since the plan: left alone.
                    let Some(c) = w.customer(id)? else { continue };
                    let mut entries = Vec::new();
                    for (k, v) in w.scan_prefix(&keys::of_customer(keys::TIMELINE, id))? {
                        entries.push(codec::decode::<TimelineEntry>(&v, &|| keys::describe(&k))?);
                    }
                    let cut = policy.inactive_before(now);
                    if c.erased.is_none() && cut.is_some_and(|t| last_activity(&c, &entries) < t) {
                        still.push(id);
                    }
                }
                super::erase::erase_in(w, &still, &erasure)
            })?;
            run.done.erase.extend(erased.iter().map(|c| c.id));
        }
        if let Some(cut) = policy.interactions_before(now) {
            for chunk in plan.drop_interactions.chunks(BATCH) {
                let dropped = store.write(|w| {
                    let mut out = Vec::new();
                    for &(id, _) in chunk {
                        let Some(c) = w.customer(id)? else { continue };
                        let n = crate::timeline::erase::drop_interactions(w, id, cut)?;
                        if n > 0 {
                            w.log(
                                id,
                                ChangeKind::Recorded,
                                c.version,
                                now,
                                vec!["timeline".into(), "summary".into()],
                                "ApplyRetention",
                            )?;
                            out.push((id, n));
                        }
                    }
                    Ok(out)
                })?;
                run.done.drop_interactions.extend(dropped);
            }
        }
        Ok(run)
    }
}
