//! Automation rules: data, not code. A rule has a trigger and up to ten actions.
//!
//! - **A change trigger** fires on a committed change of one kind of entity: optionally only
//!   for some operations, only when some fields changed, only when the entity's new state
//!   matches a filter (the entity's own filter language).
//! - **A state trigger** fires when an entity *reaches* a state with time alone or by a write:
//!   a customer becomes AT_RISK, a lead becomes HOT, a deal starts rotting, a ticket's SLA
//!   becomes AT_RISK. It fires again only after the entity has left the state and come back.
//! - **Actions** create a task, add a tag, set a field, move a lifecycle or deal stage, add
//!   loyalty points, or publish a named event on the change feed.
//!
//! Which entity an action acts on follows from the trigger: a customer's action acts on the
//! customer; on a deal or ticket, tags and points go to its customer, fields and stages to
//! the deal or ticket itself ([`Action::check`] says what is allowed where).

use serde::{Deserialize, Serialize};

use crate::lifecycle::LifecycleStage;
use crate::tasks::RuleId;
use crate::validate::{MAX_ID_CHARS, MAX_NAME_CHARS, Violations, check_text};

/// Most actions one rule has.
pub const MAX_ACTIONS: usize = 10;
/// Most points one action adds.
pub const MAX_RULE_POINTS: i64 = 1_000_000;
/// Longest a created task may be given before it is due: a year, in minutes.
pub const MAX_DUE_MINUTES: u32 = 525_600;

/// The kinds of entity a change trigger watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Watched {
    /// Customers (persons and organizations).
    Customer,
    /// Deals.
    Deal,
    /// Tasks.
    Task,
    /// Support tickets.
    Ticket,
}

impl Watched {
    /// Every kind, in contract order.
    pub const ALL: [Watched; 4] = [
        Watched::Customer,
        Watched::Deal,
        Watched::Task,
        Watched::Ticket,
    ];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            Watched::Customer => "CUSTOMER",
            Watched::Deal => "DEAL",
            Watched::Task => "TASK",
            Watched::Ticket => "TICKET",
        }
    }

    /// The fields [`Action::SetField`] may set on this kind (`attributes.KEY` on customers).
    pub fn settable(self) -> &'static [&'static str] {
        match self {
            Watched::Customer => &["owner", "source", "attributes.*"],
            Watched::Deal => &["owner"],
            Watched::Task => &["owner"],
            Watched::Ticket => &["assignee", "priority"],
        }
    }
}

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// Created.
    Created,
    /// Changed.
    Updated,
    /// Deleted.
    Deleted,
    /// Timeline entries recorded (customers).
    Recorded,
}

/// A state an entity reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimeState {
    /// A customer's relationship status is AT_RISK.
    CustomerAtRisk,
    /// A lead's temperature is HOT.
    LeadHot,
    /// A deal is rotting.
    DealRotting,
    /// A ticket's SLA status is AT_RISK.
    TicketSlaAtRisk,
}

impl TimeState {
    /// Every state, in contract order.
    pub const ALL: [TimeState; 4] = [
        TimeState::CustomerAtRisk,
        TimeState::LeadHot,
        TimeState::DealRotting,
        TimeState::TicketSlaAtRisk,
    ];

    /// The kind of entity that reaches it.
    pub fn watched(self) -> Watched {
        match self {
            TimeState::CustomerAtRisk | TimeState::LeadHot => Watched::Customer,
            TimeState::DealRotting => Watched::Deal,
            TimeState::TicketSlaAtRisk => Watched::Ticket,
        }
    }

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            TimeState::CustomerAtRisk => "CUSTOMER_AT_RISK",
            TimeState::LeadHot => "LEAD_HOT",
            TimeState::DealRotting => "DEAL_ROTTING",
            TimeState::TicketSlaAtRisk => "TICKET_SLA_AT_RISK",
        }
    }
}

