//! The library, used as a Rust program would: open, write, read, list, reopen, verify.

// Helpers outside #[test] functions fail the test by panicking, as tests do.
#![allow(clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use crm_core::{CustomerData, CustomerId, Email, Filter, LifecycleStage, OrderBy, UpdateMask};
use crm_store::{AuditQuery, ListQuery, Origin, Store, StoreError, UniqueField};

fn person(given: &str, email: &str) -> CustomerData {
    let mut c = CustomerData::person(given);
    if !email.is_empty() {
        c.emails.push(Email {
            address: email.into(),
            label: String::new(),
            primary: false,
        });
    }
    c
}

fn org(name: &str) -> CustomerData {
    CustomerData::organization(name)
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = support::open_in(dir.path());
    (dir, store)
}

fn ok<T>(r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn all(store: &Store, filter: &str, order: &str, page_size: usize) -> Vec<CustomerId> {
    let mut ids = Vec::new();
    let mut query = ListQuery {
        filter: Filter::parse(filter).unwrap_or_else(|e| panic!("{e}")),
        order_by: OrderBy::parse(order).unwrap_or_else(|e| panic!("{e}")),
        page_size,
        page_token: String::new(),
    };
    loop {
        let page = ok(store.customers().list(&query));
        ids.extend(page.customers.iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        query.page_token = page.next_page_token;
    }
}

#[test]
fn a_customer_lives_and_dies_with_its_indexes() {
    let (_dir, store) = open();
    let acme = ok(store.customers().create(org("Acme A.Ş."), None));
    let mut ada = person("Ada", "ADA@acme.com.tr");
    ada.organization_id = Some(acme.id);
    ada.tags = vec!["VIP".into()];
    let ada = ok(store.customers().create(ada, None));
    assert_eq!(ada.version, 1);
    assert_eq!(ada.etag(), "v1");
    assert_eq!(
        ok(store.customers().lookup_by_email("ada@ACME.com.tr")).id,
        ada.id
    );

    // The organization cannot go while Ada works there.
    assert!(matches!(
        store.customers().delete(acme.id, None),
        Err(StoreError::FailedPrecondition { .. })
    ));

    // A masked update changes only what it names, and moves the indexes with it.
    let mut patch = person("", "");
    patch.lifecycle_stage = LifecycleStage::Loyalty;
    patch.tags = vec!["champion".into()];
    let mask = ok(UpdateMask::parse(&["lifecycle_stage", "tags"]).map_err(StoreError::from));
    let updated = ok(store.customers().update(ada.id, &patch, &mask, Some("v1")));
    assert_eq!(updated.version, 2);
    assert_eq!(updated.data.emails, ada.data.emails);
    assert_eq!(
        all(&store, r#"tags:"vip""#, "", 0),
        Vec::<CustomerId>::new()
    );
    assert_eq!(
        all(
            &store,
            r#"tags:"champion" AND lifecycle_stage = LOYALTY"#,
            "",
            0
        ),
        vec![ada.id]
    );

    // A stale etag changes nothing; going backward needs a reason the update cannot give.
    assert!(matches!(
        store.customers().update(ada.id, &patch, &mask, Some("v1")),
        Err(StoreError::Aborted { .. })
    ));
    patch.lifecycle_stage = LifecycleStage::Awareness;
    let stage = ok(UpdateMask::parse(&["lifecycle_stage"]).map_err(StoreError::from));
    assert!(matches!(
        store.customers().update(ada.id, &patch, &stage, None),
        Err(StoreError::FailedPrecondition { .. })
    ));
    assert_eq!(ok(store.customers().get(ada.id)), updated);

    ok(store.customers().delete(ada.id, Some("v2")));
    assert!(matches!(
        store.customers().get(ada.id),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.customers().lookup_by_email("ada@acme.com.tr"),
        Err(StoreError::NotFound { .. })
    ));
    ok(store.customers().delete(acme.id, None));
    let report = ok(store.verify());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(
        (report.customers, report.index_entries, report.unique_keys),
        (0, 0, 0)
    );
    let kinds: Vec<_> = ok(store.audit().changes(0, 100))
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 5);
}

#[test]
fn an_email_belongs_to_one_customer_even_under_contention() {
    let (_dir, store) = open();
    let winners: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let store = store.clone();
                s.spawn(move || {
                    store
                        .customers()
                        .create(person(&format!("P{i}"), "same@example.com"), None)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(Ok(_)) => true,
                Ok(Err(StoreError::AlreadyExists { field, .. })) => {
                    assert_eq!(field, UniqueField::Email { index: 0 });
                    false
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    });
    assert_eq!(winners.iter().filter(|w| **w).count(), 1);
    assert!(ok(store.verify()).is_clean());
}

#[test]
fn a_request_id_creates_once() {
    let (_dir, store) = open();
    let first = ok(store
        .customers()
        .create(person("Ada", "a@x.io"), Some("req-1")));
    let again = ok(store
        .customers()
        .create(person("Ada", "a@x.io"), Some("req-1")));
    assert_eq!(first, again);
    assert_eq!(all(&store, "", "", 0).len(), 1);
}

#[test]
fn pages_visit_everyone_once_in_every_order_while_others_arrive() {
    let (_dir, store) = open();
    let names = ["delta", "Alpha", "charlie", "bravo", "echo"];
    let mut created = Vec::new();
    for i in 0..230 {
        let mut c = person(&format!("{} {i:03}", names[i % 5]), "");
        c.lifecycle_stage = LifecycleStage::ALL[i % 3];
        created.push(ok(store.customers().create(c, None)));
    }
    let ids: Vec<CustomerId> = created.iter().map(|c| c.id).collect();
    assert_eq!(all(&store, "", "", 7), ids);
    assert_eq!(
        all(&store, "", "create_time desc", 9),
        ids.iter().rev().copied().collect::<Vec<_>>()
    );
    let consideration: Vec<CustomerId> = created
        .iter()
        .filter(|c| c.data.lifecycle_stage == LifecycleStage::Consideration)
        .map(|c| c.id)
        .collect();
    assert_eq!(
        all(&store, "lifecycle_stage = CONSIDERATION", "", 10),
        consideration
    );
    let mut by_name = created.clone();
    by_name.sort_by_key(|c| (c.data.display_name.to_lowercase(), c.id));
    assert_eq!(
        all(&store, "", "display_name", 11),
        by_name.iter().map(|c| c.id).collect::<Vec<_>>()
    );

    // Walk pages while new customers arrive: every existing one is seen exactly once, in order.
    let mut seen = Vec::new();
    let mut query = ListQuery {
        page_size: 13,
        ..ListQuery::default()
    };
    loop {
        let page = ok(store.customers().list(&query));
        seen.extend(page.customers.iter().map(|c| c.id));
        ok(store.customers().create(person("latecomer", ""), None));
        if page.next_page_token.is_empty() {
            break;
        }
        query.page_token = page.next_page_token;
    }
    assert_eq!(&seen[..ids.len()], &ids[..]);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        seen.len(),
        "no duplicates"
    );

    // A token belongs to its query.
    let first = ok(store.customers().list(&ListQuery {
        page_size: 5,
        ..ListQuery::default()
    }));
    let other = ListQuery {
        filter: Filter::parse("kind = PERSON").unwrap_or_default(),
        page_token: first.next_page_token,
        ..ListQuery::default()
    };
    assert!(matches!(
        store.customers().list(&other),
        Err(StoreError::Invalid(_))
    ));
    let junk = ListQuery {
        page_token: "!!not-a-token".into(),
        ..ListQuery::default()
    };
    assert!(matches!(
        store.customers().list(&junk),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn everything_is_still_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (id, seq) = {
        let store = support::open_in(dir.path());
        let c = ok(store
            .customers()
            .create(person("Ada", "ada@x.io"), Some("r")));
        (c.id, ok(store.audit().last_change_seq()))
    };
    let store = support::open_in(dir.path());
    assert_eq!(ok(store.customers().get(id)).data.display_name, "Ada");
    assert_eq!(ok(store.audit().last_change_seq()), seq);
    let next = ok(store.customers().create(person("Grace", ""), None));
    assert!(next.id > id, "ids keep growing across restarts");
    assert!(ok(store.verify()).is_clean());
}

#[test]
fn a_second_opener_of_the_same_data_directory_is_told_clearly() {
    // sled's directory holds one process at a time (several share a PostgreSQL database).
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let _first = ok(Store::open(dir.path()));
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Locked { .. })
    ));
}

#[test]
fn the_store_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Store>();
    let (_dir, store) = open();
    let store = Arc::new(store);
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = Arc::clone(&store);
            s.spawn(move || {
                for i in 0..25 {
                    ok(store.customers().create(
                        person(&format!("t{t}-{i}"), &format!("t{t}-{i}@x.io")),
                        None,
                    ));
                }
            });
        }
    });
    assert_eq!(all(&store, "", "", 1000).len(), 100);
    assert!(ok(store.verify()).is_clean());
}

