//! A sales team sells fleet contracts through a three-stage pipeline. Deals move, rot when they
//! sit too long in a stage, are won (once as a purchase, if asked) or lost; the quarter's
//! forecast follows, and last month's forecast, asked again later, still gives last month's
//! figures. The property test lets deals move while days pass and checks that the rotting
//! index agrees with every deal's own clock at every step; the same for overdue tasks.

#![allow(clippy::panic)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crm_core::deals::{
    Deal, DealData, DealStatus, ForecastCategory, ForecastQuery, PipelineData, PipelineId,
    Probability, Stage,
};
use crm_core::tasks::{TaskData, TaskStatus};
use crm_core::{CustomerData, CustomerId, Money};
use crm_store::deals::DealQuery;
use crm_store::tasks::TaskQuery;
use crm_store::{Durability, ManualClock, Precondition, Store, StoreConfig, StoreError};
use proptest::prelude::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("date"))
}

struct Team {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
    pipeline: PipelineId,
    acme: CustomerId,
}

fn stages() -> PipelineData {
    let stage = |key: &str, p: f64, category, rotting_days| Stage {
        key: key.into(),
        name: String::new(),
        probability: Probability::from_fraction(p).unwrap_or_else(|| panic!("{p}")),
        category,
        rotting_days,
    };
    PipelineData {
        name: "Fleet".into(),
        stages: vec![
            stage("qualified", 0.2, ForecastCategory::Pipeline, 10),
            stage("proposal", 0.5, ForecastCategory::BestCase, 20),
            stage("negotiation", 0.8, ForecastCategory::Commit, 0),
        ],
    }
}

