//! The change feed and backups as `crm.v1` messages.

use crm_core::Violations;
use crm_store::{ChangeKind, EntityKind, FeedEvent};

use super::time_to_proto;
use crate::pb;

/// An entity kind from the contract; `None` for UNSPECIFIED or a value it does not define.
pub fn entity_kind_from_proto(kind: i32) -> Option<EntityKind> {
    match pb::EntityKind::try_from(kind).ok()? {
        pb::EntityKind::Unspecified => None,
        pb::EntityKind::Customer => Some(EntityKind::Customer),
        pb::EntityKind::Segment => Some(EntityKind::Segment),
        pb::EntityKind::Ticket => Some(EntityKind::Ticket),
        pb::EntityKind::Pipeline => Some(EntityKind::Pipeline),
        pb::EntityKind::Deal => Some(EntityKind::Deal),
        pb::EntityKind::Task => Some(EntityKind::Task),
        pb::EntityKind::AutomationRule => Some(EntityKind::Rule),
    }
}

/// The kinds a watch asks for: every one must be defined (named `kinds[i]` otherwise).
pub fn entity_kinds_from_proto(v: &mut Violations, kinds: &[i32]) -> Vec<EntityKind> {
    let mut out = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        match entity_kind_from_proto(*k) {
            Some(kind) => out.push(kind),
            None => v.add(
                format!("kinds[{i}]"),
                format!("{k} is not an entity kind (CUSTOMER = 1, SEGMENT = 2, TICKET = 3)"),
            ),
        }
    }
    out
}

pub(crate) fn entity_kind_to_proto(kind: EntityKind) -> pb::EntityKind {
    match kind {
        EntityKind::Customer => pb::EntityKind::Customer,
        EntityKind::Segment => pb::EntityKind::Segment,
        EntityKind::Ticket => pb::EntityKind::Ticket,
        EntityKind::Pipeline => pb::EntityKind::Pipeline,
        EntityKind::Deal => pb::EntityKind::Deal,
        EntityKind::Task => pb::EntityKind::Task,
        EntityKind::Rule => pb::EntityKind::AutomationRule,
        _ => pb::EntityKind::Unspecified,
    }
}

/// An entity as a message: its kind and its id as the contract writes it.
pub fn entity_to_proto(entity: crm_store::EntityRef) -> pb::EntityRef {
    let id = match entity.kind {
        EntityKind::Customer => crm_core::CustomerId(entity.id).to_string(),
        _ => crm_core::SegmentId(entity.id).to_string(),
    };
    pb::EntityRef {
        kind: entity_kind_to_proto(entity.kind).into(),
        id,
    }
}

fn operation_to_proto(kind: ChangeKind) -> pb::ChangeOperation {
    match kind {
        ChangeKind::Created => pb::ChangeOperation::Created,
        ChangeKind::Updated => pb::ChangeOperation::Updated,
        ChangeKind::Deleted => pb::ChangeOperation::Deleted,
        ChangeKind::Recorded => pb::ChangeOperation::Recorded,
        ChangeKind::Published => pb::ChangeOperation::Published,
        ChangeKind::Erased => pb::ChangeOperation::Erased,
    }
}

/// A feed event as a message (without the entity's state).
pub fn feed_event_to_proto(e: &FeedEvent) -> pb::ChangeEvent {
    pb::ChangeEvent {
        cursor: e.change.seq,
        time: Some(time_to_proto(e.change.time)),
        entity: Some(entity_to_proto(e.change.entity)),
        customer_id: e
            .change
            .customer_id
            .map(|c| c.to_string())
            .unwrap_or_default(),
        operation: operation_to_proto(e.change.kind).into(),
        changed_fields: e.change.fields.clone(),
        version: e.change.version,
        actor: e.actor.clone(),
        origin: e.origin.clone().unwrap_or_default(),
        method: e.operation.clone(),
        request_id: e.request_id.clone().unwrap_or_default(),
        customer: None,
        rule_id: e.cause.map(|c| c.rule.to_string()).unwrap_or_default(),
        rule_depth: e.cause.map_or(0, |c| i32::from(c.depth)),
    }
}

/// What a backup holds, as a message.
pub fn backup_summary_to_proto(info: &crm_store::BackupInfo) -> pb::BackupSummary {
    pb::BackupSummary {
        format: u32::from(info.format),
        cursor: info.cursor,
        time: Some(time_to_proto(info.time)),
        entries: info.entries,
        bytes: info.bytes,
        engine: info.engine.clone(),
    }
}
