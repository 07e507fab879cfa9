//! The worker's pass over the change log: read after the cursor, coalesce each entity's burst
//! of changes, evaluate every change rule, and in one transaction take the actions, record the
//! firings and move the cursor.
//!
//! **Coalescing.** A change is handled once it is [`crate::StoreConfig::rule_coalesce_window`]
//! old. An entity's changes less than a window apart form one burst, handled as one change: the
//! operations and fields of all of them, the entity's state at the end. A burst still going on
//! (a later change of the entity within a window of its last) waits, up to ten windows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use crm_core::automation::{Cause, Operation, Rule, Trigger, Watched};
use crm_core::{CustomerId, Violations};

use super::actions::{self, Target};
use super::{Automation, Firing, FiringFamily, depth_for};
use crate::audit::changes::{ChangeKind, EntityKind, EntityRef};
use crate::audit::feed::{FeedEvent, FeedQuery};
use crate::error::Result;
use crate::kv::keys;
use crate::write::Write;

/// Most change-log events one pass reads.
const BATCH: usize = 512;

/// What one pass of the worker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerPass {
    /// Change-log events handled (the cursor moved past them).
    pub events: u64,
    /// Rule firings (each one rule for one entity).
    pub fired: u64,
    /// The cursor afterwards.
    pub cursor: u64,
    /// Whether events are waiting for their coalescing window (another pass is due soon).
    pub waiting: bool,
}

/// An entity's burst of changes.
#[derive(Debug)]
pub(crate) struct Burst {
    pub(crate) entity: EntityRef,
    customer: Option<CustomerId>,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    last_seq: u64,
    version: u64,
    count: u32,
    operations: BTreeSet<Operation>,
    fields: BTreeSet<String>,
    causes: Vec<(u64, Option<Cause>)>,
}

fn operation(kind: ChangeKind) -> Option<Operation> {
    match kind {
        ChangeKind::Created => Some(Operation::Created),
        ChangeKind::Updated => Some(Operation::Updated),
        ChangeKind::Deleted => Some(Operation::Deleted),
        ChangeKind::Recorded => Some(Operation::Recorded),
        // Nothing acts on an erased person: no rule fires on an erasure.
        ChangeKind::Published | ChangeKind::Erased => None,
    }
}

pub(crate) fn watched(kind: EntityKind) -> Option<Watched> {
    match kind {
        EntityKind::Customer => Some(Watched::Customer),
        EntityKind::Deal => Some(Watched::Deal),
        EntityKind::Task => Some(Watched::Task),
        EntityKind::Ticket => Some(Watched::Ticket),
        EntityKind::Segment | EntityKind::Pipeline | EntityKind::Rule => None,
    }
}

/// The bursts among `events`, in the order of their last event.
pub(crate) fn bursts(events: &[FeedEvent], window: chrono::Duration) -> Vec<Burst> {
    let mut done: Vec<Burst> = Vec::new();
    let mut open: BTreeMap<EntityRef, Burst> = BTreeMap::new();
    for e in events {
        let c = &e.change;
        let Some(op) = operation(c.kind) else {
            continue;
        };
        if watched(c.entity.kind).is_none() {
            continue;
        }
        if let Some(b) = open.get(&c.entity)
            && c.time - b.last_at > window
            && let Some(closed) = open.remove(&c.entity)
        {
            done.push(closed);
        }
        let b = open.entry(c.entity).or_insert_with(|| Burst {
            entity: c.entity,
            customer: c.customer_id,
            first_at: c.time,
            last_at: c.time,
            last_seq: c.seq,
            version: c.version,
            count: 0,
            operations: BTreeSet::new(),
            fields: BTreeSet::new(),
            causes: Vec::new(),
        });
        b.last_at = b.last_at.max(c.time);
        b.last_seq = c.seq;
        b.version = c.version;
        b.count += 1;
        b.customer = c.customer_id.or(b.customer);
        b.operations.insert(op);
        b.fields.extend(c.fields.iter().cloned());
        b.causes.push((c.seq, e.cause));
    }
    done.extend(open.into_values());
    done.sort_by_key(|b| b.last_seq);
    done
}

