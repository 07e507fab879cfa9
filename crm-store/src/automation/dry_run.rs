//! A dry run: how often would a rule have fired over the last days, and for which entities —
//! before it is switched on.
//!
//! - A **change rule** is run over the change log of the period, with the worker's coalescing;
//!   its operations, fields and loop protection are judged on each event as it was, its filter
//!   on each entity's state now (the store keeps no past states of customers or tickets).
//! - A **state rule** lists the entities in the state now; for DEAL_ROTTING, only those that
//!   started rotting within the period (a deal's rotting instant is exact history).

use chrono::Duration;
use crm_core::Violations;
use crm_core::automation::{Rule, RuleData, TimeState, Trigger};
use crm_core::tasks::RuleId;

use super::worker::watched;
use super::{Automation, check};
use crate::audit::changes::EntityRef;
use crate::audit::feed::FeedQuery;
use crate::error::Result;
use crate::kv::{codec, keys};

/// Most days a dry run looks back.
pub const MAX_DRY_RUN_DAYS: u32 = 365;
/// Most change-log events a dry run reads.
const MAX_EXAMINED: u64 = 1_000_000;
/// Most entities a dry run names.
const MAX_NAMED: usize = 100;

/// What a dry run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DryRun {
    /// How many times the rule would have fired.
    pub fired: u64,
    /// The first entities it would have fired for (at most 100, each once).
    pub entities: Vec<EntityRef>,
    /// Change-log events read.
    pub examined: u64,
    /// Whether the count comes from history (false: the entities in the state now).
    pub from_history: bool,
    /// Whether the period held more events than a dry run reads (the count is a lower bound).
    pub truncated: bool,
}

impl Automation<'_> {
    /// Runs `data` (checked as a rule is) over the last `days` days without writing anything.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (the rule's, or days outside 1-365).
    pub fn dry_run(&self, mut data: RuleData, days: u32) -> Result<DryRun> {
        check(&mut data)?;
        if !(1..=MAX_DRY_RUN_DAYS).contains(&days) {
            return Err(Violations::one(
                "days",
                format!("must be within 1 and {MAX_DRY_RUN_DAYS}"),
            )
            .into());
        }
        let now = self.now();
        let since = now - Duration::days(i64::from(days));
        let rule = Rule {
            id: RuleId(0),
            data,
            version: 0,
            armed_after: 0,
            create_time: now,
            update_time: now,
        };
        let mut out = DryRun::default();
        let name = |out: &mut DryRun, e: EntityRef| {
            if out.entities.len() < MAX_NAMED && !out.entities.contains(&e) {
                out.entities.push(e);
            }
        };
        match rule.data.trigger {
            Trigger::State(state) => {
                for e in self.in_state(state)? {
                    if state == TimeState::DealRotting {
                        let key = crate::deals::keys::deal(crm_core::deals::DealId(e.id));
                        let Some(bytes) = self.inner.engine.get(key)? else {
                            continue;
                        };
                        let d: crm_core::deals::Deal =
                            codec::decode(&bytes, &|| format!("deal {}", e.id))?;
                        if d.rots_at.is_none_or(|r| r < since) {
                            continue;
                        }
                    }
                    out.fired += 1;
                    name(&mut out, e);
                }
                out.from_history = state == TimeState::DealRotting;
            }
            Trigger::Change { .. } => {
                out.from_history = true;
                let mut cursor = self.first_seq_since(since)?.saturating_sub(1);
                let window = super::worker::coalesce_window(self);
                loop {
                    let batch = self
                        .audit()
                        .read_feed(&FeedQuery::default(), cursor, 1_000)?;
                    if batch.cursor <= cursor {
                        break;
                    }
                    out.examined += batch.events.len() as u64;
                    let bursts = super::worker::bursts(&batch.events, window);
                    let fired = self.write_nothing(|w| {
                        let mut fired = Vec::new();
                        for b in &bursts {
                            if watched(b.entity.kind).is_some()
                                && super::worker::would_fire(w, &rule, b)?
                            {
                                fired.push(b.entity);
                            }
                        }
                        Ok(fired)
                    })?;
                    for e in fired {
                        out.fired += 1;
                        name(&mut out, e);
                    }
                    cursor = batch.cursor;
                    if out.examined >= MAX_EXAMINED {
                        out.truncated = true;
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The first change-log sequence whose event is at or after `since` (one past the last if
    /// none is): a binary search, times following the log's order.
    fn first_seq_since(&self, since: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let last = self.audit().last_change_seq()?;
        let (mut lo, mut hi) = (1u64, last.saturating_add(1));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let time = match self.inner.engine.get(keys::change(mid))? {
                Some(bytes) => {
                    let r: crate::audit::changes::LogRecord =
                        codec::decode(&bytes, &|| format!("change {mid}"))?;
                    r.change.time
                }
                // A trimmed log: everything kept is later.
                None => since,
            };
            if time < since {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}
