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

/// Copies the engine's files (everything but crm's acknowledgement mark) from `from` to `to`.
fn copy_engine_files(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let name = entry.file_name();
        if name == crm_store::mark::FILE || entry.path().is_dir() {
            continue;
        }
        std::fs::copy(entry.path(), to.join(&name)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn an_engine_that_lost_acknowledged_writes_is_refused_and_can_be_read_only_when_accepted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let older = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let create = |store: &Store, name: &str| {
        store
            .customers()
            .create(CustomerData::person(name), None)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let ada = {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        create(&store, "Ada")
    };
    copy_engine_files(dir.path(), older.path());
    {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for name in ["Grace", "Hedy", "Katherine"] {
            create(&store, name);
        }
    }
    // The engine's files go back to before the last three creates (as sled does when it
    // stops recovering at a damaged page); crm's mark remembers what it acknowledged.
    copy_engine_files(older.path(), dir.path());
    let refused = Store::open(dir.path()).err();
    match &refused {
        Some(StoreError::DataLoss { detail }) => {
            assert!(
                detail.contains("up to 4 were acknowledged, but the store ends at 1"),
                "{detail}"
            );
            assert!(detail.contains("--accept-data-loss"), "{detail}");
        }
        other => panic!("expected DataLoss, got {other:?}"),
    }

    // Accepted: what is left is readable, nothing can be written, and verify says what is gone.
    let config = crm_store::StoreConfig::new(dir.path()).accept_data_loss(true);
    let store = Store::open_with(config).unwrap_or_else(|e| panic!("{e}"));
    assert!(store.data_loss().is_some());
    assert_eq!(store.customers().get(ada.id).ok(), Some(ada.clone()));
    match store
        .customers()
        .create(CustomerData::person("Margaret"), None)
    {
        Err(StoreError::FailedPrecondition(p)) => {
            assert_eq!(p.reason(), "READ_ONLY_AFTER_DATA_LOSS");
        }
        other => panic!("a write was not refused: {other:?}"),
    }
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("acknowledged data is missing")),
        "{:?}",
        report.problems
    );
    drop(store);
    // Closing an accepted store does not move the mark: it is refused again.
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::DataLoss { .. })
    ));

    // Removing the mark accepts the loss for good: the store opens and takes writes again.
    std::fs::remove_file(dir.path().join(crm_store::mark::FILE)).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    create(&store, "Margaret");
    assert!(store.verify().map(|r| r.is_clean()).unwrap_or(false));
}

#[test]
fn a_damaged_mark_is_refused_rather_than_ignored() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        store
            .customers()
            .create(CustomerData::person("Ada"), None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mark = dir.path().join(crm_store::mark::FILE);
    let mut bytes = std::fs::read(&mark).unwrap_or_else(|e| panic!("{e}"));
    for b in bytes.iter_mut() {
        *b ^= 0x5a;
    }
    std::fs::write(&mark, bytes).unwrap_or_else(|e| panic!("{e}"));
    match Store::open(dir.path()) {
        Err(StoreError::DataLoss { detail }) => assert!(detail.contains("damaged"), "{detail}"),
        other => panic!("expected DataLoss, got {other:?}"),
    }
}
