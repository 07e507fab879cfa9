//! Automation rules between `crm.v1` messages and `crm-core` types.

use crm_core::Violations;
use crm_core::automation::{Action, Operation, Rule, RuleData, TimeState, Trigger, Watched};
use crm_store::automation::{DryRun, Firing};

use super::feed::entity_to_proto;
use super::time_to_proto;
use crate::pb;

fn state_from_proto(s: i32) -> Option<TimeState> {
    Some(match pb::RuleState::try_from(s).ok()? {
        pb::RuleState::Unspecified => return None,
        pb::RuleState::CustomerAtRisk => TimeState::CustomerAtRisk,
        pb::RuleState::LeadHot => TimeState::LeadHot,
        pb::RuleState::DealRotting => TimeState::DealRotting,
        pb::RuleState::TicketSlaAtRisk => TimeState::TicketSlaAtRisk,
    })
}

fn state_to_proto(s: TimeState) -> pb::RuleState {
    match s {
        TimeState::CustomerAtRisk => pb::RuleState::CustomerAtRisk,
        TimeState::LeadHot => pb::RuleState::LeadHot,
        TimeState::DealRotting => pb::RuleState::DealRotting,
        TimeState::TicketSlaAtRisk => pb::RuleState::TicketSlaAtRisk,
    }
}

fn watched_from_proto(k: i32) -> Option<Watched> {
    Some(match pb::EntityKind::try_from(k).ok()? {
        pb::EntityKind::Customer => Watched::Customer,
        pb::EntityKind::Deal => Watched::Deal,
        pb::EntityKind::Task => Watched::Task,
        pb::EntityKind::Ticket => Watched::Ticket,
        _ => return None,
    })
}

fn watched_to_proto(w: Watched) -> pb::EntityKind {
    match w {
        Watched::Customer => pb::EntityKind::Customer,
        Watched::Deal => pb::EntityKind::Deal,
        Watched::Task => pb::EntityKind::Task,
        Watched::Ticket => pb::EntityKind::Ticket,
    }
}

fn operation_from_proto(o: i32) -> Option<Operation> {
    Some(match pb::ChangeOperation::try_from(o).ok()? {
        pb::ChangeOperation::Created => Operation::Created,
        pb::ChangeOperation::Updated => Operation::Updated,
        pb::ChangeOperation::Deleted => Operation::Deleted,
        pb::ChangeOperation::Recorded => Operation::Recorded,
        _ => return None,
    })
}

fn operation_to_proto(o: Operation) -> pb::ChangeOperation {
    match o {
        Operation::Created => pb::ChangeOperation::Created,
        Operation::Updated => pb::ChangeOperation::Updated,
        Operation::Deleted => pb::ChangeOperation::Deleted,
        Operation::Recorded => pb::ChangeOperation::Recorded,
    }
}

/// A rule's data from its message.
pub fn rule_from_proto(r: pb::Rule) -> Result<RuleData, Violations> {
    let pb::Rule {
        id: _,
        name,
        enabled,
        trigger,
        actions,
        armed_after: _,
        create_time: _,
        update_time: _,
        etag: _,
    } = r;
    let mut v = Violations::default();
    let trigger = match trigger {
        None => {
            v.add("trigger", "is required: on_change or on_state");
            None
        }
        Some(pb::rule::Trigger::OnState(s)) => match state_from_proto(s) {
            Some(s) => Some(Trigger::State(s)),
            None => {
                v.add("on_state", format!("{s} is not a state: CUSTOMER_AT_RISK, LEAD_HOT, DEAL_ROTTING or TICKET_SLA_AT_RISK"));
                None
            }
        },
        Some(pb::rule::Trigger::OnChange(c)) => {
            let pb::ChangeTrigger {
                entity_kind,
                operations,
                fields,
                filter,
            } = c;
            let entity = watched_from_proto(entity_kind);
            if entity.is_none() {
                v.add(
                    "on_change.entity_kind",
                    format!(
                        "{entity_kind} is not a kind a rule watches: CUSTOMER, DEAL, TASK or TICKET"
                    ),
                );
            }
            let operations = crate::services::common::enums_in(
                &mut v,
                "on_change.operations",
                operations,
                operation_from_proto,
                "an operation (CREATED, UPDATED, DELETED, RECORDED)",
            );
            entity.map(|entity| Trigger::Change {
                entity,
                operations,
                fields,
                filter,
            })
        }
    };
    let actions = actions
        .into_iter()
        .enumerate()
        .filter_map(|(i, a)| {
            use pb::rule_action::Action as A;
            match a.action {
                None => {
                    v.add(format!("actions[{i}]"), "names no action");
                    None
                }
                Some(A::CreateTask(t)) => Some(Action::CreateTask {
                    title: t.title,
                    due_in_minutes: t.due_in_minutes,
                    owner: Some(t.owner).filter(|o| !o.trim().is_empty()),
                }),
                Some(A::AddTag(tag)) => Some(Action::AddTag { tag }),
                Some(A::SetField(f)) => Some(Action::SetField {
                    field: f.field,
                    value: f.value,
                }),
                Some(A::MoveStage(stage)) => Some(Action::MoveStage { stage }),
                Some(A::AddPoints(p)) => Some(Action::AddPoints {
                    points: p.points,
                    reason: p.reason,
                }),
                Some(A::PublishEvent(name)) => Some(Action::Publish { name }),
            }
        })
        .collect();
    match trigger {
        Some(trigger) => v.into_result(RuleData {
            name,
            enabled,
            trigger,
            actions,
        }),
        None => Err(v),
    }
}