/// What fires a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// A committed change.
    Change {
        /// Of this kind of entity.
        entity: Watched,
        /// Only these operations (empty: any).
        operations: Vec<Operation>,
        /// Only when one of these fields changed (empty: any change).
        fields: Vec<String>,
        /// Only when the entity's new state matches (the entity's filter language; empty:
        /// always). Not read for deletes.
        filter: String,
    },
    /// An entity reaches a state.
    State(TimeState),
}

impl Trigger {
    /// The kind of entity the rule acts on.
    pub fn watched(&self) -> Watched {
        match self {
            Trigger::Change { entity, .. } => *entity,
            Trigger::State(s) => s.watched(),
        }
    }
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Creates a task linked to the entity.
    CreateTask {
        /// Its title.
        title: String,
        /// Due this many minutes after the rule fires.
        due_in_minutes: u32,
        /// Its owner; none: the entity's owner (a customer's or deal's owner, a ticket's
        /// assignee, a task's owner).
        owner: Option<String>,
    },
    /// Adds a tag (to the customer; to a ticket's own tags on a ticket).
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Sets a field of the entity ([`Watched::settable`]).
    SetField {
        /// The field.
        field: String,
        /// Its new value (empty: clears it).
        value: String,
    },
    /// Moves a customer's lifecycle stage (forward only) or a deal's stage.
    MoveStage {
        /// A lifecycle stage's name, or a deal stage's key.
        stage: String,
    },
    /// Adds loyalty points to the entity's customer.
    AddPoints {
        /// How many (1 to [`MAX_RULE_POINTS`]).
        points: i64,
        /// Why (the ledger shows it).
        reason: String,
    },
    /// Publishes a named event about the entity on the change feed.
    Publish {
        /// The event's name (`deal.big_won`).
        name: String,
    },
}

impl Action {
    /// Checks an action for a rule that acts on `on`, normalizing it.
    pub fn check(&mut self, on: Watched, v: &mut Violations, at: &str) {
        let field = |f: &str| format!("{at}.{f}");
        match self {
            Action::CreateTask {
                title,
                due_in_minutes,
                owner,
            } => {
                check_text(v, &field("title"), title, MAX_NAME_CHARS);
                if title.is_empty() {
                    v.add(field("title"), "is required");
                }
                if *due_in_minutes > MAX_DUE_MINUTES {
                    v.add(
                        field("due_in_minutes"),
                        format!("at most {MAX_DUE_MINUTES} (a year)"),
                    );
                }
                if let Some(o) = owner {
                    check_text(v, &field("owner"), o, MAX_ID_CHARS);
                    if o.is_empty() {
                        *owner = None;
                    }
                }
            }
            Action::AddTag { tag } => {
                match crate::normalize::normalize_tag(tag) {
                    Ok(t) => *tag = t,
                    Err(why) => v.add(field("tag"), why),
                }
                if matches!(on, Watched::Task) {
                    v.add(at, "a task has no tags; add_tag acts on customers, deals (their customer) and tickets");
                }
            }
            Action::SetField { field: f, value } => {
                *f = f.trim().to_owned();
                let settable = on.settable();
                let ok = settable.contains(&f.as_str())
                    || (settable.contains(&"attributes.*")
                        && f.strip_prefix("attributes.")
                            .is_some_and(crate::validate::is_attribute_key));
                if !ok {
                    v.add(
                        field("field"),
                        format!(
                            "{:?} is not a field a rule can set on a {}; one of: {}",
                            f.chars().take(70).collect::<String>(),
                            on.name().to_ascii_lowercase(),
                            settable.join(", ")
                        ),
                    );
                }
                check_text(v, &field("value"), value, 1_024);
                if f == "priority" && crate::support::Priority::parse(value).is_none() {
                    v.add(field("value"), "expected LOW, NORMAL, HIGH or URGENT");
                }
            }
            Action::MoveStage { stage } => match on {
                Watched::Customer => match LifecycleStage::parse(stage) {
                    Some(s) => *stage = s.name().to_owned(),
                    None => v.add(field("stage"), "expected a lifecycle stage, like PURCHASE"),
                },
                Watched::Deal => {
                    *stage = stage.trim().to_ascii_lowercase();
                    if let Err(why) = crate::deals::pipeline::check_key(stage) {
                        v.add(field("stage"), why);
                    }
                }
                _ => v.add(at, "move_stage acts on customers and deals"),
            },
            Action::AddPoints { points, reason } => {
                if !(1..=MAX_RULE_POINTS).contains(points) {
                    v.add(
                        field("points"),
                        format!("must be within 1 and {MAX_RULE_POINTS}"),
                    );
                }
                check_text(v, &field("reason"), reason, 200);
                if reason.is_empty() {
                    v.add(field("reason"), "is required: the ledger shows it");
                }
                if matches!(on, Watched::Task) {
                    v.add(
                        at,
                        "add_points needs a customer: customers, deals and tickets",
                    );
                }
            }
            Action::Publish { name } => {
                *name = name.trim().to_owned();
                if name.is_empty()
                    || name.len() > 64
                    || !name.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                {
                    v.add(
                        field("name"),
                        "an event name is 1 to 64 of a-z, 0-9, '.', '_' and '-', like \"deal.big_won\"",
                    );
                }
            }
        }
    }
}

