//! Segments through the library: saved, renamed, refused when the name is taken, deleted, with
//! `verify()` clean after every step.

#![allow(clippy::panic)]

mod support;

use crm_core::SegmentData;
use crm_store::{Store, StoreError};

fn clean(store: &Store) {
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn segments_keep_their_names_unique_and_verify_clean() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = support::open_in(dir.path());
    let data = |name: &str| SegmentData {
        purpose: None,
        name: name.into(),
        description: "who they are".into(),
        filter: "kind = PERSON".into(),
    };
    let vips = store
        .segments()
        .create(data("VIPs"))
        .unwrap_or_else(|e| panic!("{e}"));
    let _hot = store
        .segments()
        .create(data("Hot leads"))
        .unwrap_or_else(|e| panic!("{e}"));
    clean(&store);
    assert_eq!(store.verify().map(|r| r.segments).ok(), Some(2));

    let taken = store.segments().create(data("  vips "));
    assert!(
        matches!(taken, Err(StoreError::AlreadyExists { .. })),
        "{taken:?}"
    );
    let renamed = store
        .segments()
        .update(vips.id, data("Top customers"), &["name".into()], Some("v1"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (renamed.data.name.as_str(), renamed.version),
        ("Top customers", 2)
    );
    // The old name is free again; the new one is taken.
    store
        .segments()
        .create(data("VIPs"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(store.segments().create(data("top customers")).is_err());
    clean(&store);

    let bad = store.segments().update(
        vips.id,
        SegmentData {
            filter: "kind = ROBOT".into(),
            ..data("x")
        },
        &["filter".into()],
        None,
    );
    match bad {
        Err(StoreError::Invalid(v)) => assert_eq!(v.0[0].field, "segment.filter"),
        other => panic!("a bad filter: {other:?}"),
    }
    store
        .segments()
        .delete(vips.id, Some("v2"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        store.segments().get(vips.id),
        Err(StoreError::NotFound { .. })
    ));
    clean(&store);
    assert_eq!(
        store.segments().list(0, "").map(|p| p.segments.len()).ok(),
        Some(2)
    );
}

/// However a segment is counted (kept counts, the derived index, or a pass over its members),
/// the count is the number of members its listing returns.
#[test]
fn every_way_of_counting_gives_the_listing_s_length() {
    use crm_core::{CustomerData, LifecycleStage, Organization, Party, Person};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = support::open_in(dir.path());
    for i in 0..9 {
        let party = if i % 3 == 0 {
            Party::Organization(Organization {
                legal_name: format!("Org {i}"),
                ..Organization::default()
            })
        } else {
            Party::Person(Person {
                given_name: format!("P{i}"),
                ..Person::default()
            })
        };
        let mut data = CustomerData::new(party);
        data.lifecycle_stage = LifecycleStage::ALL[i % 3];
        store
            .customers()
            .create(data, None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let filters = [
        "",
        "kind = PERSON",
        "lifecycle_stage = CONSIDERATION",
        "kind = ORGANIZATION AND lifecycle_stage = AWARENESS",
        "kind = ORGANIZATION AND kind = PERSON",
        "relationship_status = PROSPECT",
        "lead_temperature = COLD",
        "lead_temperature = HOT",
        "display_name = \"P1\"",
    ];
    for (n, filter) in filters.into_iter().enumerate() {
        let segment = store
            .segments()
            .create(SegmentData {
                purpose: None,
                name: format!("s{n}"),
                description: String::new(),
                filter: filter.into(),
            })
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let members = store
            .segments()
            .members(segment.id, 1000, String::new())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(members.next_page_token.is_empty());
        assert_eq!(
            store.segments().count(segment.id).ok(),
            Some(members.customers.len() as u64),
            "{filter}"
        );
    }
    clean(&store);
}

/// Who changed which segment and the scoring model, and which fields: the configuration trail,
/// written with each change, listed like the customers' audit trail.
#[test]
fn configuration_changes_leave_a_trail() {
    use crm_store::{AuditQuery, Origin};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = support::open_in(dir.path());
    let zeynep = store.with_origin(Origin {
        actor: "zeynep".into(),
        request_id: Some("req-7".into()),
        ..Origin::default()
    });
    let segment = zeynep
        .segments()
        .create(SegmentData {
            purpose: None,
            name: "VIPs".into(),
            description: String::new(),
            filter: r#"tags:"vip""#.into(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let patch = SegmentData {
        description: "our best".into(),
        ..segment.data.clone()
    };
    store
        .segments()
        .update(segment.id, patch, &["description".into()], None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut model = store.insights().scoring_model().as_ref().clone();
    model.hot_threshold = 80;
    store
        .insights()
        .replace_scoring_model(model, None)
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .segments()
        .delete(segment.id, None)
        .unwrap_or_else(|e| panic!("{e}"));

    let trail = store
        .audit()
        .events(&AuditQuery {
            configuration: true,
            ..AuditQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .events;
    let subject = format!("segment {}", segment.id);
    let seen: Vec<(&str, &str, &str, Vec<&str>)> = trail
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.operation.as_str(),
                e.subject.as_str(),
                e.fields.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "zeynep",
                "CreateSegment",
                subject.as_str(),
                vec!["name", "filter"]
            ),
            (
                "library",
                "UpdateSegment",
                subject.as_str(),
                vec!["description"]
            ),
            (
                "library",
                "UpdateScoringModel",
                "scoring model",
                vec!["hot_threshold"]
            ),
            ("library", "DeleteSegment", subject.as_str(), vec![]),
        ]
    );
    assert_eq!(trail[0].request_id.as_deref(), Some("req-7"));
    assert!(trail.iter().all(|e| e.customer_id.is_none()));
    assert!(trail.windows(2).all(|w| w[0].seq < w[1].seq));
    // The customers' trail is not mixed with it, and a customer filter makes no sense here.
    let customers = store.audit().events(&AuditQuery::default());
    assert_eq!(customers.map(|p| p.events.len()).ok(), Some(0));
    let both = store.audit().events(&AuditQuery {
        configuration: true,
        customer_id: Some(crm_core::CustomerId(1)),
        ..AuditQuery::default()
    });
    assert!(matches!(both, Err(StoreError::Invalid(_))));
    // The sequence goes on after a restart.
    drop(store);
    drop(zeynep);
    let store = support::open_in(dir.path());
    store
        .segments()
        .create(SegmentData {
            purpose: None,
            name: "Again".into(),
            description: String::new(),
            filter: String::new(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let trail = store
        .audit()
        .events(&AuditQuery {
            configuration: true,
            newest_first: true,
            ..AuditQuery::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .events;
    assert_eq!(trail.len(), 5);
    assert_eq!(trail[0].seq, 5);
    clean(&store);
}
