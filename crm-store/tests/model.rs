//! A model test: random sequences of store operations, each checked against a plain in-memory
//! model (a BTreeMap), including unique emails, index-served filters and pagination.

// Helpers fail the test by panicking, as tests do.
#![allow(clippy::panic)]

mod support;

use std::collections::BTreeMap;

use crm_core::{
    Customer, CustomerData, CustomerId, Email, Filter, LifecycleStage, OrderBy, UpdateMask,
};
use crm_store::{Durability, StoreConfig, StoreError};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Create {
        name: u8,
        email: Option<u8>,
        stage: u8,
        tags: Vec<u8>,
        owner: Option<u8>,
    },
    Update {
        target: u8,
        stage: u8,
        tags: Vec<u8>,
        email: Option<u8>,
    },
    Delete {
        target: u8,
    },
    List {
        filter: u8,
        order: u8,
        page_size: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), proptest::option::of(0u8..6), 0u8..6, proptest::collection::vec(0u8..3, 0..3), proptest::option::of(0u8..2))
            .prop_map(|(name, email, stage, tags, owner)| Op::Create { name, email, stage, tags, owner }),
        3 => (any::<u8>(), 0u8..6, proptest::collection::vec(0u8..3, 0..3), proptest::option::of(0u8..6))
            .prop_map(|(target, stage, tags, email)| Op::Update { target, stage, tags, email }),
        1 => any::<u8>().prop_map(|target| Op::Delete { target }),
        2 => (0u8..6, 0u8..6, 1u8..7).prop_map(|(filter, order, page_size)| Op::List { filter, order, page_size }),
    ]
}

const FILTERS: [&str; 6] = [
    "",
    r#"lifecycle_stage = "PURCHASE""#,
    r#"tags:"t1""#,
    r#"owner = "o0" AND tags:"t0""#,
    r#"lifecycle_stage >= "RETENTION" OR tags:"t2""#,
    r#"NOT owner = "o1""#,
];
const ORDERS: [&str; 6] = [
    "",
    "create_time desc",
    "update_time",
    "update_time desc",
    "display_name",
    "display_name desc",
];

fn email(n: u8) -> String {
    format!("user{n}@example.com")
}

fn expected(
    model: &BTreeMap<CustomerId, Customer>,
    filter: &Filter,
    order: OrderBy,
) -> Vec<CustomerId> {
    let mut matching: Vec<&Customer> = model.values().filter(|c| filter.matches(c)).collect();
    match order.field {
        crm_core::OrderField::CreateTime => matching.sort_by_key(|c| c.id),
        crm_core::OrderField::UpdateTime => matching.sort_by_key(|c| (c.update_time, c.id)),
        crm_core::OrderField::DisplayName => {
            matching.sort_by_key(|c| (c.data.display_name.to_lowercase(), c.id))
        }
    }
    if order.descending {
        matching.reverse();
    }
    matching.into_iter().map(|c| c.id).collect()
}

