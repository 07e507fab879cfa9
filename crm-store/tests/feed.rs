//! A Rust program follows the store's change feed with a blocking iterator while another thread
//! writes, and backs the store up while writes go on.

// Helpers outside #[test] functions fail the test by panicking, as tests do.
#![allow(clippy::panic)]

mod support;

use std::time::Duration;

use crm_core::{CustomerData, UpdateMask};
use crm_store::{ChangeKind, FeedQuery, Origin, StoreError};

#[test]
fn a_program_follows_the_feed_as_another_thread_writes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = support::open_in(dir.path());
    let first = store
        .customers()
        .create(CustomerData::person("Before"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut watch = store
        .audit()
        .watch(FeedQuery::default(), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let writer = {
        let erp = store.with_origin(Origin {
            actor: "connector".into(),
            source: Some("erp".into()),
            ..Origin::default()
        });
        std::thread::spawn(move || {
            for i in 0..20 {
                let c = erp
                    .customers()
                    .create(CustomerData::person(format!("P{i}")), None)
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut patch = c.data.clone();
                patch.tags = vec!["synced".into()];
                erp.customers()
                    .update(
                        c.id,
                        &patch,
                        &UpdateMask::parse(&["tags"]).unwrap_or_else(|e| panic!("{e}")),
                        None,
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        })
    };
    let mut events = Vec::new();
    while events.len() < 41 {
        match watch.next_within(Duration::from_secs(30)) {
            Ok(Some(e)) => events.push(e),
            Ok(None) => panic!("no event for 30 s after {}", events.len()),
            Err(e) => panic!("{e}"),
        }
    }
    writer
        .join()
        .unwrap_or_else(|_| panic!("the writer failed"));
    assert_eq!(
        events.iter().map(|e| e.change.seq).collect::<Vec<_>>(),
        (1..=41).collect::<Vec<u64>>()
    );
    assert_eq!(events[0].change.customer_id, Some(first.id));
    assert_eq!(events[0].origin, None);
    assert!(
        events[1..]
            .iter()
            .all(|e| e.origin.as_deref() == Some("erp"))
    );
    assert!(events[1..].iter().all(|e| e.actor == "connector"));
    assert_eq!(events[2].change.kind, ChangeKind::Updated);
    assert_eq!(watch.cursor(), 41);
    // Nothing more: a bounded wait says so.
    assert_eq!(
        watch
            .next_within(Duration::from_millis(50))
            .unwrap_or_else(|e| panic!("{e}")),
        None
    );
    // A cursor from the future is refused, naming `after`.
    match store.audit().watch(FeedQuery::default(), 42) {
        Err(StoreError::Invalid(v)) => assert_eq!(v.0[0].field, "after"),
        other => panic!("expected a refused cursor, got {other:?}"),
    }
}
