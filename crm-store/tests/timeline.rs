//! Timelines through the library: a lead's story from first contact to loyalty and churn, with
//! the summary checked against a recomputation from scratch after every step.

#![allow(clippy::panic)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use crm_core::timeline::{Direction, Interaction, InteractionKind, LineItem, Purchase, Refund};
use crm_core::{
    CustomerData, CustomerId, EntryKind, Event, LeadStatus, LifecycleStage, Money, Organization,
    Party, RelationshipStatus, Summary, Temperature,
};
use crm_store::{
    EntryMeta, ManualClock, Precondition, Store, StoreConfig, StoreError, TimelineQuery,
};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn open() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let clock = ManualClock::new(start());
    let store = support::open(StoreConfig::new(dir.path()).clock(clock.clone()));
    (dir, store, clock)
}

fn org(store: &Store, name: &str) -> CustomerId {
    let data = CustomerData::new(Party::Organization(Organization {
        legal_name: name.into(),
        employee_count: Some(120),
        ..Organization::default()
    }));
    store
        .customers()
        .create(data, None)
        .unwrap_or_else(|e| panic!("create: {e}"))
        .id
}

fn contact(kind: InteractionKind) -> Interaction {
    Interaction::inbound(kind, format!("{kind:?}"), "web")
}

fn order(order_ref: &str, amount: i64) -> Purchase {
    Purchase {
        order_ref: order_ref.into(),
        amount: Money::new("TRY", amount),
        line_items: vec![LineItem {
            sku: "widget".into(),
            quantity: 1,
            unit_price_minor: amount,
        }],
    }
}

fn at(t: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        occurred_at: Some(t),
        ..EntryMeta::default()
    }
}

fn check(store: &Store, id: CustomerId) {
    let entries = store
        .timeline()
        .entries(id)
        .unwrap_or_else(|e| panic!("{e}"));
    let recomputed = Summary::from_entries(&entries).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.timeline().summary(id).ok(), Some(recomputed));
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

fn status(
    store: &Store,
    id: CustomerId,
) -> (RelationshipStatus, Temperature, LeadStatus, LifecycleStage) {
    let c = store.customers().get(id).unwrap_or_else(|e| panic!("{e}"));
    let i = store
        .insights()
        .insight(&c)
        .unwrap_or_else(|e| panic!("{e}"));
    (
        i.status,
        i.lead.temperature,
        i.lead_status,
        c.data.lifecycle_stage,
    )
}

