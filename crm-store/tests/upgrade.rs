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

/// A summary as version 1 wrote it (before per-currency purchases), field for field.
#[derive(serde::Serialize)]
struct SummaryV1 {
    purchase_count: u64,
    refund_count: u64,
    totals: std::collections::BTreeMap<String, (i64, i64)>,
    first_purchase: Option<i64>,
    last_purchase: Option<i64>,
    recent_purchases: Vec<i64>,
    interaction_count: u64,
    last_interaction: Option<i64>,
    engagement: std::collections::BTreeMap<crm_core::InteractionKind, Vec<i64>>,
    qualification: Option<()>,
    lost: Option<()>,
    advocate_since: Option<i64>,
}

#[test]
fn a_format_2_summary_with_two_currencies_is_recomputed_per_currency() {
    use chrono::{Duration, Utc};
    use crm_core::timeline::Purchase;
    use crm_core::{CustomerData, Money};
    use crm_store::EntryMeta;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = Utc::now();
    let at = |days: i64| EntryMeta {
        occurred_at: Some(now - Duration::days(days)),
        ..EntryMeta::default()
    };
    let buy = |order: &str, currency: &str, amount: i64| Purchase {
        order_ref: order.into(),
        amount: Money::new(currency, amount),
        line_items: vec![],
    };
    let id = {
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let id = store
            .customers()
            .create(CustomerData::person("Deniz"), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .id;
        for (n, days) in [(0, 700), (1, 400), (2, 20)] {
            store
                .timeline()
                .record_purchase(id, buy(&format!("t{n}"), "TRY", 300_000), at(days))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        store
            .timeline()
            .record_purchase(id, buy("e0", "EUR", 50_000), at(30))
            .unwrap_or_else(|e| panic!("{e}"));
        id
    };
    // Rewrite the summary as the previous release kept it, and the directory as format 2.
    {
        use crm_store::engine::sled::{SledEngine, SledOptions};
        use crm_store::engine::{Engine, EngineError, transact};
        let engine =
            SledEngine::open(&SledOptions::new(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        let micros = |days: i64| (now - Duration::days(days)).timestamp_micros();
        let old = SummaryV1 {
            purchase_count: 4,
            refund_count: 0,
            totals: [
                ("EUR".to_owned(), (50_000, 0)),
                ("TRY".to_owned(), (900_000, 0)),
            ]
            .into_iter()
            .collect(),
            first_purchase: Some(micros(700)),
            last_purchase: Some(micros(20)),
            recent_purchases: vec![micros(20), micros(30), micros(400), micros(700)],
            interaction_count: 0,
            last_interaction: None,
            engagement: Default::default(),
            qualification: None,
            lost: None,
            advocate_since: None,
        };
        let mut bytes = vec![1u8];
        bytes.extend(
            bincode::serde::encode_to_vec(&old, bincode::config::standard())
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let mut key = vec![b'S'];
        key.extend_from_slice(&id.0.to_be_bytes());
        transact(&engine, |tx| {
            tx.put(&key, &bytes);
            tx.put(b"Mformat", &[2]);
            Ok::<_, EngineError>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        engine.sync().unwrap_or_else(|e| panic!("{e}"));
    }
    let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let summary = store
        .timeline()
        .summary(id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.totals["EUR"].purchases, 1);
    assert_eq!(summary.totals["TRY"].purchases, 3);
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    let customer = store.customers().get(id).unwrap_or_else(|e| panic!("{e}"));
    let insight = store
        .insights()
        .insight(&customer)
        .unwrap_or_else(|e| panic!("{e}"));
    let eur = insight.value.iter().find(|v| v.currency == "EUR");
    assert_eq!(
        eur.map(|v| (v.purchases, v.average_sale_minor)),
        Some((1, 50_000))
    );
}