/// What a caller sets on a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleData {
    /// Its name.
    pub name: String,
    /// Whether it fires. A rule switched on fires for what is committed from then on.
    pub enabled: bool,
    /// What fires it.
    pub trigger: Trigger,
    /// What it does, in order.
    pub actions: Vec<Action>,
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its identity.
    pub id: RuleId,
    /// What the caller set.
    pub data: RuleData,
    /// Starts at 1, grows with every change: the etag.
    pub version: u64,
    /// The change-log position from which it fires (the log's end when it was last
    /// switched on): it never fires for what was committed while it was off.
    pub armed_after: u64,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: chrono::DateTime<chrono::Utc>,
}

/// Checks a rule's shape (its filter is parsed by the store, which knows each entity's filter
/// language).
pub fn validate_rule(r: &mut RuleData) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "name", &mut r.name, MAX_NAME_CHARS);
    if r.name.is_empty() {
        v.add("name", "is required");
    }
    if let Trigger::Change {
        operations, fields, ..
    } = &mut r.trigger
    {
        operations.sort();
        operations.dedup();
        for (i, f) in fields.iter_mut().enumerate() {
            *f = f.trim().to_owned();
            if f.is_empty() || f.len() > 128 {
                v.add(
                    format!("trigger.fields[{i}]"),
                    "a field name, like \"owner\"",
                );
            }
        }
        fields.sort();
        fields.dedup();
    }
    if r.actions.is_empty() || r.actions.len() > MAX_ACTIONS {
        v.add(
            "actions",
            format!(
                "a rule has 1 to {MAX_ACTIONS} actions, got {}",
                r.actions.len()
            ),
        );
    }
    let on = r.trigger.watched();
    for (i, a) in r.actions.iter_mut().enumerate() {
        a.check(on, &mut v, &format!("actions[{i}]"));
    }
    v.into_result(())
}

/// Why a rule fired: the rule and how deep in a chain of rules' writes it is. Stored with
/// every change-log event a rule's action writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The rule whose action wrote.
    pub rule: RuleId,
    /// 1 for a rule fired by a person's or a system's write; one more for each rule in
    /// between.
    pub depth: u8,
}

/// How deep a chain of rules goes: an event written at this depth fires no rule.
pub const MAX_RULE_DEPTH: u8 = 3;

/// Whether an event with `cause` may fire `rule`: never the rule that wrote it (a rule does not
/// retrigger itself), and nothing past [`MAX_RULE_DEPTH`].
pub fn may_fire(rule: RuleId, cause: Option<Cause>) -> bool {
    match cause {
        None => true,
        Some(c) => c.rule != rule && c.depth < MAX_RULE_DEPTH,
    }
}
