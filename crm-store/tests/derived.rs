//! Relationship status and lead temperature change as time passes, with no write at all. The
//! store serves `relationship_status = X` and `lead_temperature = X` from an index it brings up
//! to date before each query. This test lets months go by between random purchases, contacts,
//! losses, deletions, model changes and even a clock set back, and checks after every step
//! that the index-served listing, a full scan, and each customer's own insight agree.

#![allow(clippy::panic)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use crm_core::timeline::{Interaction, InteractionKind, Purchase};
use crm_core::{
    CustomerData, CustomerId, Filter, Money, OrderBy, RelationshipStatus, ScoringModel,
    Temperature, UpdateMask,
};
use crm_store::{Durability, EntryMeta, ListQuery, ManualClock, Store, StoreConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Create,
    /// A purchase by the n-th customer, `back` days before now.
    Buy {
        who: u8,
        back: u8,
    },
    /// An inbound demo request or meeting by the n-th customer.
    Contact {
        who: u8,
        meeting: bool,
    },
    Lose {
        who: u8,
    },
    Delete {
        who: u8,
    },
    /// The n-th customer's source becomes `referral` (a fit rule of the default model) or not.
    Source {
        who: u8,
        referral: bool,
    },
    /// Days pass.
    Wait {
        days: u16,
    },
    /// The clock is set back (a test clock, or a host whose clock was wrong).
    Rewind {
        days: u8,
    },
    /// A new scoring model with other thresholds.
    Model {
        warm: u8,
    },
    /// The store is closed and opened again.
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Create),
        4 => (any::<u8>(), 0u8..40).prop_map(|(who, back)| Step::Buy { who, back }),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(who, meeting)| Step::Contact { who, meeting }),
        1 => any::<u8>().prop_map(|who| Step::Lose { who }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(who, referral)| Step::Source { who, referral }),
        1 => any::<u8>().prop_map(|who| Step::Delete { who }),
        4 => (1u16..200).prop_map(|days| Step::Wait { days }),
        1 => (1u8..30).prop_map(|days| Step::Rewind { days }),
        1 => (5u8..60).prop_map(|warm| Step::Model { warm }),
        1 => Just(Step::Reopen),
    ]
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_else(|| panic!("start"))
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
    let config = StoreConfig::new(dir)
        .durability(Durability::Relaxed)
        .clock(clock.clone());
    support::open(config)
}

