//! A retention policy erases exactly the persons a model says are inactive, and its dry run
//! said so before; at any instant, whatever the activity.

use chrono::Duration;
use crm_core::privacy::{ConsentPurpose, ConsentRecord, RetentionPolicy};
use crm_core::{CustomerData, CustomerId};
use crm_store::StoreError;

use super::{at, buy, open_any, person};
use crm_store::ManualClock;

#[test]
fn a_retention_policy_erases_exactly_the_inactive_and_its_dry_run_said_so() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2020-01-01T00:00:00Z"));
    let store = open_any(dir.path(), &clock);
    // Twelve persons and one organization, created in 2020; some act later, some never.
    let mut last_activity = Vec::new();
    for n in 0..12u32 {
        let id = person(&store, &format!("P{n}"), &format!("p{n}@example.com"), "");
        let when = at("2020-01-01T00:00:00Z") + Duration::days(i64::from(n) * 200);
        last_activity.push((id, at("2020-01-01T00:00:00Z")));
        if n % 3 != 0 {
            clock.set(when);
            buy(&store, id, &format!("O-{n}"), 100, when);
            last_activity
                .last_mut()
                .unwrap_or_else(|| panic!("pushed"))
                .1 = when;
        }
    }
    clock.set(at("2020-01-02T00:00:00Z"));
    let org = store
        .customers()
        .create(CustomerData::organization("Old Co"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    clock.set(at("2027-06-01T00:00:00Z"));

    assert!(matches!(
        store.privacy().set_retention_policy(
            &RetentionPolicy {
                erase_inactive_after_years: Some(0),
                ..RetentionPolicy::default()
            },
            None
        ),
        Err(StoreError::Invalid(_))
    ));
    let policy = RetentionPolicy {
        erase_inactive_after_years: Some(3),
        drop_interactions_after_years: None,
        keep_purchases_years: Some(10),
    };
    let cut = at("2024-06-01T00:00:00Z");
    let mut expected: Vec<CustomerId> = last_activity
        .iter()
        .filter(|(_, t)| *t < cut)
        .map(|(id, _)| *id)
        .collect();
    expected.sort();
    assert!(!expected.is_empty() && expected.len() < 12);
    let dry = store
        .privacy()
        .retention_plan(Some(&policy))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dry.erase, expected);
    assert!(!dry.erase.contains(&org));
    // Nothing was erased by the dry run.
    for id in &expected {
        let c = store.customers().get(*id).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.erased.is_none());
    }
    store
        .privacy()
        .set_retention_policy(&policy, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let run = store
        .privacy()
        .apply_retention()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.done.erase, expected);
    for (id, _) in &last_activity {
        let c = store.customers().get(*id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.erased.is_some(), expected.contains(id), "{id}");
        if let Some(e) = &c.erased {
            assert_eq!(e.reason, "retention policy v1");
            assert_eq!(e.actor, "retention policy v1");
        }
    }
    // Applied again, it finds nothing more.
    let again = store
        .privacy()
        .apply_retention()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.done.erase.is_empty());
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    // Each erasure is in the audit trail under the policy.
    let trail = store
        .audit()
        .events(&crm_store::AuditQuery {
            actor: Some("retention policy v1".into()),
            page_size: 1000,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let erasures = trail
        .events
        .iter()
        .filter(|e| e.operation == "EraseCustomer")
        .count();
    assert_eq!(erasures, expected.len());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Whatever the activity, the policy and the instant, the dry run names exactly the persons
    /// whose last activity (creation, a purchase, a consent decision) is older than the period,
    /// and applying the policy erases exactly them.
    #[test]
    fn retention_erases_exactly_whom_the_model_says_at_any_instant(
        people in proptest::collection::vec(
            (proptest::option::of(0i64..3000), proptest::option::of(0i64..3000), proptest::bool::ANY),
            1..8,
        ),
        years in 1u32..6,
        later in 0i64..3000,
    ) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let start = at("2015-01-01T00:00:00Z");
        let clock = ManualClock::new(start);
        let store = open_any(dir.path(), &clock);
        let mut model = Vec::new();
        let mut latest = start;
        for (n, (bought, consented, org)) in people.iter().enumerate() {
            clock.set(start);
            let id = if *org {
                store
                    .customers()
                    .create(CustomerData::organization(format!("Org {n}")), None)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .id
            } else {
                person(&store, &format!("P{n}"), &format!("p{n}@example.com"), "")
            };
            let mut last = start;
            if let Some(days) = bought {
                let t = start + Duration::days(*days);
                clock.set(t);
                buy(&store, id, &format!("O-{n}"), 100, t);
                last = last.max(t);
            }
            if let Some(days) = consented {
                let t = start + Duration::days(*days);
                clock.set(t.max(last));
                store
                    .privacy()
                    .record_consent(id, ConsentRecord::asserted(ConsentPurpose::Profiling, true, t))
                    .unwrap_or_else(|e| panic!("{e}"));
                last = last.max(t);
            }
            latest = latest.max(last);
            model.push((id, last, *org));
        }
        let now = latest + Duration::days(later);
        clock.set(now);
        let cut = crm_core::privacy::retention::years_before(now, years);
        let mut expected: Vec<CustomerId> = model
            .iter()
            .filter(|(_, last, org)| !org && *last < cut)
            .map(|(id, _, _)| *id)
            .collect();
        expected.sort();
        let policy = RetentionPolicy {
            erase_inactive_after_years: Some(years),
            ..RetentionPolicy::default()
        };
        let plan = store.privacy().retention_plan(Some(&policy)).unwrap_or_else(|e| panic!("{e}"));
        proptest::prop_assert_eq!(&plan.erase, &expected);
        store.privacy().set_retention_policy(&policy, None).unwrap_or_else(|e| panic!("{e}"));
        let run = store.privacy().apply_retention().unwrap_or_else(|e| panic!("{e}"));
        proptest::prop_assert_eq!(&run.done.erase, &expected);
        for (id, _, _) in &model {
            let c = store.customers().get(*id).unwrap_or_else(|e| panic!("{e}"));
            proptest::prop_assert_eq!(c.erased.is_some(), expected.contains(id));
        }
    }
}
