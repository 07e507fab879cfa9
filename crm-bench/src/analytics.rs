//! The analytics workloads on crm-store: a portfolio of customers with a timeline each, then
//! listing through an index and by scanning, search, segment counts and the portfolio report.

use std::time::Instant;

use anyhow::Result;
use chrono::{Duration, Utc};
use crm_core::report::ReportParams;
use crm_core::timeline::{Interaction, Purchase};
use crm_core::{Filter, InteractionKind, Money, SegmentData};
use crm_store::{Durability, EntryMeta, ListQuery, Store, StoreConfig};

use crate::data;
use crate::stats::{Rng, Sample};

/// Loads `customers` customers with `entries` timeline entries each (3 in 10 purchases, the
/// rest interactions, spread over the last two years), then times each analytics workload and
/// prints one JSON line per workload.
pub fn run(dir: &std::path::Path, customers: u64, entries: u64, cache_bytes: u64) -> Result<()> {
    let store = Store::open_with(
        StoreConfig::new(dir)
            .durability(Durability::Relaxed)
            .cache_bytes(cache_bytes),
    )?;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(customers as usize);
    for n in 0..customers {
        ids.push(store.customers().create(data::customer_data(n), None)?.id);
    }
    let now = Utc::now();
    let mut rng = Rng(42);
    for (n, id) in ids.iter().enumerate() {
        for e in 0..entries {
            let meta = EntryMeta {
                occurred_at: Some(now - Duration::minutes(rng.below(2 * 365 * 24 * 60) as i64)),
                ..EntryMeta::default()
            };
            if e % 10 < 3 {
                let purchase = Purchase {
                    order_ref: format!("SO-{n}-{e}"),
                    amount: Money::new("TRY", 1_000 + rng.below(100_000) as i64),
                    line_items: Vec::new(),
                };
                store.timeline().record_purchase(*id, purchase, meta)?;
            } else {
                let kind = InteractionKind::ALL[rng.below(9) as usize];
                let interaction = Interaction::inbound(kind, "bench", "web");
                store
                    .timeline()
                    .record_interaction(*id, interaction, meta)?;
            }
        }
    }
    store.flush()?;
    eprintln!(
        "analytics: {customers} customers, {} timeline entries loaded in {:.0}s",
        customers * entries,
        started.elapsed().as_secs_f64()
    );
    let print = |name: &str, s: Sample| println!("{}", s.json("crm", customers, name));
    let list = |filter: &str| -> Result<ListQuery> {
        Ok(ListQuery {
            filter: Filter::parse(filter)?,
            page_size: 50,
            ..ListQuery::default()
        })
    };
    let indexed = list(r#"lifecycle_stage = LOYALTY AND tags:"vip""#)?;
    print(
        "filter_indexed_page",
        Sample::run(200, |_| {
            store
                .customers()
                .list(&indexed)
                .map(drop)
                .map_err(Into::into)
        })?,
    );
    let scanned = list(r#"attributes.plan = "gold" AND summary.purchase_count >= 2"#)?;
    print(
        "filter_scanned_page",
        Sample::run(50, |_| {
            store
                .customers()
                .list(&scanned)
                .map(drop)
                .map_err(Into::into)
        })?,
    );
    // Relationship status and lead temperature: from the derived index (brought up to date
    // with the clock before each page), and the same filters as a one-armed OR, which no index
    // serves (a scan evaluating every customer's insight).
    for (name, filter) in [
        ("status", "relationship_status = AT_RISK"),
        ("temperature", "lead_temperature = HOT"),
    ] {
        let query = list(filter)?;
        print(
            &format!("filter_{name}_indexed_page"),
            Sample::run(200, |_| {
                store.customers().list(&query).map(drop).map_err(Into::into)
            })?,
        );
        let scan = ListQuery {
            filter: Filter::Or(vec![query.filter.clone()]),
            ..query.clone()
        };
        print(
            &format!("filter_{name}_scanned_page"),
            Sample::run(50, |_| {
                store.customers().list(&scan).map(drop).map_err(Into::into)
            })?,
        );
    }
    let counts = store.customers().counts()?;
    eprintln!(
        "by status {:?}; by temperature {:?}",
        counts.by_status, counts.by_temperature
    );
    print(
        "customer_counts",
        Sample::run(20, |_| {
            store.customers().counts().map(drop).map_err(Into::into)
        })?,
    );
    let queries = [
        "ayse",
        "yilmaz kaya",
        "mert dog",
        "customer12",
        "5320000123",
    ];
    print(
        "search",
        Sample::run(500, |i| {
            store
                .customers()
                .search(queries[i as usize % queries.len()], 20, "")
                .map(drop)
                .map_err(Into::into)
        })?,
    );
    let segment = |name: &str, filter: &str| {
        store.segments().create(SegmentData {
            name: name.into(),
            description: String::new(),
            filter: filter.into(),
            purpose: None,
        })
    };
    let by_index = segment("loyal vips", r#"lifecycle_stage = LOYALTY AND tags:"vip""#)?;
    print(
        "segment_count_indexed",
        Sample::run(5, |_| {
            store
                .segments()
                .count(by_index.id)
                .map(drop)
                .map_err(Into::into)
        })?,
    );
    let by_scan = segment(
        "gold repeat buyers",
        r#"attributes.plan = "gold" AND summary.purchase_count >= 2"#,
    )?;
    print(
        "segment_count_scanned",
        Sample::run(3, |_| {
            store
                .segments()
                .count(by_scan.id)
                .map(drop)
                .map_err(Into::into)
        })?,
    );
    for (name, filter) in [
        ("segment_count_stage", "lifecycle_stage = LOYALTY"),
        ("segment_count_status", "relationship_status = AT_RISK"),
    ] {
        let kept = segment(name, filter)?;
        print(
            name,
            Sample::run(20, |_| {
                store
                    .segments()
                    .count(kept.id)
                    .map(drop)
                    .map_err(Into::into)
            })?,
        );
    }
    // A new scoring model: the next status or temperature query rebuilds the derived index.
    let hot = list("lead_temperature = HOT")?;
    print(
        "derived_rebuild_after_model_change",
        Sample::run(2, |_| {
            let model = store.insights().scoring_model().as_ref().clone();
            store.insights().replace_scoring_model(model, None)?;
            store.customers().list(&hot).map(drop).map_err(Into::into)
        })?,
    );
    let params = ReportParams {
        as_of: Utc::now(),
        period_start: Utc::now() - Duration::days(91),
        currency: "TRY".into(),
        cohort_months: 0,
    };
    print(
        "portfolio_report",
        Sample::run(2, |_| {
            store
                .reports()
                .portfolio(params.clone())
                .map(drop)
                .map_err(Into::into)
        })?,
    );
    Ok(())
}
