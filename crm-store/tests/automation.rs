//! A sales team automates its follow-ups. A lead that turns HOT gets its owner a task; every
//! new customer, however it arrived (one call, a batch, an import), fires the welcome rule once;
//! a burst of edits fires once; a rule that tags what its own filter matches does not loop; a
//! dry run says how often a rule would have fired before it is switched on.

#![allow(clippy::panic)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use crm_core::automation::{Action, Operation, RuleData, TimeState, Trigger, Watched};
use crm_core::tasks::{TaskLink, TaskSource};
use crm_core::timeline::{Interaction, InteractionKind};
use crm_core::{CustomerData, CustomerId, Organization, Party};
use crm_store::tasks::TaskQuery;
use crm_store::{Durability, EntryMeta, ManualClock, Store, StoreConfig, StoreError};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn open() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-11-02T09:00:00Z"));
    let config = StoreConfig::new(dir.path())
        .durability(Durability::Relaxed)
        .clock(clock.clone());
    (dir, support::open(config), clock)
}

fn task(title: &str) -> Action {
    Action::CreateTask {
        title: title.into(),
        due_in_minutes: 60,
        owner: None,
    }
}

fn on_change(
    entity: Watched,
    operations: Vec<Operation>,
    filter: &str,
    actions: Vec<Action>,
) -> RuleData {
    RuleData {
        name: "rule".into(),
        enabled: true,
        trigger: Trigger::Change {
            entity,
            operations,
            fields: vec![],
            filter: filter.into(),
        },
        actions,
    }
}

/// Runs the worker as the server does, the clock moving past the coalescing window, until it
/// has nothing left.
fn drain(store: &Store, clock: &ManualClock) -> u64 {
    let mut fired = 0;
    for _ in 0..100 {
        clock.advance(Duration::seconds(2));
        let pass = store
            .automation()
            .run_once()
            .unwrap_or_else(|e| panic!("{e}"));
        fired += pass.fired;
        if pass.events == 0 && !pass.waiting && pass.fired == 0 {
            return fired;
        }
    }
    panic!("the worker never caught up");
}