/// The emails of a customer with email number `n` (none without).
fn emails(n: Option<u8>) -> Vec<Email> {
    n.map(|n| {
        vec![Email {
            address: email(n),
            label: String::new(),
            primary: true,
        }]
    })
    .unwrap_or_default()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let store = support::open(StoreConfig::new(dir.path()).durability(Durability::Relaxed));
    let mut model: BTreeMap<CustomerId, Customer> = BTreeMap::new();
    let email_owner = |model: &BTreeMap<CustomerId, Customer>, e: &str| {
        model
            .values()
            .find(|c| c.data.emails.iter().any(|x| x.address == e))
            .map(|c| c.id)
    };
    for op in ops {
        match op {
            Op::Create {
                name,
                email: e,
                stage,
                tags,
                owner,
            } => {
                let mut data = CustomerData::person(format!("N{name}"));
                data.emails = emails(e);
                data.lifecycle_stage = LifecycleStage::ALL[usize::from(stage)];
                data.tags = tags.iter().map(|t| format!("t{t}")).collect();
                data.owner = owner.map(|o| format!("o{o}"));
                let taken = e.and_then(|n| email_owner(&model, &email(n)));
                match (store.customers().create(data, None), taken) {
                    (Ok(c), None) => {
                        prop_assert!(model.keys().all(|id| *id < c.id), "ids grow");
                        model.insert(c.id, c);
                    }
                    (Err(StoreError::AlreadyExists { existing, .. }), Some(owner)) => {
                        prop_assert_eq!(existing, owner.to_string())
                    }
                    (got, taken) => {
                        prop_assert!(false, "create: got {:?}, email taken by {:?}", got, taken)
                    }
                }
            }
            Op::Update {
                target,
                stage,
                tags,
                email: e,
            } => {
                let Some(current) = model
                    .values()
                    .nth(usize::from(target) % model.len().max(1))
                    .cloned()
                else {
                    continue;
                };
                let mut patch = current.data.clone();
                patch.lifecycle_stage = LifecycleStage::ALL[usize::from(stage)];
                patch.tags = tags.iter().map(|t| format!("t{t}")).collect();
                patch.emails = emails(e);
                let mask = UpdateMask::parse(&["lifecycle_stage", "tags", "emails"])
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let taken = e
                    .and_then(|n| email_owner(&model, &email(n)))
                    .filter(|id| *id != current.id);
                let backward = patch.lifecycle_stage < current.data.lifecycle_stage;
                match store
                    .customers()
                    .update(current.id, &patch, &mask, Some(&current.etag()))
                {
                    Ok(c) => {
                        prop_assert!(taken.is_none() && !backward);
                        let mut tags = patch.tags.clone();
                        tags.sort();
                        tags.dedup();
                        prop_assert_eq!(&c.data.tags, &tags);
                        model.insert(c.id, c);
                    }
                    // The stage move is checked before uniqueness.
                    Err(StoreError::AlreadyExists { .. }) => {
                        prop_assert!(taken.is_some() && !backward)
                    }
                    Err(StoreError::FailedPrecondition { .. }) => prop_assert!(backward),
                    Err(e) => prop_assert!(false, "update: {}", e),
                }
            }
            Op::Delete { target } => {
                let Some(id) = model
                    .keys()
                    .nth(usize::from(target) % model.len().max(1))
                    .copied()
                else {
                    continue;
                };
                store
                    .customers()
                    .delete(id, None)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.remove(&id);
                let gone = matches!(store.customers().get(id), Err(StoreError::NotFound { .. }));
                prop_assert!(gone, "a deleted customer is still readable");
            }
            Op::List {
                filter,
                order,
                page_size,
            } => {
                let f = Filter::parse(FILTERS[usize::from(filter)])
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let o = OrderBy::parse(ORDERS[usize::from(order)])
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let indexed = support::walk(&store, &f, o, usize::from(page_size));
                prop_assert_eq!(&indexed, &expected(&model, &f, o));
                // The same filter as a one-armed OR, which no index serves: the store's full
                // scan must return the same customers in the same order as its indexed plan.
                let scanned = support::walk(
                    &store,
                    &Filter::Or(vec![f.clone()]),
                    o,
                    usize::from(page_size),
                );
                prop_assert_eq!(indexed, scanned);
            }
        }
    }
    for (id, c) in &model {
        let stored = store.customers().get(*id).ok();
        prop_assert_eq!(stored.as_ref(), Some(c));
        for e in &c.data.emails {
            prop_assert_eq!(
                store
                    .customers()
                    .lookup_by_email(&e.address)
                    .ok()
                    .map(|x| x.id),
                Some(*id)
            );
        }
    }
    // The counts kept in the write batch agree with the model.
    let counts = store
        .customers()
        .counts()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut by_stage = BTreeMap::new();
    for c in model.values() {
        *by_stage.entry(c.data.lifecycle_stage).or_insert(0u64) += 1;
    }
    prop_assert_eq!(counts.by_stage(), by_stage);
    let report = store
        .verify()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(report.is_clean(), "{:?}", report.problems);
    prop_assert_eq!(report.customers, model.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::support::cases(128), ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
