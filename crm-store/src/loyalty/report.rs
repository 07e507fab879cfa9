//! The loyalty report ([`crm_core::loyalty::report`]): one pass over the members and their
//! ledgers, and one over the customers' summaries, after the sweep has written every expiry
//! due by the report's instant.

use chrono::{DateTime, Utc};
use crm_core::loyalty::report::LoyaltyReport;
use crm_core::loyalty::tier::tier_at;
use crm_core::{CustomerId, Summary, Violations};

use super::Loyalty;
use super::family::{Member, StoredEntry, entries_of};
use crate::error::Result;
use crate::kv::codec;
use crate::kv::keys::{self, LOYALTY_ACCOUNT};

impl Loyalty<'_> {
    /// The loyalty report at `as_of` (not in the future) over `[from, as_of]`.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (`as_of` ahead of the store's clock, a period that
    /// starts after it).
    pub fn report(&self, from: DateTime<Utc>, as_of: DateTime<Utc>) -> Result<LoyaltyReport> {
        let now = self.now();
        let mut v = Violations::default();
        if as_of > now {
            v.add(
                "as_of",
                "must not be in the future: expiries after now are not written yet",
            );
        }
        if from > as_of {
            v.add("period_start", "must not be after as_of");
        }
        v.into_result(())?;
        self.sweep(now)?;
        let program = self.program()?.value;
        let mut report = LoyaltyReport::default();
        let mut members = std::collections::BTreeSet::new();
        for item in self.inner.engine.scan_prefix(&[LOYALTY_ACCOUNT]) {
            let (key, value) = item?;
            let member: Member = codec::decode(&value, &|| keys::describe(&key))?;
            let tier = program
                .tiers
                .get(tier_at(&member.account, &program, as_of))
                .map(|t| t.name.clone())
                .unwrap_or_default();
            let mut entries = Vec::new();
            for item in self
                .inner
                .engine
                .scan_prefix(&entries_of(member.customer_id))
            {
                let (ekey, evalue) = item?;
                let e: StoredEntry = codec::decode(&evalue, &|| keys::describe(&ekey))?;
                entries.push(e.entry);
            }
            report.add_entries(&entries, from, as_of);
            report.add_member(&tier, member.account.balance_at(as_of), &program);
            members.insert(member.customer_id);
        }
        for item in self.inner.engine.scan_prefix(&[keys::CUSTOMER]) {
            let (key, _) = item?;
            let Some(id) = keys::trailing_id(&key) else {
                continue;
            };
            let summary: Summary = self.timeline().summary(id)?;
            report.add_buyer(members.contains(&CustomerId(id.0)), summary.purchase_count);
        }
        Ok(report)
    }
}