#[test]
fn every_write_leaves_an_audit_record_of_who_changed_which_fields() {
    let (_dir, store) = open();
    let ops = store.with_origin(Origin {
        actor: "key:ops".into(),
        request_id: Some("req-9".into()),
        ..Origin::default()
    });
    let ada = ok(ops.customers().create(person("Ada", "ada@x.io"), None));
    let mut patch = person("", "");
    patch.owner = Some("zeynep".into());
    let mask = ok(UpdateMask::parse(&["owner"]).map_err(StoreError::from));
    ok(store.customers().update(ada.id, &patch, &mask, None));
    let grace = ok(store.customers().create(person("Grace", ""), None));
    ok(ops.customers().delete(ada.id, None));

    let all = ok(store.audit().events(&AuditQuery::default())).events;
    let seen: Vec<(&str, &str, Vec<String>)> = all
        .iter()
        .map(|e| (e.actor.as_str(), e.operation.as_str(), e.fields.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "key:ops",
                "CreateCustomer",
                vec!["person".into(), "display_name".into(), "emails".into()]
            ),
            ("library", "UpdateCustomer", vec!["owner".into()]),
            (
                "library",
                "CreateCustomer",
                vec!["person".into(), "display_name".into()]
            ),
            ("key:ops", "DeleteCustomer", vec![]),
        ]
    );
    assert_eq!(all[0].request_id.as_deref(), Some("req-9"));

    // Ada's history survives her deletion; filters and pages work.
    let of_ada = AuditQuery {
        customer_id: Some(ada.id),
        newest_first: true,
        page_size: 2,
        ..AuditQuery::default()
    };
    let first = ok(store.audit().events(&of_ada));
    assert_eq!(
        first
            .events
            .iter()
            .map(|e| e.operation.as_str())
            .collect::<Vec<_>>(),
        ["DeleteCustomer", "UpdateCustomer"]
    );
    let rest = ok(store.audit().events(&AuditQuery {
        page_token: first.next_page_token,
        ..of_ada
    }));
    assert_eq!(rest.events.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let by_ops = AuditQuery {
        actor: Some("key:ops".into()),
        ..AuditQuery::default()
    };
    assert_eq!(ok(store.audit().events(&by_ops)).events.len(), 2);
    assert!(
        ok(store.audit().events(&AuditQuery {
            customer_id: Some(grace.id),
            ..AuditQuery::default()
        }))
        .events
        .len()
            == 1
    );
    let report = ok(store.verify());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.audit_events, 4);
}
