//! The loyalty sweep: expiries written and tiers evaluated again for the members whose instant
//! has come, so `members_in_tier` is served by the tier index, exact at its instant.

use chrono::{DateTime, Utc};
use crm_core::CustomerId;

use super::{Loyalty, SWEEP_CHUNK, family};
use crate::error::Result;
use crate::kv::keys;

impl Loyalty<'_> {
    /// Brings every member's state to `now`: materializes the expiries and re-evaluates the
    /// tiers of members whose instant has come (and of every member once the program
    /// changed). Afterwards `members_in_tier` is exact at `now`.
    pub fn sweep(&self, now: DateTime<Utc>) -> Result<()> {
        let program = self.program()?;
        let evaluated = self
            .inner
            .engine
            .get(keys::META_LOYALTY_EVALUATED)?
            .and_then(|v| keys::u64_value(&v))
            .unwrap_or(0);
        let all = evaluated != program.version;
        let end = now + chrono::Duration::microseconds(1);
        let (start, stop) = if all {
            (vec![keys::LOYALTY_ACCOUNT], vec![keys::LOYALTY_ACCOUNT + 1])
        } else {
            (family::due_start(), family::due_before(end))
        };
        let mut after = std::ops::Bound::Included(start);
        loop {
            let ids: Vec<(CustomerId, Vec<u8>)> = self
                .inner
                .engine
                .scan(
                    after.clone(),
                    std::ops::Bound::Excluded(stop.clone()),
                    false,
                )
                .take(SWEEP_CHUNK)
                .map(|item| item.map(|(key, _)| (family::trailing_member(&key), key.to_vec())))
                .filter_map(|r| match r {
                    Ok((Some(id), key)) => Some(Ok((id, key))),
                    Ok((None, _)) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_>>()?;
            let Some((_, last)) = ids.last() else { break };
            after = std::ops::Bound::Excluded(last.clone());
            self.write_with(false, |w| {
                for (id, key) in &ids {
                    if w.member(*id)?.is_some() {
                        w.post(*id, &program, now, |_| Ok(Vec::new()))?;
                    } else if !all {
                        // A schedule entry without its account (a damaged store: verify
                        // names it) must not be found due again and again.
                        w.delete_raw(key);
                    }
                }
                Ok(())
            })?;
            if !all {
                // The re-evaluated members left the range; start again from its beginning.
                after = std::ops::Bound::Included(family::due_start());
            }
        }
        if all {
            self.write_with(false, |w| {
                w.put_raw(keys::META_LOYALTY_EVALUATED, program.version.to_be_bytes());
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The members in a tier now (exact: the sweep runs first), in customer order.
    pub fn members_in_tier(&self, tier: &str) -> Result<Vec<CustomerId>> {
        self.sweep(self.now())?;
        let mut out = Vec::new();
        for item in self
            .inner
            .engine
            .scan_prefix(&family::tier_prefix(&tier.to_uppercase()))
        {
            let (key, _) = item?;
            out.extend(family::trailing_member(&key));
        }
        Ok(out)
    }
}
