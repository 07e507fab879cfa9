//! A state rule fires when a deal *starts* rotting, whether time or a write made it so, and
//! again only after the deal left the state. The property test moves, closes and reopens random
//! deals while hours pass, runs the worker after every step, and checks each deal's firings
//! against a model that watches the deal's own rotting clock at the same instants.

#![allow(clippy::panic)]

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use crm_core::automation::{Action, RuleData, TimeState, Trigger};
use crm_core::deals::{DealData, DealId, ForecastCategory, PipelineData, Probability, Stage};
use crm_core::{CustomerData, Money};
use crm_store::{Durability, ManualClock, StoreConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Open,
    Move(usize, usize),
    Close(usize),
    Reopen(usize, usize),
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Open),
        (0usize..20, 0usize..3).prop_map(|(i, s)| Step::Move(i, s)),
        (0usize..20).prop_map(Step::Close),
        (0usize..20, 0usize..3).prop_map(|(i, s)| Step::Reopen(i, s)),
        (1u16..200).prop_map(Step::Wait),
    ]
}

const STAGES: [&str; 3] = ["lead", "demo", "contract"];

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::support::cases(16), ..ProptestConfig::default() })]

    #[test]
    fn a_rotting_rule_fires_once_per_entry_into_the_state(steps in proptest::collection::vec(step(), 1..50)) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let start: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap_or_default();
        let clock = ManualClock::new(start);
        let store = support::open(
            StoreConfig::new(dir.path())
                .durability(Durability::Relaxed)
                .clock(clock.clone())
                .rule_coalesce_window(Duration::zero()),
        );
        let stage = |key: &str, days| Stage {
            key: key.into(),
            name: String::new(),
            probability: Probability(5_000),
            category: ForecastCategory::Pipeline,
            rotting_days: days,
        };
        let pipeline = store
            .deals()
            .create_pipeline(
                PipelineData {
                    name: "p".into(),
                    stages: vec![stage(STAGES[0], 2), stage(STAGES[1], 0), stage(STAGES[2], 5)],
                },
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let buyer = store
            .customers()
            .create(CustomerData::person("Buyer"), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .id;
        let rule = store
            .automation()
            .create_rule(
                RuleData {
                    name: "rotting".into(),
                    enabled: true,
                    trigger: Trigger::State(TimeState::DealRotting),
                    actions: vec![Action::Publish { name: "deal.rotting".into() }],
                },
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let mut deals: Vec<DealId> = Vec::new();
        let mut was_rotting: BTreeMap<DealId, bool> = BTreeMap::new();
        let mut expected: BTreeMap<DealId, usize> = BTreeMap::new();
        for s in steps {
            let pick = |i: usize| deals.get(i % deals.len().max(1)).copied();
            match s {
                Step::Open => {
                    let d = store.deals().create_deal(
                        DealData {
                            customer_id: buyer,
                            contacts: vec![],
                            name: "d".into(),
                            amount: Money::new("TRY", 1_000),
                            close_date: start.date_naive(),
                            owner: None,
                            pipeline_id: pipeline.id,
                            stage: String::new(),
                            probability: None,
                            line_items: vec![],
                        },
                        None,
                    ).unwrap_or_else(|e| panic!("{e}"));
                    deals.push(d.id);
                }
                Step::Move(i, s) => if let Some(id) = pick(i) {
                    let _ = store.deals().move_deal(id, STAGES[s], None);
                },
                Step::Close(i) => if let Some(id) = pick(i) {
                    let _ = store.deals().close_deal(id, false, "gone", false, None);
                },
                Step::Reopen(i, s) => if let Some(id) = pick(i) {
                    let _ = store.deals().reopen_deal(id, STAGES[s], None);
                },
                Step::Wait(hours) => clock.advance(Duration::hours(i64::from(hours))),
            }
            store.automation().run_once().unwrap_or_else(|e| panic!("{e}"));
            // The model: the deal's own clock at this pass's instant.
            let now = store.now();
            for id in &deals {
                let rotting = store.deals().get_deal(*id).map(|d| d.rotting(now)).unwrap_or(false);
                let before = was_rotting.insert(*id, rotting).unwrap_or(false);
                if rotting && !before {
                    *expected.entry(*id).or_default() += 1;
                }
            }
        }
        let mut fired: BTreeMap<DealId, usize> = BTreeMap::new();
        let (mut token, mut all) = (String::new(), Vec::new());
        loop {
            let (page, next) = store.automation().firings_page(rule.id, 1000, &token).unwrap_or_else(|e| panic!("{e}"));
            all.extend(page);
            if next.is_empty() { break; }
            token = next;
        }
        for f in all {
            *fired.entry(DealId(f.entity.id)).or_default() += 1;
        }
        prop_assert_eq!(fired, expected);
        let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
        prop_assert!(report.is_clean(), "{:?}", report);
    }
}
