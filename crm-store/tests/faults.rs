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
