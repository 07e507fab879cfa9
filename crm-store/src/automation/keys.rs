//! The automation domain's keys, under the first bytes `keys.rs` allocates to it:
//!
//! - `r id` -> a rule;
//! - `w 1 rule time kind id` -> a firing: what a rule did for an entity, and when;
//! - `w 2 rule kind id` -> empty: an entity a state rule has seen in its state (it fires
//!   again only after the entity has left the state);
//! - `w 3 rule` -> empty: the state rule has recorded the entities already in its state
//!   when it was switched on (those do not fire).
//!
//! `Mautomation_cursor` holds the change-log position the worker has handled up to, written
//! in the same transaction as the actions it took.

use chrono::{DateTime, Utc};
use crm_core::tasks::RuleId;

use crate::audit::changes::{EntityKind, EntityRef};
use crate::kv::keys::{AUTOMATION, RULE, time_bytes};

const FIRING: u8 = 1;
const IN_STATE: u8 = 2;
const SEEDED: u8 = 3;

pub(crate) fn rule(id: RuleId) -> [u8; 9] {
    let mut k = [RULE; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

fn of_rule(kind: u8, id: RuleId) -> Vec<u8> {
    let mut k = vec![AUTOMATION, kind];
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn kind_byte(k: EntityKind) -> u8 {
    match k {
        EntityKind::Customer => 1,
        EntityKind::Segment => 2,
        EntityKind::Ticket => 3,
        EntityKind::Pipeline => 4,
        EntityKind::Deal => 5,
        EntityKind::Task => 6,
        EntityKind::Rule => 7,
    }
}

pub(crate) fn kind_of_byte(b: u8) -> Option<EntityKind> {
    Some(match b {
        1 => EntityKind::Customer,
        2 => EntityKind::Segment,
        3 => EntityKind::Ticket,
        4 => EntityKind::Pipeline,
        5 => EntityKind::Deal,
        6 => EntityKind::Task,
        7 => EntityKind::Rule,
        _ => return None,
    })
}

fn entity_tail(mut k: Vec<u8>, e: EntityRef) -> Vec<u8> {
    k.push(kind_byte(e.kind));
    k.extend_from_slice(&e.id.to_be_bytes());
    k
}

pub(crate) fn firings_of(id: RuleId) -> Vec<u8> {
    of_rule(FIRING, id)
}

pub(crate) fn firing(id: RuleId, at: DateTime<Utc>, e: EntityRef) -> Vec<u8> {
    let mut k = firings_of(id);
    k.extend_from_slice(&time_bytes(at));
    entity_tail(k, e)
}

pub(crate) fn in_state_of(id: RuleId) -> Vec<u8> {
    of_rule(IN_STATE, id)
}

pub(crate) fn in_state(id: RuleId, e: EntityRef) -> Vec<u8> {
    entity_tail(in_state_of(id), e)
}

/// The entity an `in_state` or firing key ends with.
pub(crate) fn trailing_entity(key: &[u8]) -> Option<EntityRef> {
    let at = key.len().checked_sub(9)?;
    let kind = kind_of_byte(*key.get(at)?)?;
    let id = u64::from_be_bytes(key.get(at + 1..)?.try_into().ok()?);
    Some(EntityRef { kind, id })
}

pub(crate) fn seeded(id: RuleId) -> Vec<u8> {
    of_rule(SEEDED, id)
}