/// A rule as a message.
pub fn rule_to_proto(r: &Rule) -> pb::Rule {
    use pb::rule_action::Action as A;
    pb::Rule {
        id: r.id.to_string(),
        name: r.data.name.clone(),
        enabled: r.data.enabled,
        trigger: Some(match &r.data.trigger {
            Trigger::State(s) => pb::rule::Trigger::OnState(state_to_proto(*s).into()),
            Trigger::Change {
                entity,
                operations,
                fields,
                filter,
            } => pb::rule::Trigger::OnChange(pb::ChangeTrigger {
                entity_kind: watched_to_proto(*entity).into(),
                operations: operations
                    .iter()
                    .map(|o| operation_to_proto(*o).into())
                    .collect(),
                fields: fields.clone(),
                filter: filter.clone(),
            }),
        }),
        actions: r
            .data
            .actions
            .iter()
            .map(|a| pb::RuleAction {
                action: Some(match a {
                    Action::CreateTask {
                        title,
                        due_in_minutes,
                        owner,
                    } => A::CreateTask(pb::CreateTaskAction {
                        title: title.clone(),
                        due_in_minutes: *due_in_minutes,
                        owner: owner.clone().unwrap_or_default(),
                    }),
                    Action::AddTag { tag } => A::AddTag(tag.clone()),
                    Action::SetField { field, value } => A::SetField(pb::SetFieldAction {
                        field: field.clone(),
                        value: value.clone(),
                    }),
                    Action::MoveStage { stage } => A::MoveStage(stage.clone()),
                    Action::AddPoints { points, reason } => A::AddPoints(pb::AddPointsAction {
                        points: *points,
                        reason: reason.clone(),
                    }),
                    Action::Publish { name } => A::PublishEvent(name.clone()),
                }),
            })
            .collect(),
        armed_after: r.armed_after,
        create_time: Some(time_to_proto(r.create_time)),
        update_time: Some(time_to_proto(r.update_time)),
        etag: crm_store::automation::etag_of(r),
    }
}

/// A firing as a message.
pub fn firing_to_proto(f: &Firing) -> pb::RuleFiring {
    pb::RuleFiring {
        rule_id: f.rule.to_string(),
        event_cursor: f.event,
        coalesced: i32::try_from(f.coalesced).unwrap_or(i32::MAX),
        entity: Some(entity_to_proto(f.entity)),
        fire_time: Some(time_to_proto(f.at)),
        depth: i32::from(f.depth),
        action_errors: f
            .outcomes
            .iter()
            .map(|o| o.clone().unwrap_or_default())
            .collect(),
        task_ids: f.tasks.iter().map(ToString::to_string).collect(),
    }
}

/// A dry run as a message.
pub fn dry_run_to_proto(d: &DryRun) -> pb::DryRunRuleResponse {
    pb::DryRunRuleResponse {
        fire_count: i64::try_from(d.fired).unwrap_or(i64::MAX),
        entities: d.entities.iter().map(|e| entity_to_proto(*e)).collect(),
        examined_events: i64::try_from(d.examined).unwrap_or(i64::MAX),
        from_history: d.from_history,
        truncated: d.truncated,
    }
}
