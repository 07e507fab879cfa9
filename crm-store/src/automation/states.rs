//! State rules: an entity reaching a state fires a rule once; it fires again only after the
//! entity has left the state and come back.
//!
//! Each pass reads the entities in each state from the index that serves it, exact at the
//! pass's instant (the derived index for AT_RISK and HOT, the rotting schedule, the SLA
//! index), and compares them with the entities the rule saw in the state (`w 2 rule entity`).
//! Newcomers fire, in the transaction that records them; leavers are forgotten. The write that
//! switches a rule on records who is in the state then, so those never fire and everyone who
//! enters the state afterwards does.

use std::collections::BTreeSet;
use std::ops::Bound;

use crm_core::automation::{Rule, TimeState, Trigger};
use crm_core::{CustomerId, RelationshipStatus, Temperature};

use super::worker::fire;
use super::{Automation, keys};
use crate::audit::changes::{EntityKind, EntityRef};
use crate::error::Result;

/// Most newcomers one transaction fires for.
const CHUNK: usize = 500;

impl Automation<'_> {
    /// The entities in `state` at `now`.
    pub(crate) fn in_state(&self, state: TimeState) -> Result<BTreeSet<EntityRef>> {
        let now = self.now();
        let (start, end, kind) = match state {
            TimeState::CustomerAtRisk | TimeState::LeadHot => {
                self.derived_index_at(now)?;
                let [status, temperature] = crate::kv::keys::derived_entries(
                    CustomerId(0),
                    RelationshipStatus::AtRisk,
                    Temperature::Hot,
                );
                let entry = if state == TimeState::LeadHot {
                    temperature
                } else {
                    status
                };
                let prefix = entry[..entry.len() - 8].to_vec();
                let (s, e) = crate::engine::prefix_range(&prefix);
                (s, e, EntityKind::Customer)
            }
            TimeState::DealRotting => {
                let after = now + chrono::Duration::microseconds(1);
                (
                    Bound::Included(crate::deals::keys::rots_at_start()),
                    Bound::Excluded(crate::deals::keys::rots_at_before(after)),
                    EntityKind::Deal,
                )
            }
            TimeState::TicketSlaAtRisk => {
                self.support().sla_index_at(now)?;
                let prefix =
                    crate::support::keys::by_sla_prefix(crm_core::support::SlaStatus::AtRisk);
                let (s, e) = crate::engine::prefix_range(&prefix);
                (s, e, EntityKind::Ticket)
            }
        };
        let mut out = BTreeSet::new();
        for item in self.inner.engine.scan(start, end, false) {
            let (key, _) = item?;
            if let Some(id) = crate::kv::keys::u64_value(&key[key.len().saturating_sub(8)..]) {
                out.insert(EntityRef { kind, id });
            }
        }
        Ok(out)
    }

    fn seen_in_state(&self, rule: &Rule) -> Result<BTreeSet<EntityRef>> {
        let mut out = BTreeSet::new();
        for item in self.inner.engine.scan_prefix(&keys::in_state_of(rule.id)) {
            let (key, _) = item?;
            out.extend(keys::trailing_entity(&key));
        }
        Ok(out)
    }

    /// One pass of the state rules; how many fired.
    pub(crate) fn run_states(&self, rules: &[Rule]) -> Result<u64> {
        let mut fired = 0;
        for rule in rules {
            let Trigger::State(state) = rule.data.trigger else {
                continue;
            };
            let current = self.in_state(state)?;
            loop {
                let seen = self.seen_in_state(rule)?;
                let seeded = self.inner.engine.get(keys::seeded(rule.id))?.is_some();
                if seeded && seen == current {
                    break;
                }
                let n = self.write(|w| {
                    if w.get(keys::seeded(rule.id))?.is_none() {
                        for e in &current {
                            w.put_raw(keys::in_state(rule.id, *e), []);
                        }
                        w.put_raw(keys::seeded(rule.id), []);
                        return Ok(0);
                    }
                    let mut seen = BTreeSet::new();
                    for (key, _) in w.scan_prefix(&keys::in_state_of(rule.id))? {
                        seen.extend(keys::trailing_entity(&key));
                    }
                    for gone in seen.difference(&current) {
                        w.delete_raw(keys::in_state(rule.id, *gone));
                    }
                    let mut n = 0;
                    for e in current.difference(&seen).take(CHUNK) {
                        w.put_raw(keys::in_state(rule.id, *e), []);
                        if let Some(t) = w.target(*e)? {
                            fire(w, rule, 0, 1, 1, &t)?;
                            n += 1;
                        }
                    }
                    Ok(n)
                })?;
                fired += n;
            }
        }
        Ok(fired)
    }
}
