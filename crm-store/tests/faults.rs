//! Faults the library meets without a special file system: a disk below the reserve refuses
//! writes before the engine sees them, reads go on, and writes work again once space is back.
//! (The real full disk, on a tmpfs, is in `tests/tests/faults`.)

#![allow(clippy::panic)]

use crm_core::CustomerData;
use crm_store::engine::EngineError;
use crm_store::{Store, StoreConfig, StoreError};

#[test]
fn below_the_reserve_a_write_is_refused_untouched_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ada = {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        store
            .customers()
            .create(CustomerData::person("Ada"), None)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // A reserve larger than any disk: every write would go below it.
    let config = StoreConfig::new(dir.path()).reserve_bytes(u64::MAX / 4);
    let store = Store::open_with(config).unwrap_or_else(|e| panic!("{e}"));
    match store
        .customers()
        .create(CustomerData::person("Grace"), None)
    {
        Err(StoreError::Engine(EngineError::DiskFull {
            available, needed, ..
        })) => assert!(available < needed),
        other => panic!("expected DiskFull, got {other:?}"),
    }
    assert_eq!(store.customers().get(ada.id).ok(), Some(ada.clone()));
    assert!(
        store.failure().is_none(),
        "a refusal is not an engine failure"
    );
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.customers, 1);
    drop(store);

    // Space is back (here: a reserve the disk has): writes work again.
    let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    store
        .customers()
        .create(CustomerData::person("Grace"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.verify().map(|r| r.customers).ok(), Some(2));
}

#[test]
fn below_the_reserve_status_queries_are_answered_from_the_records() {
    use crm_core::timeline::Purchase;
    use crm_store::{EntryMeta, ListQuery};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let buyer = {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for name in ["Ada", "Grace"] {
            store
                .customers()
                .create(CustomerData::person(name), None)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let buyer = store
            .customers()
            .create(CustomerData::person("Hedy"), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .id;
        let purchase = Purchase {
            order_ref: "SO-1".into(),
            amount: crm_core::Money::new("EUR", 1000),
            line_items: vec![],
        };
        store
            .timeline()
            .record_purchase(buyer, purchase, EntryMeta::default())
            .unwrap_or_else(|e| panic!("{e}"));
        buyer
    };
    // Other rules (the derived index must be rebuilt for them) on a disk below the reserve
    // (it cannot be): status queries read the records instead, and say the same.
    let rules = crm_core::RelationshipRules {
        new_within: chrono::Duration::days(30),
        ..crm_core::RelationshipRules::default()
    };
    let config = StoreConfig::new(dir.path())
        .reserve_bytes(u64::MAX / 4)
        .rules(rules);
    let store = Store::open_with(config).unwrap_or_else(|e| panic!("{e}"));
    let list = |filter: &str| {
        let query = ListQuery {
            filter: crm_core::Filter::parse(filter).unwrap_or_else(|e| panic!("{e}")),
            ..ListQuery::default()
        };
        store
            .customers()
            .list(&query)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .customers
            .len()
    };
    assert_eq!(list("relationship_status = NEW"), 1);
    assert_eq!(list("relationship_status = PROSPECT"), 2);
    assert_eq!(list("lead_temperature = COLD"), 3);
    let hedy = store
        .customers()
        .get(buyer)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hedy.data.display_name, "Hedy");
}
