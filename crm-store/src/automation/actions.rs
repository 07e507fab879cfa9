//! What a rule's actions do, each inside the worker's transaction: the entity a firing is
//! about, resolved to what the actions need (its customer, its owner, what a task links to),
//! then each action as a write of its own domain.

use chrono::Duration;
use crm_core::automation::Action;
use crm_core::tasks::{RuleId, TaskData, TaskId, TaskLink, TaskSource};
use crm_core::{CustomerId, LifecycleStage, UpdateMask, Violations};

use crate::audit::changes::{ChangeKind, EntityKind, EntityRef};
use crate::error::Result;
use crate::write::Write;

/// The operation every write of a rule's actions names in the change log.
pub(crate) const OPERATION: &str = "RunRule";

/// An entity as the actions see it.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) entity: EntityRef,
    /// The customer it belongs to (itself, for a customer).
    pub(crate) customer: Option<CustomerId>,
    /// Its owner (a ticket's assignee).
    pub(crate) owner: Option<String>,
    /// What a task made about it links to.
    pub(crate) link: Option<TaskLink>,
    /// Its version, for a published event.
    pub(crate) version: u64,
}

impl Write<'_> {
    /// The entity as it is now, or `None` if it is gone.
    pub(crate) fn target(&mut self, entity: EntityRef) -> Result<Option<Target>> {
        let t = match entity.kind {
            EntityKind::Customer => self.customer(CustomerId(entity.id))?.map(|c| Target {
                entity,
                customer: Some(c.id),
                owner: c.data.owner.clone(),
                link: Some(TaskLink::Customer(c.id)),
                version: c.version,
            }),
            EntityKind::Deal => {
                let key = crate::deals::keys::deal(crm_core::deals::DealId(entity.id));
                self.read::<crm_core::deals::Deal>(&key, &|| format!("deal {}", entity.id))?
                    .map(|d| Target {
                        entity,
                        customer: Some(d.data.customer_id),
                        owner: d.data.owner.clone(),
                        link: Some(TaskLink::Deal(d.id)),
                        version: d.version,
                    })
            }
            EntityKind::Ticket => {
                let key = crate::support::keys::ticket(crm_core::support::TicketId(entity.id));
                self.read::<crm_core::support::Ticket>(&key, &|| format!("ticket {}", entity.id))?
                    .map(|t| Target {
                        entity,
                        customer: Some(t.data.customer_id),
                        owner: t.data.assignee.clone(),
                        link: Some(TaskLink::Ticket(t.id)),
                        version: t.version,
                    })
            }
            EntityKind::Task => {
                let key = crate::tasks::keys::task(TaskId(entity.id));
                self.read::<crm_core::tasks::Task>(&key, &|| format!("task {}", entity.id))?
                    .map(|t| Target {
                        entity,
                        customer: match t.data.link {
                            Some(TaskLink::Customer(c)) => Some(c),
                            _ => None,
                        },
                        owner: Some(t.data.owner.clone()),
                        link: t.data.link,
                        version: t.version,
                    })
            }
            EntityKind::Segment | EntityKind::Pipeline | EntityKind::Rule => None,
        };
        Ok(t)
    }
}

fn refuse(field: &str, why: impl Into<String>) -> crate::StoreError {
    Violations::one(field, why).into()
}

/// Does one action of `rule` (fired by change-log event `event`) for `t`; a task it makes is
/// added to `tasks`.
pub(crate) fn apply(
    w: &mut Write<'_>,
    rule: RuleId,
    event: u64,
    action: &Action,
    t: &Target,
    tasks: &mut Vec<TaskId>,
) -> Result<()> {
    let customer = || {
        t.customer
            .ok_or_else(|| refuse("entity", "it belongs to no customer"))
    };
    match action {
        Action::CreateTask {
            title,
            due_in_minutes,
            owner,
        } => {
            let owner = owner.clone().or_else(|| t.owner.clone()).ok_or_else(|| {
                refuse("owner", "the entity has no owner and the action names none")
            })?;
            let due_time = w.store.now() + Duration::minutes(i64::from(*due_in_minutes));
            let mut data = TaskData {
                title: title.clone(),
                notes: String::new(),
                due_time,
                owner,
                link: t.link,
            };
            crm_core::tasks::validate_task(&mut data).map_err(|v| v.prefixed("task"))?;
            let task = w.create_task_in(&data, TaskSource::Rule { rule, event }, OPERATION)?;
            tasks.push(task.id);
        }
        Action::AddTag { tag } => {
            let id = customer()?;
            let current = w.existing_customer(id)?;
            if !current.data.tags.contains(tag) {
                let mut patch = current.data.clone();
                patch.tags.push(tag.clone());
                update_customer(w, id, &patch, "tags")?;
            }
        }
        Action::SetField { field, value } => set_field(w, t, field, value)?,
        Action::MoveStage { stage } => match t.entity.kind {
            EntityKind::Deal => {
                w.move_deal_in(crm_core::deals::DealId(t.entity.id), stage, OPERATION)?;
            }
            _ => {
                let to = LifecycleStage::parse(stage)
                    .ok_or_else(|| refuse("stage", "not a lifecycle stage"))?;
                let mut s = w.subject(customer()?)?;
                // A rule only moves forward: a customer past the stage stays where it is.
                if to > s.customer.data.lifecycle_stage {
                    let actor = format!("rule:{rule}");
                    let now = w.store.now();
                    w.move_stage(&mut s, to, &format!("rule {rule}"), true, &actor, now)?;
                    w.finish(s, OPERATION)?;
                }
            }
        },
        Action::AddPoints { points, reason } => {
            crate::loyalty::adjust_in(w, customer()?, *points, reason)?;
        }
        Action::Publish { name } => {
            let now = w.store.now();
            w.log_change(
                t.entity,
                t.customer,
                ChangeKind::Published,
                t.version,
                now,
                Vec::new(),
                name,
            )?;
        }
    }
    Ok(())
}

fn update_customer(
    w: &mut Write<'_>,
    id: CustomerId,
    patch: &crm_core::CustomerData,
    path: &str,
) -> Result<()> {
    let mask = UpdateMask::parse(&[path])?;
    let now = w.store.now();
    crate::customers::update_in(w, id, patch, &mask, None, now)?;
    Ok(())
}

fn set_field(w: &mut Write<'_>, t: &Target, field: &str, value: &str) -> Result<()> {
    let text = Some(value.to_owned()).filter(|v| !v.is_empty());
    match t.entity.kind {
        EntityKind::Customer => {
            let id = CustomerId(t.entity.id);
            let mut patch = w.existing_customer(id)?.data;
            let path = match field {
                "owner" => {
                    patch.owner = text;
                    "owner"
                }
                "source" => {
                    patch.source = text;
                    "source"
                }
                _ => {
                    let key = field.strip_prefix("attributes.").unwrap_or(field);
                    match text {
                        Some(v) => patch.attributes.insert(key.to_owned(), v),
                        None => patch.attributes.remove(key),
                    };
                    "attributes"
                }
            };
            update_customer(w, id, &patch, path)
        }
        EntityKind::Deal => w.set_deal_owner(crm_core::deals::DealId(t.entity.id), text, OPERATION),
        EntityKind::Task => w.set_task_owner(TaskId(t.entity.id), value, OPERATION),
        EntityKind::Ticket => {
            let id = crm_core::support::TicketId(t.entity.id);
            w.set_ticket_field(id, field, value, OPERATION)
        }
        EntityKind::Segment | EntityKind::Pipeline | EntityKind::Rule => Err(refuse(
            "field",
            "this kind of entity has no settable fields",
        )),
    }
}