fn tasks(store: &Store) -> Vec<crm_core::tasks::Task> {
    store
        .tasks()
        .list_tasks(&TaskQuery {
            page_size: 1000,
            ..TaskQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .tasks
}

fn clean(store: &Store) {
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{report:?}");
}

fn lead(store: &Store, owner: &str) -> CustomerId {
    let mut data = CustomerData::new(Party::Organization(Organization {
        legal_name: "Acme".into(),
        employee_count: Some(120),
        ..Organization::default()
    }));
    data.owner = Some(owner.into());
    store
        .customers()
        .create(data, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .id
}

#[test]
fn a_lead_that_turns_hot_gets_its_owner_a_task() {
    let (_dir, store, clock) = open();
    let acme = lead(&store, "ayse");
    let rule = store
        .automation()
        .create_rule(
            RuleData {
                name: "call hot leads".into(),
                enabled: true,
                trigger: Trigger::State(TimeState::LeadHot),
                actions: vec![task("Call the hot lead")],
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(drain(&store, &clock), 0, "nobody is hot yet");
    for kind in [
        InteractionKind::WebVisit,
        InteractionKind::DemoRequest,
        InteractionKind::Meeting,
        InteractionKind::Call,
    ] {
        store
            .timeline()
            .record_interaction(
                acme,
                Interaction::inbound(kind, "hi", "web"),
                EntryMeta::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // One pass of the worker (it runs every 250 ms, and at once after a commit) is enough.
    let pass = store
        .automation()
        .run_once()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pass.fired, 1);
    let made = tasks(&store);
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].data.owner, "ayse");
    assert_eq!(made[0].data.link, Some(TaskLink::Customer(acme)));
    assert!(matches!(made[0].source, TaskSource::Rule { rule: r, .. } if r == rule.id));
    assert_eq!(
        drain(&store, &clock),
        0,
        "still hot: it does not fire again"
    );
    // Two months later the lead has cooled; warmed up again, it fires again.
    clock.advance(Duration::days(60));
    assert_eq!(drain(&store, &clock), 0);
    for kind in [
        InteractionKind::DemoRequest,
        InteractionKind::Meeting,
        InteractionKind::Call,
    ] {
        store
            .timeline()
            .record_interaction(
                acme,
                Interaction::inbound(kind, "back", "web"),
                EntryMeta::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(drain(&store, &clock), 1);
    assert_eq!(tasks(&store).len(), 2);
    clean(&store);
}

#[test]
fn every_new_customer_fires_the_welcome_rule_once_however_it_arrived() {
    let (_dir, store, clock) = open();
    let rule = store
        .automation()
        .create_rule(
            on_change(
                Watched::Customer,
                vec![Operation::Created],
                "",
                vec![
                    Action::AddTag {
                        tag: "welcomed".into(),
                    },
                    Action::Publish {
                        name: "customer.welcomed".into(),
                    },
                ],
            ),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let items = (0..1000)
        .map(|i| {
            let mut d = CustomerData::person(format!("Person {i}"));
            d.external_id = Some(format!("ERP-{i}"));
            (d, None)
        })
        .collect();
    let created = store
        .customers()
        .batch_create(items)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.len(), 1000);
    // Edits right after creation coalesce with it: still one firing each.
    assert_eq!(drain(&store, &clock), 1000);
    let firings = store
        .automation()
        .firings(rule.id, 1000)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(firings.len(), 1000);
    let mut entities: Vec<_> = firings.iter().map(|f| f.entity.id).collect();
    entities.sort();
    entities.dedup();
    assert_eq!(entities.len(), 1000, "once each");
    assert!(firings.iter().all(|f| f.outcomes == vec![None, None]));
    // Paged, newest first: the same 1,000.
    let (mut paged, mut token) = (Vec::new(), String::new());
    loop {
        let (page, next) = store
            .automation()
            .firings_page(rule.id, 300, &token)
            .unwrap_or_else(|e| panic!("{e}"));
        paged.extend(page);
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(paged, firings);
    let page = store
        .customers()
        .list(&crm_store::ListQuery {
            filter: crm_core::Filter::parse("tags:\"welcomed\"").unwrap_or_else(|e| panic!("{e}")),
            page_size: 1000,
            ..crm_store::ListQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.customers.len(), 1000);
    // The tags the rule added are changes too, but its own: they fire nothing.
    assert_eq!(drain(&store, &clock), 0);
    clean(&store);
}

#[test]
fn a_burst_of_edits_fires_once_and_a_rule_does_not_retrigger_itself() {
    let (_dir, store, clock) = open();
    let acme = lead(&store, "ayse");
    drain(&store, &clock);
    // The rule tags VIPs and makes a task; its own tag matches its own filter.
    store
        .automation()
        .create_rule(
            on_change(
                Watched::Customer,
                vec![Operation::Updated],
                "tags:\"vip\"",
                vec![
                    Action::AddTag {
                        tag: "vip-seen".into(),
                    },
                    task("Greet the VIP"),
                ],
            ),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    for source in ["a", "b", "c", "d", "e"] {
        let mut c = store
            .customers()
            .get(acme)
            .unwrap_or_else(|e| panic!("{e}"))
            .data;
        c.source = Some(source.into());
        if !c.tags.contains(&"vip".to_string()) {
            c.tags.push("vip".into());
        }
        let mask =
            crm_core::UpdateMask::parse(&["source", "tags"]).unwrap_or_else(|e| panic!("{e:?}"));
        store
            .customers()
            .update(acme, &c, &mask, None)
            .unwrap_or_else(|e| panic!("{e}"));
        clock.advance(Duration::milliseconds(200));
    }
    assert_eq!(
        drain(&store, &clock),
        1,
        "five edits within the window fire once"
    );
    assert_eq!(
        tasks(&store).len(),
        1,
        "and the rule's own tag does not fire it again"
    );
    clean(&store);
}

#[test]
fn a_dry_run_counts_what_a_rule_would_have_done_and_writes_nothing() {
    let (_dir, store, clock) = open();
    for i in 0..5 {
        lead(&store, if i % 2 == 0 { "ayse" } else { "mehmet" });
        clock.advance(Duration::days(3));
    }
    let rule = on_change(
        Watched::Customer,
        vec![Operation::Created],
        "owner = \"ayse\"",
        vec![task("Hi")],
    );
    let week = store
        .automation()
        .dry_run(rule.clone(), 7)
        .unwrap_or_else(|e| panic!("{e}"));
    let month = store
        .automation()
        .dry_run(rule, 30)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((week.fired, month.fired), (1, 3));
    assert!(month.from_history);
    assert!(tasks(&store).is_empty());
    assert!(
        store
            .automation()
            .list_rules()
            .unwrap_or_default()
            .is_empty()
    );
}

#[test]
fn bad_rules_get_their_error_and_change_nothing() {
    let (_dir, store, _clock) = open();
    let field = |r: Result<crm_core::automation::Rule, StoreError>, name: &str| match r {
        Err(StoreError::Invalid(v)) => {
            assert!(v.0.iter().any(|x| x.field == name), "{name}: {v:?}")
        }
        other => panic!("{name}: {other:?}"),
    };
    let a = store.automation();
    field(
        a.create_rule(
            on_change(Watched::Customer, vec![], "owner = ", vec![task("x")]),
            None,
        ),
        "rule.trigger.filter",
    );
    field(
        a.create_rule(
            on_change(
                Watched::Deal,
                vec![],
                "",
                vec![Action::SetField {
                    field: "colour".into(),
                    value: "red".into(),
                }],
            ),
            None,
        ),
        "rule.actions[0].field",
    );
    field(
        a.create_rule(
            on_change(
                Watched::Customer,
                vec![],
                "",
                vec![Action::AddPoints {
                    points: 0,
                    reason: "x".into(),
                }],
            ),
            None,
        ),
        "rule.actions[0].points",
    );
    field(
        a.create_rule(on_change(Watched::Customer, vec![], "", vec![]), None),
        "rule.actions",
    );
    field(
        a.create_rule(
            on_change(Watched::Task, vec![], "status = OPEN", vec![task("x")]),
            None,
        ),
        "rule.trigger.filter",
    );
    assert!(a.list_rules().unwrap_or_default().is_empty());
    clean(&store);
}

#[test]
fn every_action_does_what_it_says_in_the_same_write_as_the_cursor() {
    let (_dir, store, clock) = open();
    store
        .automation()
        .create_rule(
            on_change(
                Watched::Customer,
                vec![Operation::Created],
                "",
                vec![
                    Action::SetField {
                        field: "owner".into(),
                        value: "zeynep".into(),
                    },
                    Action::SetField {
                        field: "attributes.plan".into(),
                        value: "gold".into(),
                    },
                    Action::MoveStage {
                        stage: "CONSIDERATION".into(),
                    },
                    Action::AddPoints {
                        points: 250,
                        reason: "welcome gift".into(),
                    },
                    Action::Publish {
                        name: "customer.onboarded".into(),
                    },
                    task("Onboard"),
                ],
            ),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let id = store
        .customers()
        .create(CustomerData::person("Elif"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    assert_eq!(drain(&store, &clock), 1);
    let c = store.customers().get(id).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.data.owner.as_deref(), Some("zeynep"));
    assert_eq!(
        c.data.attributes.get("plan").map(String::as_str),
        Some("gold")
    );
    assert_eq!(
        c.data.lifecycle_stage,
        crm_core::LifecycleStage::Consideration
    );
    let balance = store
        .loyalty()
        .balance(id, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(balance.balance, 250);
    let made = tasks(&store);
    assert_eq!(made.len(), 1);
    assert_eq!(
        made[0].data.owner, "zeynep",
        "the task goes to the owner the rule just set"
    );
    let feed = store
        .audit()
        .read_feed(&crm_store::FeedQuery::default(), 0, 1000)
        .unwrap_or_else(|e| panic!("{e}"));
    let published: Vec<_> = feed
        .events
        .iter()
        .filter(|e| e.change.kind == crm_store::ChangeKind::Published)
        .collect();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].operation, "customer.onboarded");
    assert_eq!(
        published[0].change.entity,
        crm_store::EntityRef::customer(id)
    );
    assert!(
        feed.events
            .iter()
            .filter(
                |e| e.operation == "RunRule" || e.change.kind == crm_store::ChangeKind::Published
            )
            .all(|e| e.cause.map(|c| c.depth) == Some(1) && e.actor.starts_with("rule:")),
        "every write of the rule names it, at depth 1"
    );
    clean(&store);
}

#[test]
fn a_deal_that_starts_rotting_with_time_alone_fires_once_until_it_moves() {
    let (_dir, store, clock) = open();
    let stage = |key: &str, rotting_days| crm_core::deals::Stage {
        key: key.into(),
        name: String::new(),
        probability: crm_core::deals::Probability(3_000),
        category: crm_core::deals::ForecastCategory::Pipeline,
        rotting_days,
    };
    let pipeline = store
        .deals()
        .create_pipeline(
            crm_core::deals::PipelineData {
                name: "Sales".into(),
                stages: vec![stage("qualified", 7), stage("proposal", 7)],
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let buyer = lead(&store, "ayse");
    let deal = store
        .deals()
        .create_deal(
            crm_core::deals::DealData {
                customer_id: buyer,
                contacts: vec![],
                name: "Fleet".into(),
                amount: crm_core::Money::new("TRY", 100_000),
                close_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default(),
                owner: Some("mehmet".into()),
                pipeline_id: pipeline.id,
                stage: String::new(),
                probability: None,
                line_items: vec![],
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .automation()
        .create_rule(
            RuleData {
                name: "rotting deals".into(),
                enabled: true,
                trigger: Trigger::State(TimeState::DealRotting),
                actions: vec![
                    task("Wake the deal up"),
                    Action::MoveStage {
                        stage: "proposal".into(),
                    },
                ],
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // The deal starts rotting before the worker's first pass since the rule was switched on:
    // it was not in the state when the rule was, so it fires.
    clock.advance(Duration::days(7));
    assert_eq!(drain(&store, &clock), 1, "rotting by time alone: it fires");
    let made = tasks(&store);
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].data.owner, "mehmet");
    assert_eq!(made[0].data.link, Some(TaskLink::Deal(deal.id)));
    let moved = store
        .deals()
        .get_deal(deal.id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        moved.data.stage, "proposal",
        "the rule moved it on, so it no longer rots"
    );
    assert_eq!(drain(&store, &clock), 0);
    clock.advance(Duration::days(7));
    assert_eq!(
        drain(&store, &clock),
        1,
        "rotting again in its new stage: it fires again"
    );
    clean(&store);
}