/// Every status and temperature filter: served by the index, by a scan, and by asking each
/// customer, the same customers in the same order.
fn check(store: &Store, ids: &[CustomerId]) -> Result<(), TestCaseError> {
    let filters = RelationshipStatus::ALL
        .iter()
        .map(|s| format!("relationship_status = {}", s.name()))
        .chain(
            Temperature::ALL
                .iter()
                .map(|t| format!("lead_temperature = {}", t.name())),
        );
    let insights: Vec<_> = ids
        .iter()
        .map(|id| {
            let c = store.customers().get(*id).unwrap_or_else(|e| panic!("{e}"));
            (
                c.id,
                store
                    .insights()
                    .insight(&c)
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    let counts = store.customers().counts().unwrap_or_else(|e| panic!("{e}"));
    for text in filters {
        let filter = Filter::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let indexed = support::walk(store, &filter, OrderBy::default(), 3);
        let scanned = support::walk(
            store,
            &Filter::Or(vec![filter.clone()]),
            OrderBy::default(),
            3,
        );
        prop_assert_eq!(&indexed, &scanned, "{}", text);
        let asked: Vec<CustomerId> = insights
            .iter()
            .filter(|(_, i)| {
                RelationshipStatus::ALL
                    .iter()
                    .any(|s| text.ends_with(s.name()) && text.starts_with("rel") && i.status == *s)
                    || Temperature::ALL.iter().any(|t| {
                        text.ends_with(t.name())
                            && text.starts_with("lead")
                            && i.lead.temperature == *t
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        prop_assert_eq!(&indexed, &asked, "{}", text);
        // Listed with their insights: each comes with the very value it was selected by.
        let (page, insights) = store
            .customers()
            .list_with_insights(&ListQuery {
                filter: filter.clone(),
                page_size: 1000,
                ..ListQuery::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(page.customers.len(), insights.len());
        prop_assert!(
            insights.iter().all(
                |i| text.ends_with(i.status.name()) && text.starts_with("rel")
                    || text.ends_with(i.lead.temperature.name()) && text.starts_with("lead")
            ),
            "{}",
            text
        );
        // And the counts read off the index say as much.
        let counted = RelationshipStatus::ALL
            .iter()
            .filter(|s| text == format!("relationship_status = {}", s.name()))
            .map(|s| counts.by_status.get(s))
            .chain(
                Temperature::ALL
                    .iter()
                    .filter(|t| text == format!("lead_temperature = {}", t.name()))
                    .map(|t| counts.by_temperature.get(t)),
            )
            .map(|n| n.copied().unwrap_or(0))
            .sum::<u64>();
        prop_assert_eq!(counted, indexed.len() as u64, "{}", text);
    }
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    prop_assert!(report.is_clean(), "{:?}", report.problems);
    Ok(())
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(start());
    let mut store = open(dir.path(), &clock);
    let mut ids: Vec<CustomerId> = Vec::new();
    let mut orders = 0;
    let pick = |ids: &[CustomerId], who: u8| ids.get(usize::from(who) % ids.len().max(1)).copied();
    for step in steps {
        match step {
            Step::Create => {
                let data = CustomerData::person(format!("P{}", ids.len()));
                let c = store.customers().create(data, None);
                ids.push(c.unwrap_or_else(|e| panic!("{e}")).id);
            }
            Step::Buy { who, back } => {
                let Some(id) = pick(&ids, who) else { continue };
                orders += 1;
                let purchase = Purchase {
                    order_ref: format!("o{orders}"),
                    amount: Money::new("EUR", 1000),
                    line_items: vec![],
                };
                let meta = EntryMeta {
                    occurred_at: Some(
                        crm_store::Clock::now(&*clock) - Duration::days(i64::from(back)),
                    ),
                    ..EntryMeta::default()
                };
                // A purchase before the customer existed is refused; that is fine here.
                let _ = store.timeline().record_purchase(id, purchase, meta);
            }
            Step::Contact { who, meeting } => {
                let Some(id) = pick(&ids, who) else { continue };
                let kind = if meeting {
                    InteractionKind::Meeting
                } else {
                    InteractionKind::DemoRequest
                };
                let contact = Interaction::inbound(kind, "hello", "web");
                store
                    .timeline()
                    .record_interaction(id, contact, EntryMeta::default())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Step::Lose { who } => {
                let Some(id) = pick(&ids, who) else { continue };
                store
                    .timeline()
                    .mark_lost(id, "went elsewhere", EntryMeta::default())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Step::Source { who, referral } => {
                let Some(id) = pick(&ids, who) else { continue };
                let mut patch = store
                    .customers()
                    .get(id)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .data;
                patch.source = referral.then(|| "referral".to_string());
                let mask = UpdateMask::parse(&["source"]).unwrap_or_else(|e| panic!("{e}"));
                store
                    .customers()
                    .update(id, &patch, &mask, None)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Step::Delete { who } => {
                let Some(id) = pick(&ids, who) else { continue };
                store
                    .customers()
                    .delete(id, None)
                    .unwrap_or_else(|e| panic!("{e}"));
                ids.retain(|x| *x != id);
            }
            Step::Wait { days } => clock.advance(Duration::days(i64::from(days))),
            Step::Rewind { days } => clock.advance(Duration::days(-i64::from(days))),
            Step::Model { warm } => {
                let model = ScoringModel {
                    warm_threshold: warm,
                    hot_threshold: warm + 30,
                    ..ScoringModel::default()
                };
                store
                    .insights()
                    .replace_scoring_model(model, None)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Step::Reopen => {
                drop(store);
                store = open(dir.path(), &clock);
            }
        }
        check(&store, &ids)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::support::cases(48), ..ProptestConfig::default() })]

    #[test]
    fn status_and_temperature_filters_agree_with_every_customer(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        run(steps)?;
    }
}
