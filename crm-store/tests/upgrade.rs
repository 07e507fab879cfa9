//! Data written by the previous release still opens: `tests/data/format-2` is a data directory
//! that release wrote (two customers, a referral, a purchase and its refund, a segment), with
//! change-log records of value version 1, which named no entity.

// Helpers and setup fail the test by panicking, as tests do.
#![allow(clippy::panic)]

use crm_core::Event;
use crm_store::{ChangeKind, EntityKind, EntityRef, Store, TimelineQuery};

const RELEASE_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/format-2");

fn copy_of_release_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for file in ["conf", "db"] {
        std::fs::copy(
            std::path::Path::new(RELEASE_DATA).join(file),
            dir.path().join(file),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    dir
}

#[test]
fn the_previous_release_s_data_opens_reads_and_verifies() {
    let dir = copy_of_release_data();
    let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(
        (report.customers, report.changes, report.segments),
        (2, 6, 1)
    );

    let ada = store
        .customers()
        .lookup_by_email("ada@example.com")
        .unwrap_or_else(|e| panic!("{e}"));
    let by_external_id = store
        .customers()
        .lookup_by_external_id("ext-ada")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_external_id.id, ada.id);

    // Old change-log records come back naming their entity: the customer they were about.
    let changes = store
        .audit()
        .changes(0, 100)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changes.len(), 6);
    assert_eq!(changes[0].entity, EntityRef::customer(ada.id));
    assert_eq!(changes[0].customer_id, Some(ada.id));
    assert_eq!(changes[0].kind, ChangeKind::Created);
    assert!(
        changes
            .iter()
            .all(|c| c.entity.kind == EntityKind::Customer)
    );
    assert!(changes.windows(2).all(|w| w[1].seq == w[0].seq + 1));

    // Grace's purchase and refund are on her timeline, and her summary adds them up.
    let grace = changes[1]
        .customer_id
        .unwrap_or_else(|| panic!("no customer"));
    let page = store
        .timeline()
        .list(&TimelineQuery {
            customer_id: Some(grace),
            ..TimelineQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        page.entries
            .iter()
            .any(|e| matches!(e.event, Event::Purchase(_)))
    );
    assert!(
        page.entries
            .iter()
            .any(|e| matches!(e.event, Event::Refund(_)))
    );
    let summary = store
        .timeline()
        .summary(grace)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.purchase_count, 1);
    assert_eq!(
        summary.totals.get("TRY").map(|t| t.net_minor()),
        Some(40_000)
    );

    // New writes continue the old log without a gap, in the new record version.
    let next = store
        .customers()
        .create(
            crm_core::CustomerData::new(crm_core::Party::Person(crm_core::Person {
                given_name: "Linus".into(),
                ..crm_core::Person::default()
            })),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let latest = store
        .audit()
        .changes(6, 10)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].seq, 7);
    assert_eq!(latest[0].entity, EntityRef::customer(next.id));
    assert!(store.verify().map(|r| r.is_clean()).unwrap_or(false));
}