/// How many of `events` (all at least a window old: `ready` of them) can be handled now: a
/// burst that a later event continues waits, unless it has waited ten windows.
fn handled_now(
    events: &[FeedEvent],
    ready: usize,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> usize {
    let (head, tail) = events.split_at(ready);
    let mut cut = ready;
    for b in bursts(head, window) {
        let continues = tail
            .iter()
            .any(|e| e.change.entity == b.entity && e.change.time - b.last_at <= window);
        if continues && now - b.first_at < window * 10 {
            let first = head
                .iter()
                .position(|e| e.change.entity == b.entity && e.change.time >= b.first_at);
            cut = cut.min(first.unwrap_or(cut));
        }
    }
    cut
}

/// The configured coalescing window, within 0 and an hour (the arithmetic on it stays in
/// range whatever a library caller sets).
pub(crate) fn coalesce_window(store: &crate::Store) -> chrono::Duration {
    store
        .inner
        .config
        .rule_coalesce_window
        .clamp(chrono::Duration::zero(), chrono::Duration::hours(1))
}

impl Automation<'_> {
    /// The change-log position the worker has handled up to.
    pub fn cursor(&self) -> Result<u64> {
        Ok(self
            .inner
            .engine
            .get(keys::META_AUTOMATION_CURSOR)?
            .and_then(|v| keys::u64_value(&v))
            .unwrap_or(0))
    }

    /// One pass: the change rules over the change log after the cursor (at most 512 events),
    /// then the state rules. Run it in a loop (the server does, every 250 ms and at once
    /// when the log grows); on a store shared by several processes, in one process at a time.
    ///
    /// Errors: the store's (the pass is undone and can be run again).
    pub fn run_once(&self) -> Result<WorkerPass> {
        let rules: Vec<Rule> = self
            .list_rules()?
            .into_iter()
            .filter(|r| r.data.enabled)
            .collect();
        let mut pass = self.run_changes(&rules)?;
        pass.fired += self.run_states(&rules)?;
        Ok(pass)
    }

    fn run_changes(&self, rules: &[Rule]) -> Result<WorkerPass> {
        let stored = self.cursor()?;
        let position = self.audit().feed_position()?;
        let change_rules: Vec<&Rule> = rules
            .iter()
            .filter(|r| matches!(r.data.trigger, Trigger::Change { .. }))
            .collect();
        // No rule fires on an event at or before its `armed_after`: with no change rule there
        // is nothing to read (and nothing to write), and a pass starts where the earliest-armed
        // rule starts.
        let Some(floor) = change_rules.iter().map(|r| r.armed_after).min() else {
            return Ok(WorkerPass {
                cursor: position,
                ..WorkerPass::default()
            });
        };
        let cursor = stored.max(floor.min(position));
        let window = coalesce_window(self);
        let now = self.now();
        let batch = self
            .audit()
            .read_feed(&FeedQuery::default(), cursor, BATCH)?;
        let mut pass = WorkerPass {
            cursor,
            ..WorkerPass::default()
        };
        if batch.cursor <= cursor {
            return Ok(pass);
        }
        let horizon = now - window;
        let ready = batch
            .events
            .iter()
            .take_while(|e| e.change.time <= horizon || e.change.time > now + window * 60)
            .count();
        let n = handled_now(&batch.events, ready, window, now);
        pass.waiting = n < batch.events.len();
        let (events, to) = match n {
            0 => return Ok(pass),
            n if n == batch.events.len() => (&batch.events[..], batch.cursor),
            n => (&batch.events[..n], batch.events[n - 1].change.seq),
        };
        let groups = bursts(events, window);
        let fired = self.write(|w| {
            let now_stored = w
                .get(keys::META_AUTOMATION_CURSOR)?
                .and_then(|v| keys::u64_value(&v))
                .unwrap_or(0);
            if now_stored != stored {
                // Another worker moved on meanwhile (a lease that changed hands).
                return Ok(None);
            }
            let mut fired = 0;
            for b in &groups {
                for rule in &change_rules {
                    if fire_on_change(w, rule, b)? {
                        fired += 1;
                    }
                }
            }
            w.put_raw(keys::META_AUTOMATION_CURSOR, to.to_be_bytes());
            Ok(Some(fired))
        })?;
        if let Some(fired) = fired {
            pass.events = events.len() as u64;
            pass.fired = fired;
            pass.cursor = to;
        }
        Ok(pass)
    }
}