#[test]
fn a_lead_warms_up_converts_becomes_loyal_and_churns() {
    let (_dir, store, clock) = open();
    let acme = org(&store, "Acme");
    assert_eq!(status(&store, acme).1, Temperature::Cold);

    for kind in [
        InteractionKind::WebVisit,
        InteractionKind::DemoRequest,
        InteractionKind::Meeting,
        InteractionKind::Call,
    ] {
        store
            .timeline()
            .record_interaction(acme, contact(kind), EntryMeta::default())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // fit 20 (organization, 120 employees) + 2 + 25 + 15 + 10 = 72
    assert_eq!(
        status(&store, acme),
        (
            RelationshipStatus::Prospect,
            Temperature::Hot,
            LeadStatus::Open,
            LifecycleStage::Awareness
        )
    );
    clock.advance(Duration::days(60));
    // Two half-lives later the engagement is a quarter: 20 + 13 = 33.
    assert_eq!(status(&store, acme).1, Temperature::Warm);
    check(&store, acme);

    let first = store
        .timeline()
        .record_purchase(acme, order("SO-1", 150_000), EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!first.duplicate);
    assert_eq!(
        first.customer.data.lifecycle_stage,
        LifecycleStage::Purchase
    );
    assert_eq!(status(&store, acme).2, LeadStatus::Converted);
    let again = store
        .timeline()
        .record_purchase(acme, order("SO-1", 150_000), EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.duplicate);
    assert_eq!(again.entry, first.entry);
    assert_eq!(
        store
            .timeline()
            .summary(acme)
            .map(|s| s.purchase_count)
            .ok(),
        Some(1)
    );
    assert_eq!(status(&store, acme).0, RelationshipStatus::New);

    for n in 2..=4 {
        clock.advance(Duration::days(30));
        let r = store
            .timeline()
            .record_purchase(
                acme,
                order(&format!("SO-{n}"), 50_000),
                EntryMeta::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let expected = if n < 4 {
            LifecycleStage::Retention
        } else {
            LifecycleStage::Loyalty
        };
        assert_eq!(
            r.customer.data.lifecycle_stage, expected,
            "after purchase {n}"
        );
    }
    clock.advance(Duration::days(20));
    assert_eq!(status(&store, acme).0, RelationshipStatus::Loyal);
    // Their usual interval is 30 days: more than 60 days of silence puts them at risk.
    clock.advance(Duration::days(45));
    assert_eq!(status(&store, acme).0, RelationshipStatus::AtRisk);
    clock.advance(Duration::days(365));
    assert_eq!(status(&store, acme).0, RelationshipStatus::Churned);

    let stages: Vec<(LifecycleStage, LifecycleStage, bool)> = store
        .timeline()
        .list(&TimelineQuery {
            customer_id: Some(acme),
            kinds: vec![EntryKind::StageChange],
            ..TimelineQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .entries
        .into_iter()
        .filter_map(|e| match e.event {
            Event::StageChange(s) => Some((s.from, s.to, s.automatic)),
            _ => None,
        })
        .collect();
    use LifecycleStage::*;
    assert_eq!(
        stages,
        [
            (Awareness, Purchase, true),
            (Purchase, Retention, true),
            (Retention, Loyalty, true)
        ]
    );
    check(&store, acme);
}

#[test]
fn backdated_purchases_give_the_summary_of_in_order_arrival() {
    let (_dir, store, clock) = open();
    clock.advance(Duration::days(400));
    let in_order = org(&store, "In order");
    let backdated = org(&store, "Backdated");
    let days = [10, 50, 120, 300];
    for (i, d) in days.iter().enumerate() {
        store
            .timeline()
            .record_purchase(
                in_order,
                order(&format!("o{i}"), 1000 * (i as i64 + 1)),
                at(start() + Duration::days(*d)),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for (i, d) in days.iter().enumerate().rev() {
        store
            .timeline()
            .record_purchase(
                backdated,
                order(&format!("o{i}"), 1000 * (i as i64 + 1)),
                at(start() + Duration::days(*d)),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        store.timeline().summary(in_order).ok(),
        store.timeline().summary(backdated).ok()
    );
    let s = store.timeline().summary(in_order).unwrap_or_default();
    assert_eq!(s.totals["TRY"].purchased_minor, 10_000);
    assert_eq!(s.mean_purchase_interval(), Some(Duration::days(290) / 3));
    check(&store, backdated);
}

#[test]
fn refunds_lower_totals_and_never_exceed_the_purchase() {
    let (_dir, store, _clock) = open();
    let acme = org(&store, "Acme");
    store
        .timeline()
        .record_purchase(acme, order("SO-9", 10_000), EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let refund = |amount, currency: &str| Refund {
        order_ref: "SO-9".into(),
        amount: Money::new(currency, amount),
        reason: "damaged".into(),
    };
    store
        .timeline()
        .record_refund(acme, refund(4_000, "TRY"), EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let too_much = store
        .timeline()
        .record_refund(acme, refund(6_001, "TRY"), EntryMeta::default());
    assert!(
        matches!(
            too_much,
            Err(StoreError::FailedPrecondition(
                Precondition::RefundExceedsPurchase { left: 6_000, .. }
            ))
        ),
        "{too_much:?}"
    );
    match store
        .timeline()
        .record_refund(acme, refund(1, "EUR"), EntryMeta::default())
    {
        Err(StoreError::Invalid(v)) => assert_eq!(v.0[0].field, "refund.amount.currency_code"),
        other => panic!("a refund in another currency: {other:?}"),
    }
    let unknown = Refund {
        order_ref: "nope".into(),
        ..refund(1, "TRY")
    };
    assert!(matches!(
        store
            .timeline()
            .record_refund(acme, unknown, EntryMeta::default()),
        Err(StoreError::NotFound { .. })
    ));
    let s = store.timeline().summary(acme).unwrap_or_default();
    assert_eq!(s.totals["TRY"].net_minor(), 6_000);
    check(&store, acme);
}

#[test]
fn a_converted_referral_and_a_promoter_who_bought_make_advocates_and_delete_cleans_up() {
    let (_dir, store, _clock) = open();
    let referrer = org(&store, "Referrer");
    let referred = org(&store, "Referred");
    let mut referral = contact(InteractionKind::Referral);
    referral.referred_customer_id = Some(referred);
    store
        .timeline()
        .record_interaction(referrer, referral, EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&store, referrer).3, LifecycleStage::Awareness);
    store
        .timeline()
        .record_purchase(referred, order("R-1", 100), EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&store, referrer).3, LifecycleStage::Advocacy);

    // A promoter that never bought is a promoter, not an advocate; once it buys, it is one.
    let fan = org(&store, "Fan");
    let mut survey = contact(InteractionKind::Email);
    survey.nps_score = Some(10);
    let r = store
        .timeline()
        .record_interaction(fan, survey, EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.customer.data.lifecycle_stage, LifecycleStage::Awareness);
    let s = store.timeline().summary(fan).unwrap_or_default();
    assert!(s.promoter_since.is_some() && s.advocate_since.is_none());
    let r = store
        .timeline()
        .record_purchase(fan, order("F-1", 100), EntryMeta::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.customer.data.lifecycle_stage, LifecycleStage::Advocacy);
    check(&store, fan);

    store
        .customers()
        .delete(referred, None)
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .customers()
        .delete(referrer, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        store
            .timeline()
            .entries(referrer)
            .unwrap_or_default()
            .is_empty()
    );
    check(&store, fan);
}

#[test]
fn bad_entries_change_nothing() {
    let (_dir, store, clock) = open();
    let acme = org(&store, "Acme");
    let before = store.verify().map(|r| r.timeline_entries).ok();
    let future = at(clock_now(&clock) + Duration::minutes(6));
    assert!(matches!(
        store
            .timeline()
            .record_interaction(acme, contact(InteractionKind::Call), future),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .timeline()
            .record_purchase(acme, order("x", -5), EntryMeta::default()),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .timeline()
            .record_purchase(CustomerId(7), order("x", 5), EntryMeta::default()),
        Err(StoreError::NotFound { .. })
    ));
    store
        .timeline()
        .change_stage(acme, LifecycleStage::Loyalty, "", None)
        .unwrap_or_else(|e| panic!("{e}"));
    let back = store
        .timeline()
        .change_stage(acme, LifecycleStage::Purchase, " ", None);
    assert!(
        matches!(
            back,
            Err(StoreError::FailedPrecondition(
                Precondition::BackwardStageMove { .. }
            ))
        ),
        "{back:?}"
    );
    assert_eq!(status(&store, acme).3, LifecycleStage::Loyalty);
    assert_eq!(
        store.verify().map(|r| r.timeline_entries).ok(),
        before.map(|n| n + 1)
    );
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    crm_store::Clock::now(clock)
}

mod arrival_order {
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Contact(usize, bool, Option<u8>),
        Buy(i64),
        Lost,
    }

    fn op() -> impl Strategy<Value = (i64, Op)> {
        let op = prop_oneof![
            (0usize..11, any::<bool>(), proptest::option::of(0u8..=10))
                .prop_map(|(k, out, nps)| Op::Contact(k, out, nps)),
            (1i64..1_000_000).prop_map(Op::Buy),
            Just(Op::Lost),
        ];
        (0i64..700, op)
    }

    fn apply(store: &Store, id: CustomerId, ops: &[(usize, (i64, Op))]) {
        for (n, (day, op)) in ops {
            let meta = at(start() + Duration::days(*day) + Duration::seconds(*n as i64));
            let result = match op {
                Op::Contact(k, out, nps) => {
                    let mut i = contact(InteractionKind::ALL[*k]);
                    if i.kind == InteractionKind::Referral {
                        i.kind = InteractionKind::Note;
                    }
                    i.direction = if *out {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    };
                    i.nps_score = *nps;
                    store.timeline().record_interaction(id, i, meta).map(drop)
                }
                Op::Buy(amount) => store
                    .timeline()
                    .record_purchase(id, order(&format!("o{n}"), *amount), meta)
                    .map(drop),
                Op::Lost => store.timeline().mark_lost(id, "gone", meta).map(drop),
            };
            result.unwrap_or_else(|e| panic!("{op:?}: {e}"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::support::cases(24), ..ProptestConfig::default() })]

        /// The same entries recorded in time order and in a shuffled order leave the same
        /// summary, equal to the summary recomputed from the stored timeline.
        #[test]
        fn the_summary_does_not_depend_on_arrival_order(
            ops in prop::collection::vec(op(), 1..40),
            seed in any::<u64>(),
        ) {
            let (_dir, store, clock) = open();
            clock.advance(Duration::days(800));
            let a = org(&store, "in order");
            let b = org(&store, "shuffled");
            let mut ordered: Vec<(usize, (i64, Op))> = ops.into_iter().enumerate().collect();
            ordered.sort_by_key(|(n, (day, _))| (*day, *n));
            apply(&store, a, &ordered);
            let mut shuffled = ordered.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            apply(&store, b, &shuffled);
            let summary_a = store.timeline().summary(a).unwrap_or_else(|e| panic!("{e}"));
            let summary_b = store.timeline().summary(b).ok();
            prop_assert_eq!(Some(summary_a.clone()), summary_b);
            let entries = store.timeline().entries(a).unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(Summary::from_entries(&entries).ok(), Some(summary_a.clone()));
            // The lead converted once, with its first purchase, in either order.
            let conversions = |id| {
                store
                    .timeline()
                    .entries(id)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .into_iter()
                    .filter(|e| matches!(e.event, Event::Converted { .. }))
                    .map(|e| e.occurred_at)
                    .collect::<Vec<_>>()
            };
            let converted = conversions(a);
            prop_assert_eq!(&converted, &conversions(b));
            prop_assert_eq!(converted, summary_a.first_purchase.into_iter().collect::<Vec<_>>());
            // A promoter (an NPS answer of 9 or 10) is an advocate from when it has also bought.
            let promoted = ordered
                .iter()
                .filter(|(_, (_, op))| matches!(op, Op::Contact(_, _, Some(n)) if *n >= 9))
                .map(|(n, (day, _))| start() + Duration::days(*day) + Duration::seconds(*n as i64))
                .min();
            let advocate = match (promoted, summary_a.first_purchase) {
                (Some(p), Some(f)) => Some(p.max(f)),
                _ => None,
            };
            prop_assert_eq!(summary_a.advocate_since, advocate);
            let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
            prop_assert!(report.is_clean(), "{:?}", report.problems);
        }

        /// Referrals and the referred customer's purchases, recorded in time order and in a
        /// shuffled order: the referrer becomes an advocate exactly when both facts first
        /// hold (the later of its first referral and the first purchase), either way.
        #[test]
        fn advocacy_starts_when_a_referral_and_a_purchase_both_hold_in_any_arrival_order(
            facts in prop::collection::vec((0i64..700, any::<bool>()), 1..16),
            seed in any::<u64>(),
        ) {
            let (_dir, store, clock) = open();
            clock.advance(Duration::days(800));
            let mut ordered: Vec<(usize, (i64, bool))> = facts.into_iter().enumerate().collect();
            ordered.sort_by_key(|(n, (day, _))| (*day, *n));
            let mut shuffled = ordered.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let when = |n: usize, day: i64| start() + Duration::days(day) + Duration::seconds(n as i64);
            let mut sinces = Vec::new();
            for (name, facts) in [("in order", &ordered), ("shuffled", &shuffled)] {
                let referrer = org(&store, &format!("referrer {name}"));
                let referred = org(&store, &format!("referred {name}"));
                for (n, (day, is_referral)) in facts.iter() {
                    let meta = at(when(*n, *day));
                    let done = if *is_referral {
                        let mut i = contact(InteractionKind::Referral);
                        i.referred_customer_id = Some(referred);
                        store.timeline().record_interaction(referrer, i, meta).map(drop)
                    } else {
                        store
                            .timeline()
                            .record_purchase(referred, order(&format!("r{n}"), 1000), meta)
                            .map(drop)
                    };
                    done.unwrap_or_else(|e| panic!("{e}"));
                }
                let summary = store.timeline().summary(referrer).unwrap_or_else(|e| panic!("{e}"));
                let customer = store.customers().get(referrer).unwrap_or_else(|e| panic!("{e}"));
                prop_assert_eq!(
                    summary.advocate_since.is_some(),
                    customer.data.lifecycle_stage == LifecycleStage::Advocacy
                );
                sinces.push(summary.advocate_since);
            }
            let first = |referral: bool| {
                ordered
                    .iter()
                    .filter(|(_, (_, r))| *r == referral)
                    .map(|(n, (day, _))| when(*n, *day))
                    .min()
            };
            let expected = match (first(true), first(false)) {
                (Some(referred_at), Some(bought_at)) => Some(referred_at.max(bought_at)),
                _ => None,
            };
            prop_assert_eq!(&sinces, &vec![expected, expected]);
            let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
            prop_assert!(report.is_clean(), "{:?}", report.problems);
        }
    }
}
