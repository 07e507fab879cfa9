//! Automation rules, and the worker that runs them from the committed change log.
//!
//! - Rules are data ([`crm_core::automation`]): created, replaced whole with an etag, deleted;
//!   every change in the change log. A rule fires only for what is committed after it was
//!   last switched on ([`Rule::armed_after`]).
//! - The worker ([`Automation::run_once`]) reads the change log after its cursor. In **one
//!   transaction** it takes every action the events call for and moves its cursor past them:
//!   a crash before the commit leaves both undone (the next run does them), after it leaves
//!   both done. So each event is handled exactly once, whoever wrote it (the API, the library,
//!   an import, a merge, another rule).
//! - Each firing is recorded (`w 1 rule time entity`) with what each action did and the tasks
//!   it made; `verify` checks that every task a rule made is named by exactly one firing.
//! - Loop protection: a rule's writes carry a [`Cause`] in the change log; a rule never fires
//!   on its own writes, and a chain of rules stops at [`MAX_RULE_DEPTH`].

mod actions;
mod dry_run;
pub(crate) mod keys;
mod states;
mod worker;

use chrono::{DateTime, Utc};
use crm_core::Violations;
use crm_core::automation::{
    Cause, MAX_RULE_DEPTH, Rule, RuleData, Trigger, Watched, validate_rule,
};
use crm_core::tasks::{RuleId, TaskId, TaskSource};
use serde::{Deserialize, Serialize};

pub use dry_run::DryRun;
pub use worker::WorkerPass;

use crate::audit::changes::{ChangeKind, EntityKind, EntityRef};
use crate::error::{Resource, Result, StoreError};
use crate::kv::Kv;
use crate::kv::codec::{self, Stored};
use crate::kv::family::{Family, Kept};
use crate::write::Write;

crate::store::handle!(
    /// Automation rules, their firings, and the worker that runs them.
    Automation,
    automation
);

/// What one rule did for one entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// The rule.
    pub rule: RuleId,
    /// The change-log event that fired it (the last, when several were coalesced); 0 for a
    /// state reached.
    pub event: u64,
    /// How many change-log events about the entity it stands for.
    pub coalesced: u32,
    /// The entity.
    pub entity: EntityRef,
    /// When it fired.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// Its depth in a chain of rules (1: fired by a write no rule made).
    pub depth: u8,
    /// Per action, in order: `None` if it was done, else why not.
    pub outcomes: Vec<Option<String>>,
    /// The tasks its actions made.
    pub tasks: Vec<TaskId>,
}

impl Stored for Firing {}

/// The rule family: rules imply nothing else.
#[derive(Debug)]
pub(crate) struct RuleFamily;

impl Family for RuleFamily {
    type Record = Rule;
    const NAME: &'static str = "automation rule";
    const PREFIX: &'static [u8] = &[crate::kv::keys::RULE];

    fn key(r: &Rule) -> Vec<u8> {
        keys::rule(r.id).to_vec()
    }

    fn keep(_: &Rule, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }
}

/// The firing family: a firing implies nothing else, but every task a rule made must be named
/// by exactly one firing of its rule and event (the exactly-once promise, checked).
#[derive(Debug)]
pub(crate) struct FiringFamily;

const FIRING_PREFIX: &[u8] = &[crate::kv::keys::AUTOMATION, 1];

impl Family for FiringFamily {
    type Record = Firing;
    const NAME: &'static str = "rule firing";
    const PREFIX: &'static [u8] = FIRING_PREFIX;

    fn key(f: &Firing) -> Vec<u8> {
        keys::firing(f.rule, f.at, f.entity)
    }

