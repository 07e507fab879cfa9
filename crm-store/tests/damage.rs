//! Damaged data is reported, never silently replaced or panicked on.

// Helpers and setup fail the test by panicking, as tests do.
#![allow(clippy::panic)]

use crm_core::CustomerData;
use crm_store::{Store, StoreError};

#[test]
fn a_garbage_engine_file_is_refused_not_treated_as_an_empty_store() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let c = CustomerData::person("Ada");
        store
            .customers()
            .create(c, None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let db = dir.path().join("db");
    let len = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let garbage: Vec<u8> = (0..len.max(4096)).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&db, garbage).unwrap_or_else(|e| panic!("{e}"));
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt { .. }) => {}
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_damaged_record_fails_its_own_read_is_reported_and_spares_the_rest() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (ada, grace) = {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let make = |name: &str| {
            let c = CustomerData::person(name);
            store
                .customers()
                .create(c, None)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        (make("Ada"), make("Grace"))
    };
    // Damage Ada's record bytes on disk (key layout from DESIGN.md: 'C' + id, big-endian).
    {
        use crm_store::engine::sled::{SledEngine, SledOptions};
        use crm_store::engine::{Engine, EngineError, transact};
        let engine = SledEngine::open(&SledOptions {
            path: dir.path().to_path_buf(),
            cache_bytes: 1 << 20,
            flush_every_ms: None,
            ..SledOptions::new("")
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut key = vec![b'C'];
        key.extend_from_slice(&ada.id.0.to_be_bytes());
        transact(&engine, |tx| {
            tx.put(&key, &[1u8, 0xff, 0xfe, 0x00]);
            Ok::<_, EngineError>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        engine.sync().unwrap_or_else(|e| panic!("{e}"));
    }
    let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        store.customers().get(ada.id),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(store.customers().get(grace.id).ok(), Some(grace.clone()));
    let listed = store
        .customers()
        .list(&crm_store::ListQuery::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.customers, vec![grace.clone()]);
    // The derived index brings every other customer up to date around the damaged one.
    let prospects = crm_store::ListQuery {
        filter: crm_core::Filter::parse("relationship_status = PROSPECT").unwrap_or_default(),
        ..Default::default()
    };
    assert_eq!(
        store.customers().list(&prospects).map(|p| p.customers).ok(),
        Some(vec![grace.clone()])
    );
    let by_name = crm_store::ListQuery {
        order_by: crm_core::OrderBy::parse("display_name").unwrap_or_default(),
        ..Default::default()
    };
    assert_eq!(
        store.customers().list(&by_name).map(|p| p.customers).ok(),
        Some(vec![grace])
    );
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("customer {}", ada.id))),
        "{:?}",
        report.problems
    );
}