/// Fires `rule` for burst `b` if its trigger holds; whether it fired.
fn fire_on_change(w: &mut Write<'_>, rule: &Rule, b: &Burst) -> Result<bool> {
    match holds(w, rule, b)? {
        Some((depth, target)) => {
            fire(w, rule, b.last_seq, b.count, depth, &target)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether `rule`'s trigger holds for burst `b` (a dry run's question).
pub(crate) fn would_fire(w: &mut Write<'_>, rule: &Rule, b: &Burst) -> Result<bool> {
    Ok(holds(w, rule, b)?.is_some())
}

/// If `rule`'s trigger holds for burst `b`: the depth its actions write at, and the entity.
fn holds(w: &mut Write<'_>, rule: &Rule, b: &Burst) -> Result<Option<(u8, Target)>> {
    let Trigger::Change {
        entity,
        operations,
        fields,
        filter,
    } = &rule.data.trigger
    else {
        return Ok(None);
    };
    if watched(b.entity.kind) != Some(*entity) {
        return Ok(None);
    }
    let Some(depth) = b
        .causes
        .iter()
        .filter(|(seq, _)| *seq > rule.armed_after)
        .filter_map(|(_, c)| depth_for(rule.id, *c))
        .min()
    else {
        return Ok(None);
    };
    if !operations.is_empty() && !operations.iter().any(|o| b.operations.contains(o)) {
        return Ok(None);
    }
    if !fields.is_empty() && !fields.iter().any(|f| b.fields.contains(f)) {
        return Ok(None);
    }
    let target = w.target(b.entity)?;
    if !filter.trim().is_empty() {
        let Some(t) = &target else { return Ok(None) };
        if !state_matches(w, t, filter)? {
            return Ok(None);
        }
    }
    let target = target.unwrap_or(Target {
        entity: b.entity,
        customer: b.customer,
        owner: None,
        link: None,
        version: b.version,
    });
    Ok(Some((depth, target)))
}

/// Whether the entity's state now matches a rule's filter.
fn state_matches(w: &mut Write<'_>, t: &Target, filter: &str) -> Result<bool> {
    let now = w.store.now();
    let bad = |e: crm_core::FilterError| -> crate::StoreError {
        Violations::one("trigger.filter", e.to_string()).into()
    };
    Ok(match t.entity.kind {
        EntityKind::Customer => {
            let f = crm_core::Filter::parse(filter).map_err(bad)?;
            match w.customer(CustomerId(t.entity.id))? {
                Some(c) => {
                    let insight = w.store.insight_for(&f, &c, now)?;
                    f.matches_insight(&c, &insight)
                }
                None => false,
            }
        }
        EntityKind::Deal => {
            let f = crm_core::deals::filter::parse(filter).map_err(bad)?;
            let d = w.existing_deal(crm_core::deals::DealId(t.entity.id))?;
            crm_core::deals::filter::matches(&f, &d, now)
        }
        EntityKind::Ticket => {
            let f = crm_core::support::filter::parse(filter).map_err(bad)?;
            let id = crm_core::support::TicketId(t.entity.id);
            let mut ticket = crate::support::existing(w, id)?;
            ticket.sla.evaluate(now);
            crm_core::support::filter::matches(&f, &ticket, now)
        }
        _ => true,
    })
}

/// Takes `rule`'s actions for `t` in order (each undone alone if it fails, each seeing what the
/// ones before it did) and records the firing.
pub(crate) fn fire(
    w: &mut Write<'_>,
    rule: &Rule,
    event: u64,
    coalesced: u32,
    depth: u8,
    t: &Target,
) -> Result<()> {
    w.cause = Some(Cause {
        rule: rule.id,
        depth,
    });
    let mut tasks = Vec::new();
    let mut outcomes = Vec::new();
    for action in &rule.data.actions {
        // Each action sees what the ones before it did (an owner just set, say).
        let now = w.target(t.entity)?.unwrap_or_else(|| t.clone());
        let done = w.item(|w| actions::apply(w, rule.id, event, action, &now, &mut tasks));
        match done {
            Ok(Ok(())) => outcomes.push(None),
            Ok(Err(e)) => outcomes.push(Some(e.to_string())),
            Err(e) => {
                w.cause = None;
                return Err(e);
            }
        }
    }
    w.cause = None;
    // Firings within one pass get distinct instants, so none replaces another.
    w.firings += 1;
    let at = w.started + chrono::Duration::microseconds(w.firings);
    let firing = Firing {
        rule: rule.id,
        event,
        coalesced,
        entity: t.entity,
        at,
        depth,
        outcomes,
        tasks,
    };
    w.put_record::<FiringFamily>(None, Some(&firing))
}

/// How long the worker waits for the change log to grow before a pass anyway (state rules
/// and the coalescing window need passes with no new change).
pub const TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// How long the worker's lease lasts on a shared store; renewed every pass.
const LEASE: std::time::Duration = std::time::Duration::from_secs(10);

impl Automation<'_> {
    /// Runs the worker until `stop` says so: a pass at once when the change log grows, and
    /// every [`TICK`]; on a store several processes share, only while this process holds the
    /// `automation` lease. A failed pass is logged and run again a second later.
    pub fn serve(&self, stop: &dyn Fn() -> bool) {
        let pause = std::time::Duration::from_secs(1);
        while !stop() {
            // No enabled rule: nothing to run, no lease to hold; look again after a tick.
            match self.list_rules() {
                Ok(rules) if !rules.iter().any(|r| r.data.enabled) => {
                    // A rule's creation is a change: the wait ends with it.
                    let position = self.audit().feed_position().unwrap_or(0);
                    if self.audit().wait_for_changes(position, TICK).is_err() {
                        std::thread::sleep(pause);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the rule worker cannot read the rules");
                    std::thread::sleep(pause);
                    continue;
                }
            }
            if self.shared() {
                match self.take_lease("automation", LEASE) {
                    Ok(true) => {}
                    Ok(false) => {
                        std::thread::sleep(pause);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the rule worker cannot take its lease");
                        std::thread::sleep(pause);
                        continue;
                    }
                }
            }
            let cursor = match self.run_once() {
                Ok(pass) if pass.waiting => {
                    // Changes wait for their coalescing window.
                    std::thread::sleep(TICK);
                    continue;
                }
                // More may be waiting: go on at once.
                Ok(pass) if pass.events > 0 => continue,
                Ok(pass) => pass.cursor,
                Err(e) => {
                    tracing::warn!(error = %e, "a rule worker pass failed; it runs again");
                    std::thread::sleep(pause);
                    continue;
                }
            };
            if let Err(e) = self.audit().wait_for_changes(cursor, TICK) {
                tracing::warn!(error = %e, "the rule worker cannot read the change log");
                std::thread::sleep(pause);
            }
        }
    }
}