    fn keep(_: &Firing, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn cross_check(kv: &Kv, problems: &mut Vec<String>) -> Result<()> {
        let mut named = std::collections::BTreeMap::new();
        for item in kv.scan_prefix(FIRING_PREFIX) {
            let (key, value) = item?;
            let Ok(f) = codec::decode::<Firing>(&value, &|| crate::kv::keys::describe(&key)) else {
                continue;
            };
            for t in f.tasks {
                *named.entry(t).or_insert(0u32) += 1;
            }
        }
        for item in kv.scan_prefix(&[crate::kv::keys::TASK]) {
            let (key, value) = item?;
            let Ok(t) =
                codec::decode::<crm_core::tasks::Task>(&value, &|| crate::kv::keys::describe(&key))
            else {
                continue;
            };
            if let TaskSource::Rule { rule, event } = t.source {
                match named.get(&t.id) {
                    Some(1) => {}
                    Some(n) => problems.push(format!(
                        "task {} (rule {rule}, event {event}) is named by {n} firings",
                        t.id
                    )),
                    None => problems.push(format!(
                        "task {} was made by rule {rule} for event {event}, but no firing names it",
                        t.id
                    )),
                }
            }
        }
        Ok(())
    }
}

/// A rule's etag: `v` and its version.
pub fn etag_of(r: &Rule) -> String {
    format!("v{}", r.version)
}

/// Checks a rule as the store runs it: its shape, and its filter in its entity's language.
fn check(data: &mut RuleData) -> Result<()> {
    let mut v = match validate_rule(data) {
        Ok(()) => Violations::default(),
        Err(v) => v,
    };
    if let Trigger::Change { entity, filter, .. } = &data.trigger {
        let parsed = match entity {
            Watched::Customer => crm_core::Filter::parse(filter).map(|_| ()),
            Watched::Deal => crm_core::deals::filter::parse(filter).map(|_| ()),
            Watched::Ticket => crm_core::support::filter::parse(filter).map(|_| ()),
            Watched::Task if filter.trim().is_empty() => Ok(()),
            Watched::Task => {
                v.add(
                    "trigger.filter",
                    "task triggers take no filter: name the operations and fields instead",
                );
                Ok(())
            }
        };
        if let Err(e) = parsed {
            v.add("trigger.filter", e.to_string());
        }
    }
    v.into_result(()).map_err(|v| v.prefixed("rule").into())
}

fn log_rule(w: &mut Write<'_>, r: &Rule, kind: ChangeKind, op: &str) -> Result<()> {
    let entity = EntityRef {
        kind: EntityKind::Rule,
        id: r.id.0,
    };
    let fields = match kind {
        ChangeKind::Deleted => Vec::new(),
        _ => vec![
            "name".into(),
            "enabled".into(),
            "trigger".into(),
            "actions".into(),
        ],
    };
    let now = w.store.now();
    w.log_change(entity, None, kind, r.version, now, fields, op)
}

impl Write<'_> {
    fn existing_rule(&mut self, id: RuleId) -> Result<Rule> {
        self.read(&keys::rule(id), &|| format!("rule {id}"))?
            .ok_or(StoreError::NotFound(Resource::Rule(id)))
    }

    /// Forgets what a state rule saw: switched on again, it starts from the entities in its
    /// state then.
    fn unseed(&mut self, id: RuleId) -> Result<()> {
        for (key, _) in self.scan_prefix(&keys::in_state_of(id))? {
            self.delete_raw(key);
        }
        self.delete_raw(keys::seeded(id));
        Ok(())
    }
}

impl Write<'_> {
    /// Records the entities a state rule finds in its state as it is switched on: those do not
    /// fire (only entries into the state after this write do).
    fn seed(&mut self, id: RuleId, seen: Option<&std::collections::BTreeSet<EntityRef>>) {
        if let Some(seen) = seen {
            for e in seen {
                self.put_raw(keys::in_state(id, *e), []);
            }
            self.put_raw(keys::seeded(id), []);
        }
    }
}