fn team(now: &str) -> Team {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at(now));
    let config = StoreConfig::new(dir.path())
        .durability(Durability::Relaxed)
        .clock(clock.clone());
    let store = support::open(config);
    let pipeline = store
        .deals()
        .create_pipeline(stages(), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    let acme = store
        .customers()
        .create(CustomerData::person("Acme buyer"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    Team {
        _dir: dir,
        store,
        clock,
        pipeline,
        acme,
    }
}

impl Team {
    fn deal(&self, name: &str, amount: i64, close: NaiveDate) -> Deal {
        self.store
            .deals()
            .create_deal(
                DealData {
                    customer_id: self.acme,
                    contacts: vec![],
                    name: name.into(),
                    amount: Money::new("TRY", amount),
                    close_date: close,
                    owner: Some("ayse".into()),
                    pipeline_id: self.pipeline,
                    stage: String::new(),
                    probability: None,
                    line_items: vec![],
                },
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn listed(&self, filter: &str) -> Vec<crm_core::deals::DealId> {
        let mut ids = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .store
                .deals()
                .list_deals(&DealQuery {
                    filter: filter.into(),
                    page_size: 3,
                    page_token: token,
                })
                .unwrap_or_else(|e| panic!("{filter}: {e}"));
            ids.extend(page.deals.iter().map(|d| d.id));
            if page.next_page_token.is_empty() {
                ids.sort();
                return ids;
            }
            token = page.next_page_token;
        }
    }

    fn forecast(&self, as_of: DateTime<Utc>) -> crm_core::deals::Forecast {
        self.store
            .deals()
            .forecast(&ForecastQuery {
                start: date(2027, 1, 1),
                end: date(2027, 4, 1),
                owner: None,
                pipeline: None,
                as_of,
            })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn clean(&self) {
        let report = self.store.verify().unwrap_or_else(|e| panic!("{e}"));
        assert!(report.is_clean(), "{report:?}");
    }
}

fn figures(f: &crm_core::deals::Forecast, c: ForecastCategory) -> (u64, i64, i64) {
    f.totals
        .iter()
        .find(|t| t.category == Some(c))
        .map_or((0, 0, 0), |t| (t.count, t.total_minor, t.weighted_minor))
}

#[test]
fn a_deal_moved_through_stages_shows_in_the_forecast_and_last_months_forecast_stays_put() {
    let t = team("2026-11-02T09:00:00Z");
    let fleet = t.deal("Fleet renewal", 1_000_000, date(2027, 2, 15));
    let vans = t.deal("Vans", 400_000, date(2027, 3, 1));
    let end_of_november = at("2026-11-30T18:00:00Z");

    t.clock.set(at("2026-11-20T09:00:00Z"));
    t.store
        .deals()
        .move_deal(fleet.id, "proposal", None)
        .unwrap_or_else(|e| panic!("{e}"));
    t.clock.set(at("2026-12-01T09:00:00Z"));
    let november = t.forecast(end_of_november);
    assert_eq!(
        figures(&november, ForecastCategory::BestCase),
        (1, 1_000_000, 500_000)
    );
    assert_eq!(
        figures(&november, ForecastCategory::Pipeline),
        (1, 400_000, 80_000)
    );

    t.clock.set(at("2026-12-10T09:00:00Z"));
    t.store
        .deals()
        .move_deal(fleet.id, "negotiation", None)
        .unwrap_or_else(|e| panic!("{e}"));
    t.clock.set(at("2026-12-11T09:00:00Z"));
    let amount = DealData {
        amount: Money::new("TRY", 450_000),
        ..vans.data.clone()
    };
    t.store
        .deals()
        .update_deal(vans.id, amount, &["amount".into()], None)
        .unwrap_or_else(|e| panic!("{e}"));
    t.clock.set(at("2026-12-12T09:00:00Z"));
    let won = t
        .store
        .deals()
        .close_deal(vans.id, true, "signed", true, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(won.status, DealStatus::Won);

    let now = t.forecast(t.store.now());
    assert_eq!(
        figures(&now, ForecastCategory::Commit),
        (1, 1_000_000, 800_000)
    );
    assert_eq!(
        figures(&now, ForecastCategory::Closed),
        (1, 450_000, 450_000)
    );
    assert_eq!(
        t.forecast(end_of_november),
        november,
        "last month's forecast, asked again, gives last month's figures"
    );
    // The won deal is a purchase on the customer's timeline, once.
    let summary = t
        .store
        .timeline()
        .summary(t.acme)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.purchase_count, 1);
    assert!(matches!(
        t.store
            .deals()
            .close_deal(vans.id, true, "again", true, None),
        Err(StoreError::FailedPrecondition(Precondition::NotNow {
            reason: "DEAL_CLOSED",
            ..
        }))
    ));
    t.clean();
}

#[test]
fn bad_deals_and_pipelines_get_their_error_and_change_nothing() {
    let t = team("2026-11-02T09:00:00Z");
    let d = t.deal("Fleet", 100_000, date(2027, 1, 10));
    let invalid = |r: Result<Deal, StoreError>, field: &str| match r {
        Err(StoreError::Invalid(v)) => {
            assert!(v.0.iter().any(|x| x.field == field), "{field}: {v:?}")
        }
        other => panic!("{field}: {other:?}"),
    };
    invalid(t.store.deals().move_deal(d.id, "signed", None), "stage");
    let mut bad = d.data.clone();
    bad.probability = Some(Probability(12_000));
    invalid(
        t.store.deals().create_deal(bad.clone(), None),
        "deal.probability",
    );
    invalid(
        t.store
            .deals()
            .update_deal(d.id, bad, &["probability".into()], None),
        "deal.probability",
    );
    let mut elsewhere = d.data.clone();
    elsewhere.stage = "closing".into();
    invalid(t.store.deals().create_deal(elsewhere, None), "deal.stage");
    let mut pipeline = stages();
    pipeline.stages.remove(0);
    assert!(matches!(
        t.store.deals().update_pipeline(t.pipeline, pipeline, None),
        Err(StoreError::FailedPrecondition(Precondition::NotNow {
            reason: "PIPELINE_IN_USE",
            ..
        }))
    ));
    assert!(matches!(
        t.store.deals().move_deal(d.id, "proposal", Some("v9")),
        Err(StoreError::Aborted { .. })
    ));
    assert_eq!(t.store.deals().get_deal(d.id).ok(), Some(d));
    assert_eq!(t.listed("").len(), 1);
    t.clean();
}

#[test]
fn a_pipeline_change_moves_its_deals_rotting_instants_at_once() {
    let t = team("2026-11-02T09:00:00Z");
    let d = t.deal("Fleet", 100_000, date(2027, 1, 10));
    t.clock.advance(Duration::days(11));
    assert_eq!(t.listed("rotting = true"), vec![d.id]);
    let mut longer = stages();
    longer.stages[0].rotting_days = 30;
    t.store
        .deals()
        .update_pipeline(t.pipeline, longer, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(t.listed("rotting = true").is_empty());
    t.clock.advance(Duration::days(20));
    assert_eq!(t.listed("rotting = true"), vec![d.id]);
    t.clean();
}

#[test]
fn my_tasks_due_today_or_overdue_are_one_range_exact_as_time_passes() {
    let t = team("2026-11-02T09:00:00Z");
    let task = |title: &str, owner: &str, due: &str| {
        t.store
            .tasks()
            .create_task(
                TaskData {
                    title: title.into(),
                    notes: String::new(),
                    due_time: at(due),
                    owner: owner.into(),
                    link: Some(crm_core::tasks::TaskLink::Customer(t.acme)),
                },
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let call = task("Call back", "ayse", "2026-11-02T11:00:00Z");
    let quote = task("Send the quote", "ayse", "2026-11-02T17:00:00Z");
    let _tomorrow = task("Visit", "ayse", "2026-11-03T10:00:00Z");
    let other = task("Call", "mehmet", "2026-11-02T10:00:00Z");
    let today = TaskQuery {
        owner: Some("ayse".into()),
        due_before: Some(at("2026-11-03T00:00:00Z")),
        ..TaskQuery::default()
    };
    let ids = |q: &TaskQuery| -> Vec<_> {
        t.store
            .tasks()
            .list_tasks(q)
            .unwrap_or_else(|e| panic!("{e}"))
            .tasks
            .iter()
            .map(|x| x.id)
            .collect()
    };
    assert_eq!(ids(&today), vec![call.id, quote.id]);
    let overdue = TaskQuery {
        overdue: true,
        ..TaskQuery::default()
    };
    assert!(ids(&overdue).is_empty());
    t.clock.set(at("2026-11-02T11:00:00Z"));
    assert_eq!(
        ids(&overdue),
        vec![other.id],
        "due at 11:00 is not overdue at 11:00"
    );
    t.clock.set(at("2026-11-02T11:00:00.000001Z"));
    assert_eq!(ids(&overdue), vec![other.id, call.id]);
    t.store
        .tasks()
        .set_status(call.id, TaskStatus::Done, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&overdue), vec![other.id]);
    assert_eq!(ids(&today), vec![quote.id]);
    assert!(matches!(
        t.store
            .tasks()
            .set_status(call.id, TaskStatus::Cancelled, None),
        Err(StoreError::FailedPrecondition(Precondition::NotNow {
            reason: "TASK_CLOSED",
            ..
        }))
    ));
    // Deleting the customer takes its deals' and its own tasks with it.
    t.store
        .customers()
        .delete(t.acme, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ids(&TaskQuery::default()),
        vec![],
        "every task was about the customer"
    );
    assert!(t.listed("").is_empty());
    t.clean();
}

#[derive(Clone, Debug)]
enum Step {
    Open,
    Move(usize, u8),
    Close(usize, bool),
    Reopen(usize, u8),
    Wait(u16),
    Threshold(u8, u32),
    Task(u16),
    Finish(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Open),
        (0usize..40, 0u8..3).prop_map(|(i, s)| Step::Move(i, s)),
        (0usize..40, any::<bool>()).prop_map(|(i, w)| Step::Close(i, w)),
        (0usize..40, 0u8..3).prop_map(|(i, s)| Step::Reopen(i, s)),
        (1u16..600).prop_map(Step::Wait),
        (0u8..2, 0u32..15).prop_map(|(s, d)| Step::Threshold(s, d)),
        (0u16..3000).prop_map(Step::Task),
        (0usize..40).prop_map(Step::Finish),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::support::cases(24), ..ProptestConfig::default() })]

    /// At every step, `rotting = true` (read from the schedule) is exactly the deals whose
    /// own clock says they rot, and the overdue tasks (read from the due index) exactly the
    /// open tasks past due.
    #[test]
    fn the_rotting_and_overdue_indexes_agree_with_every_record_at_every_instant(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        let t = team("2026-11-02T09:00:00Z");
        let keys = ["qualified", "proposal", "negotiation"];
        let mut deals = Vec::new();
        let mut tasks = Vec::new();
        let mut pipeline = stages();
        for s in steps {
            match s {
                Step::Open => deals.push(t.deal("d", 1_000, date(2027, 1, 1)).id),
                Step::Move(i, s) if !deals.is_empty() => {
                    let _ = t.store.deals().move_deal(deals[i % deals.len()], keys[usize::from(s)], None);
                }
                Step::Close(i, won) if !deals.is_empty() => {
                    let _ = t.store.deals().close_deal(deals[i % deals.len()], won, "why", false, None);
                }
                Step::Reopen(i, s) if !deals.is_empty() => {
                    let _ = t.store.deals().reopen_deal(deals[i % deals.len()], keys[usize::from(s)], None);
                }
                Step::Wait(hours) => t.clock.advance(Duration::hours(i64::from(hours))),
                Step::Threshold(s, days) => {
                    pipeline.stages[usize::from(s)].rotting_days = days;
                    t.store.deals().update_pipeline(t.pipeline, pipeline.clone(), None)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                Step::Task(minutes) => {
                    let due = t.store.now() + Duration::minutes(i64::from(minutes)) - Duration::hours(10);
                    let data = TaskData { title: "t".into(), notes: String::new(), due_time: due, owner: "ayse".into(), link: None };
                    tasks.push(t.store.tasks().create_task(data, None).unwrap_or_else(|e| panic!("{e}")).id);
                }
                Step::Finish(i) if !tasks.is_empty() => {
                    let _ = t.store.tasks().set_status(tasks[i % tasks.len()], TaskStatus::Done, None);
                }
                _ => {}
            }
            let now = t.store.now();
            let mut rotting: Vec<_> = deals.iter().copied().filter(|id| {
                let d = t.store.deals().get_deal(*id).unwrap_or_else(|e| panic!("{e}"));
                let stage = pipeline.stages.iter().find(|s| s.key == d.data.stage).map_or(0, |s| s.rotting_days);
                d.status == DealStatus::Open && stage > 0 && now >= d.stage_entered_at + Duration::days(i64::from(stage))
            }).collect();
            rotting.sort();
            prop_assert_eq!(t.listed("rotting = true"), rotting.clone());
            prop_assert_eq!(t.listed("rotting = false AND status = OPEN").len() + rotting.len(),
                t.listed("status = OPEN").len());
            let mut overdue: Vec<_> = tasks.iter().copied().filter(|id| {
                t.store.tasks().get_task(*id).map(|x| x.overdue(now)).unwrap_or(false)
            }).collect();
            overdue.sort();
            let mut listed: Vec<_> = t.store.tasks().list_tasks(&TaskQuery { overdue: true, page_size: 1000, ..TaskQuery::default() })
                .unwrap_or_else(|e| panic!("{e}")).tasks.iter().map(|x| x.id).collect();
            listed.sort();
            prop_assert_eq!(listed, overdue);
        }
        t.clean();
    }
}

#[test]
fn bad_tasks_get_their_error_and_change_nothing() {
    let t = team("2026-11-02T09:00:00Z");
    let field = |r: Result<crm_core::tasks::Task, StoreError>, name: &str| match r {
        Err(StoreError::Invalid(v)) => {
            assert!(v.0.iter().any(|x| x.field == name), "{name}: {v:?}")
        }
        other => panic!("{name}: {other:?}"),
    };
    let task = |owner: &str, link| TaskData {
        title: "Call".into(),
        notes: String::new(),
        due_time: at("2026-11-03T09:00:00Z"),
        owner: owner.into(),
        link,
    };
    let nowhere = crm_core::tasks::TaskLink::Deal(crm_core::deals::DealId(77));
    field(
        t.store
            .tasks()
            .create_task(task("ayse", Some(nowhere)), None),
        "task.deal_id",
    );
    field(
        t.store.tasks().create_task(task("", None), None),
        "task.owner",
    );
    let mut no_title = task("ayse", None);
    no_title.title = " ".into();
    field(t.store.tasks().create_task(no_title, None), "task.title");
    let page = t
        .store
        .tasks()
        .list_tasks(&TaskQuery::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(page.tasks.is_empty());
    t.clean();
}
