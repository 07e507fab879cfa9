//! History recorded late counts where it happened: a portfolio recorded live, as it happened,
//! and the same portfolio imported years later (records created today, every entry backdated
//! to its real time, orders imported newest first) give the same portfolio report as of every
//! moment.

#![allow(clippy::panic)]

mod support;

use chrono::{DateTime, Duration, Utc};
use crm_core::report::{PortfolioReport, ReportParams};
use crm_core::timeline::{Interaction, InteractionKind, Purchase, Refund};
use crm_core::{CustomerData, CustomerId, Money};
use crm_store::{EntryMeta, ManualClock, Store, StoreConfig};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}T10:00:00Z"))
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// What happens to a customer.
#[derive(Clone, Debug)]
enum Fact {
    Contact(InteractionKind),
    Buy(&'static str, i64),
    Refund(&'static str, i64),
    Lost,
}

/// A customer's name, creation day, and what happened to it on which day (in order).
type History = (&'static str, &'static str, Vec<(&'static str, Fact)>);

/// Who, since when, and what happened to them.
fn portfolio() -> Vec<History> {
    use Fact::*;
    use InteractionKind::*;
    vec![
        (
            "Ayşe",
            "2023-01-10",
            vec![
                ("2023-02-01", Contact(Call)),
                ("2023-03-01", Buy("A-1", 120_000)),
                ("2023-06-15", Buy("A-2", 80_000)),
                ("2023-09-01", Buy("A-3", 90_000)),
                ("2023-11-20", Buy("A-4", 40_000)),
                ("2024-01-05", Buy("A-5", 60_000)),
                ("2024-06-01", Contact(Meeting)),
                ("2025-02-01", Buy("A-6", 70_000)),
            ],
        ),
        (
            "Burak",
            "2023-04-02",
            vec![
                ("2023-05-01", Buy("B-1", 300_000)),
                ("2023-05-20", Refund("B-1", 100_000)),
                ("2023-12-01", Lost),
            ],
        ),
        (
            "Cem",
            "2023-08-15",
            vec![
                ("2023-08-20", Contact(Email)),
                ("2024-03-01", Contact(Call)),
                ("2024-04-10", Buy("C-1", 50_000)),
                ("2024-05-10", Buy("C-2", 50_000)),
            ],
        ),
        ("Deniz", "2024-02-01", vec![("2024-02-03", Contact(Chat))]),
        (
            "Ece",
            "2024-09-09",
            vec![
                ("2024-10-01", Buy("E-1", 500_000)),
                ("2025-04-01", Buy("E-2", 250_000)),
                ("2025-05-15", Refund("E-2", 50_000)),
            ],
        ),
    ]
}

fn meta(at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        occurred_at: Some(at),
        ..EntryMeta::default()
    }
}

fn record(store: &Store, id: CustomerId, at: DateTime<Utc>, fact: &Fact) {
    let timeline = store.timeline();
    let done = match fact {
        Fact::Contact(kind) => {
            timeline.record_interaction(id, Interaction::inbound(*kind, "contact", "web"), meta(at))
        }
        Fact::Buy(order, amount) => timeline.record_purchase(
            id,
            Purchase {
                order_ref: (*order).into(),
                amount: Money::new("TRY", *amount),
                line_items: vec![],
            },
            meta(at),
        ),
        Fact::Refund(order, amount) => timeline.record_refund(
            id,
            Refund {
                order_ref: (*order).into(),
                amount: Money::new("TRY", *amount),
                reason: "returned".into(),
            },
            meta(at),
        ),
        Fact::Lost => timeline.mark_lost(id, "went quiet", meta(at)),
    };
    done.unwrap_or_else(|e| panic!("{fact:?} at {at}: {e}"));
}

/// The portfolio recorded as it happened: each customer created on its day, each fact on its
/// day, in time order.
fn live(dir: &std::path::Path) -> Store {
    let clock = ManualClock::new(t("2023-01-01"));
    let store = support::open(StoreConfig::new(dir).clock(clock.clone()));
    let mut happenings: Vec<(DateTime<Utc>, usize, Option<Fact>)> = Vec::new();
    for (n, (_, since, facts)) in portfolio().into_iter().enumerate() {
        happenings.push((t(since), n, None));
        for (day, fact) in facts {
            happenings.push((t(day), n, Some(fact)));
        }
    }
    happenings.sort_by_key(|(at, n, _)| (*at, *n));
    let mut ids = vec![None; portfolio().len()];
    for (at, n, fact) in happenings {
        clock.set(at);
        match fact {
            None => {
                let name = portfolio()[n].0;
                let created = store
                    .customers()
                    .create(CustomerData::person(name), None)
                    .unwrap_or_else(|e| panic!("{e}"));
                // Signing up is the first entry, at the customer's creation.
                record(
                    &store,
                    created.id,
                    at,
                    &Fact::Contact(InteractionKind::Email),
                );
                ids[n] = Some(created.id);
            }
            Some(fact) => {
                let id = ids[n].unwrap_or_else(|| panic!("customer {n} not created yet"));
                record(&store, id, at, &fact);
            }
        }
    }
    clock.set(t("2026-06-01"));
    store
}

/// The same portfolio imported on 2026-06-01: every record created that day, every entry
/// backdated, purchases newest first, then contacts, refunds and losses.
fn imported(dir: &std::path::Path) -> Store {
    let clock = ManualClock::new(t("2026-06-01"));
    let store = support::open(StoreConfig::new(dir).clock(clock));
    for (name, since, facts) in portfolio() {
        let id = store
            .customers()
            .create(CustomerData::person(name), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .id;
        let mut ordered: Vec<(DateTime<Utc>, Fact)> = facts
            .iter()
            .map(|(day, fact)| (t(day), fact.clone()))
            .collect();
        ordered.push((t(since), Fact::Contact(InteractionKind::Email)));
        let rank = |f: &Fact| match f {
            Fact::Buy(..) => 0,
            Fact::Contact(_) => 1,
            Fact::Refund(..) => 2,
            Fact::Lost => 3,
        };
        ordered.sort_by_key(|(at, f)| (rank(f), std::cmp::Reverse(*at)));
        for (at, fact) in ordered {
            record(&store, id, at, &fact);
        }
    }
    store
}

fn report(store: &Store, as_of: DateTime<Utc>) -> PortfolioReport {
    store
        .reports()
        .portfolio(ReportParams {
            as_of,
            period_start: as_of - Duration::days(91),
            currency: "TRY".into(),
            cohort_months: 0,
        })
        .unwrap_or_else(|e| panic!("as of {as_of}: {e}"))
}

#[test]
fn an_imported_history_gives_the_reports_of_the_history_recorded_live() {
    let (a, b) = (
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
    );
    let (live, imported) = (live(a.path()), imported(b.path()));
    let mut as_of = t("2022-12-01");
    let mut compared = 0;
    while as_of <= t("2026-06-01") {
        let (l, i) = (report(&live, as_of), report(&imported, as_of));
        assert_eq!(l, i, "the reports as of {as_of} differ");
        compared += 1;
        as_of += Duration::days(29);
    }
    assert!(compared > 40);
    // Not a vacuous equality: the history is there in the past.
    let mid = report(&imported, t("2024-01-01"));
    assert_eq!(mid.customers, 3);
    assert!(mid.funnel.iter().any(|s| s.median_days_to_next.is_some()));
    assert!(report(&imported, t("2022-12-31")).customers == 0);
}

#[test]
fn an_importer_sets_customer_since_and_past_reports_count_the_customer_from_then() {
    let (a, b) = (
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
    );
    // Live: Filiz became a customer on 2023-01-10 and first bought on 2023-03-01.
    let clock = ManualClock::new(t("2023-01-10"));
    let live = support::open(StoreConfig::new(a.path()).clock(clock.clone()));
    let filiz = live
        .customers()
        .create(CustomerData::person("Filiz"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    clock.set(t("2023-03-01"));
    record(&live, filiz, t("2023-03-01"), &Fact::Buy("F-1", 10_000));
    clock.set(t("2026-06-01"));
    // Imported in 2026: her record says since when she is a customer.
    let clock = ManualClock::new(t("2026-06-01"));
    let imported = support::open(StoreConfig::new(b.path()).clock(clock));
    let mut data = CustomerData::person("Filiz");
    data.customer_since = Some(t("2023-01-10"));
    let copy = imported
        .customers()
        .create(data, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(copy.data.customer_since, Some(t("2023-01-10")));
    record(
        &imported,
        copy.id,
        t("2023-03-01"),
        &Fact::Buy("F-1", 10_000),
    );
    for as_of in ["2023-01-05", "2023-02-01", "2023-03-15", "2024-01-01"] {
        let (l, i) = (report(&live, t(as_of)), report(&imported, t(as_of)));
        assert_eq!(l, i, "as of {as_of}");
    }
    assert_eq!(report(&imported, t("2023-02-01")).customers, 1);
    assert_eq!(report(&imported, t("2023-01-05")).customers, 0);
    // Not in the future.
    let mut later = CustomerData::person("Gül");
    later.customer_since = Some(t("2030-01-01"));
    assert!(imported.customers().create(later, None).is_err());
}