impl Automation<'_> {
    /// For an enabled state rule, the entities in its state now.
    fn in_state_now(
        &self,
        data: &RuleData,
    ) -> Result<Option<std::collections::BTreeSet<EntityRef>>> {
        match data.trigger {
            Trigger::State(state) if data.enabled => self.in_state(state).map(Some),
            _ => Ok(None),
        }
    }

    /// Creates a rule. Enabled, it fires for what is committed from now on. With a
    /// `request_id`, a repeat returns the first call's rule.
    ///
    /// Errors: [`StoreError::Invalid`] (a filter that does not parse, an action on a field the
    /// entity does not have, points or a due time out of range...).
    pub fn create_rule(&self, mut data: RuleData, request_id: Option<&str>) -> Result<Rule> {
        check(&mut data)?;
        let request_id = request_id.map(str::trim).filter(|r| !r.is_empty());
        if let Some(rid) = request_id {
            let mut v = Violations::default();
            crate::customers::check_request_id(&mut v, rid);
            v.into_result(())?;
        }
        let seen = self.in_state_now(&data)?;
        self.write(|w| {
            if let Some(rid) = request_id
                && let Some(id) = crate::support::created_for(w, 6, rid)?
            {
                return w.existing_rule(RuleId(id));
            }
            let now = w.store.now();
            let id = RuleId(w.next_id_in(crate::kv::keys::META_LAST_RULE, now)?);
            let r = Rule {
                id,
                data: data.clone(),
                version: 1,
                armed_after: w.tail_seq(crate::kv::keys::CHANGE, "change log")?,
                create_time: now,
                update_time: now,
            };
            w.put_record::<RuleFamily>(None, Some(&r))?;
            w.seed(id, seen.as_ref());
            log_rule(w, &r, ChangeKind::Created, "CreateRule")?;
            if let Some(rid) = request_id {
                crate::support::remember_created(w, 6, rid, id.0);
            }
            Ok(r)
        })
    }

    /// Reads a rule. Errors: [`StoreError::NotFound`].
    pub fn get_rule(&self, id: RuleId) -> Result<Rule> {
        match self.inner.engine.get(keys::rule(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("rule {id}")),
            None => Err(StoreError::NotFound(Resource::Rule(id))),
        }
    }

    /// Every rule, oldest first.
    pub fn list_rules(&self) -> Result<Vec<Rule>> {
        self.inner
            .engine
            .scan_prefix(&[crate::kv::keys::RULE])
            .map(|item| {
                let (key, value) = item?;
                codec::decode(&value, &|| crate::kv::keys::describe(&key))
            })
            .collect()
    }

    /// Replaces a rule whole; with `etag`, only if it is still that version. Switched on (or
    /// given a new trigger), it fires for what is committed from now on.
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn update_rule(&self, id: RuleId, mut data: RuleData, etag: Option<&str>) -> Result<Rule> {
        check(&mut data)?;
        let seen = self.in_state_now(&data)?;
        self.write(|w| {
            let old = w.existing_rule(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            if old.data == data {
                return Ok(old);
            }
            let rearm = data.enabled && (!old.data.enabled || data.trigger != old.data.trigger);
            let new = Rule {
                data: data.clone(),
                version: old.version + 1,
                armed_after: if rearm {
                    w.tail_seq(crate::kv::keys::CHANGE, "change log")?
                } else {
                    old.armed_after
                },
                update_time: w.store.now().max(old.update_time),
                ..old.clone()
            };
            if rearm {
                w.unseed(id)?;
                w.seed(id, seen.as_ref());
            }
            w.put_record::<RuleFamily>(Some(&old), Some(&new))?;
            log_rule(w, &new, ChangeKind::Updated, "UpdateRule")?;
            Ok(new)
        })
    }

    /// Deletes a rule and what its worker kept about states (its firings stay, as history);
    /// with `etag`, only if it is still that version.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn delete_rule(&self, id: RuleId, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let old = w.existing_rule(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            w.unseed(id)?;
            w.put_record::<RuleFamily>(Some(&old), None)?;
            log_rule(w, &old, ChangeKind::Deleted, "DeleteRule")
        })
    }

    /// A rule's firings, newest first, at most `limit` (at most 1,000).
    pub fn firings(&self, id: RuleId, limit: usize) -> Result<Vec<Firing>> {
        Ok(self.firings_page(id, limit, "")?.0)
    }

    /// One page of a rule's firings, newest first (`size` 0: 50; at most 1,000), and the token
    /// of the next page (empty on the last).
    ///
    /// Errors: [`StoreError::Invalid`] (a token of another listing).
    pub fn firings_page(
        &self,
        id: RuleId,
        size: usize,
        token: &str,
    ) -> Result<(Vec<Firing>, String)> {
        use crate::kv::token::Listing;
        let prefix = keys::firings_of(id);
        let query = id.to_string();
        let (start, mut end) = crate::engine::prefix_range(&prefix);
        if let Some(position) = self.open_token(token, Listing::Firings, &query, &prefix)? {
            end = std::ops::Bound::Excluded(position);
        }
        let size = crate::customers::list::page_size(size);
        let mut out = Vec::new();
        let mut next = String::new();
        let mut last: Option<Vec<u8>> = None;
        for item in self.inner.engine.scan(start, end, true) {
            let (key, value) = item?;
            if out.len() == size {
                if let Some(last) = &last {
                    next = self.inner.tokens.seal(Listing::Firings, &query, last);
                }
                break;
            }
            out.push(codec::decode(&value, &|| crate::kv::keys::describe(&key))?);
            last = Some(key.to_vec());
        }
        Ok((out, next))
    }
}

/// Whether an event caused by `cause` may fire `rule`, and the depth its actions write at.
pub(crate) fn depth_for(rule: RuleId, cause: Option<Cause>) -> Option<u8> {
    crm_core::automation::may_fire(rule, cause).then(|| {
        cause
            .map_or(1, |c| c.depth.saturating_add(1))
            .min(MAX_RULE_DEPTH)
    })
}
