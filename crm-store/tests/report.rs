//! The portfolio report on a fixture portfolio whose every figure was worked out by hand; the
//! arithmetic is written beside each expectation.
//!
//! Six customers, all created on 2025-01-01 at AWARENESS; report as of 2026-07-01, period from
//! 2026-01-01, in TRY (amounts in kuruş: 100000 = 1,000.00 TL); default rules (NEW 90 days,
//! AT_RISK 180 days or 2x the usual interval, CHURNED 365 days, LOYAL 4 purchases in 365 days,
//! CLV lifespan 3 years).
//!
//! | | purchases (TRY) | other |
//! |---|---|---|
//! | A | 2025-03-01, 2025-09-01, 2026-02-01, 2026-05-01, 2026-06-01, 1,000.00 each | |
//! | B | 2025-06-01 500.00 | |
//! | C | 2026-03-01, 2026-04-01, 2,000.00 each | |
//! | D | none | |
//! | E (organization) | 2025-02-01 3,000.00 | marked lost 2025-12-01 |
//! | F | 2026-06-15 100.00 | refund 50.00 on 2026-06-20 |

#![allow(clippy::panic)]

mod support;

use chrono::{DateTime, Utc};
use crm_core::Filter;
use crm_core::report::ReportParams;
use crm_core::timeline::{Purchase, Refund};
use crm_core::{
    CustomerData, CustomerId, CustomerKind, LifecycleStage, LifespanSource, Money,
    RelationshipStatus, Temperature,
};
use crm_store::{EntryMeta, ListQuery, ManualClock, Store, StoreConfig};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}T00:00:00Z"))
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn buy(store: &Store, id: CustomerId, n: usize, day: &str, amount: i64) {
    let purchase = Purchase {
        order_ref: format!("SO-{n}"),
        amount: Money::new("TRY", amount),
        line_items: vec![],
    };
    let meta = EntryMeta {
        occurred_at: Some(t(day)),
        ..EntryMeta::default()
    };
    store
        .timeline()
        .record_purchase(id, purchase, meta)
        .unwrap_or_else(|e| panic!("{day}: {e}"));
}

#[test]
fn the_fixture_portfolio_gives_the_hand_computed_figures() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(t("2025-01-01"));
    let store = support::open(StoreConfig::new(dir.path()).clock(clock.clone()));
    let person = |name: &str| CustomerData::person(name);
    let create = |data| {
        store
            .customers()
            .create(data, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .id
    };
    let a = create(person("A"));
    let b = create(person("B"));
    let c = create(person("C"));
    let _d = create(person("D"));
    let e = create(CustomerData::organization("E"));
    let f = create(person("F"));
    clock.set(t("2026-07-01"));
    for (n, day) in [
        "2025-03-01",
        "2025-09-01",
        "2026-02-01",
        "2026-05-01",
        "2026-06-01",
    ]
    .iter()
    .enumerate()
    {
        buy(&store, a, n, day, 100_000);
    }
    buy(&store, b, 0, "2025-06-01", 50_000);
    buy(&store, c, 0, "2026-03-01", 200_000);
    buy(&store, c, 1, "2026-04-01", 200_000);
    buy(&store, e, 0, "2025-02-01", 300_000);
    let lost_on = EntryMeta {
        occurred_at: Some(t("2025-12-01")),
        ..EntryMeta::default()
    };
    store
        .timeline()
        .mark_lost(e, "switched to a competitor", lost_on)
        .unwrap_or_else(|e| panic!("{e}"));
    buy(&store, f, 0, "2026-06-15", 10_000);
    let refund = Refund {
        order_ref: "SO-0".into(),
        amount: Money::new("TRY", 5_000),
        reason: "half returned".into(),
    };
    let refunded_on = EntryMeta {
        occurred_at: Some(t("2026-06-20")),
        ..EntryMeta::default()
    };
    store
        .timeline()
        .record_refund(f, refund, refunded_on)
        .unwrap_or_else(|e| panic!("{e}"));

    let r = store
        .reports()
        .portfolio(ReportParams {
            as_of: t("2026-07-01"),
            period_start: t("2026-01-01"),
            currency: "try".into(),
            cohort_months: 0,
        })
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(r.customers, 6);
    assert_eq!(r.by_kind[&CustomerKind::Person], 5);
    assert_eq!(r.by_kind[&CustomerKind::Organization], 1);
    // A: 5 purchases, the 5th (2026-06-01) makes 4 within 273 days -> LOYALTY. B, E, F bought
    // once -> PURCHASE; C twice -> RETENTION; D never -> AWARENESS.
    use LifecycleStage::*;
    let stages: Vec<(LifecycleStage, u64)> = r.by_stage.clone().into_iter().collect();
    assert_eq!(
        stages,
        [(Awareness, 1), (Purchase, 3), (Retention, 1), (Loyalty, 1)]
    );
    // At 2026-07-01: A last bought 30 days ago, usual interval 457/4 = 114.25 days, 4 purchases
    // since 2025-07-01 -> LOYAL. B: 395 days of silence -> CHURNED. C: first purchase 122 days
    // ago (not NEW), 91 days of silence > 2 x 31 -> AT_RISK. D -> PROSPECT. E: lost after its
    // last purchase -> CHURNED. F: first purchase 16 days ago -> NEW.
    use RelationshipStatus::*;
    let statuses: Vec<(RelationshipStatus, u64)> = r.by_status.clone().into_iter().collect();
    assert_eq!(
        statuses,
        [
            (Prospect, 1),
            (New, 1),
            (Loyal, 1),
            (AtRisk, 1),
            (Churned, 2)
        ]
    );
    // No interactions: fit only (E, an organization: 10 points) -> everyone COLD.
    assert_eq!(r.by_temperature.get(&Temperature::Cold), Some(&6));

    // Funnel: all 6 reached AWARENESS; A, B, C, E, F jumped to PURCHASE (so reached
    // CONSIDERATION then too); A and C reached RETENTION; A LOYALTY.
    let reached: Vec<u64> = r.funnel.iter().map(|s| s.reached).collect();
    assert_eq!(reached, [6, 5, 5, 2, 1, 0]);
    let conversion: Vec<Option<f64>> = r.funnel.iter().map(|s| s.conversion_to_next).collect();
    assert_eq!(
        conversion,
        [
            Some(5.0 / 6.0),
            Some(1.0),
            Some(0.4),
            Some(0.5),
            Some(0.0),
            None
        ]
    );
    // Days from 2025-01-01 to the first purchase: E 31, A 59, B 151, C 424, F 530 -> median
    // 151. CONSIDERATION -> PURCHASE: the same moment, 0. PURCHASE -> RETENTION: C 31 days,
    // A 184 days -> median 107.5. RETENTION -> LOYALTY: A, 2025-09-01 to 2026-06-01 = 273.
    let days: Vec<Option<f64>> = r.funnel.iter().map(|s| s.median_days_to_next).collect();
    assert_eq!(
        days,
        [Some(151.0), Some(0.0), Some(107.5), Some(273.0), None, None]
    );

    // At 2026-01-01 the customers were A (silent 122 days, usual 184) and B (AT_RISK, not yet
    // churned): 2. At the end: A, C, F: 3. New in the period: C, F: 2.
    // Retention = (3 - 2) / 2 = 0.5; churn = 0.5.
    assert_eq!(
        (r.customers_at_start, r.customers_at_end, r.new_in_period),
        (2, 3, 2)
    );
    assert_eq!((r.retention_rate, r.churn_rate), (Some(0.5), Some(0.5)));
    // Kept: of A and B, only A is still a customer at the end (B churned): 1, rate 0.5.
    assert_eq!((r.customers_kept, r.kept_rate), (1, Some(0.5)));

    // Revenue from 2026-01-01: A 3 x 100000 = 300000, C 400000, F 10000 - 5000 = 5000:
    // 705000 from 3 paying customers; the top 20% (ceil(3/5) = 1) is C: 400000 / 705000.
    assert_eq!((r.revenue_minor, r.paying_customers), (705_000, 3));
    assert_eq!(r.top20_revenue_share, Some(400_000.0 / 705_000.0));
    // The concentration curve: the top 10-30% is C (ceil(3k/10) = 1), 40-60% C and A, then all.
    let (just_c, c_and_a) = (400_000.0 / 705_000.0, 700_000.0 / 705_000.0);
    assert_eq!(
        r.revenue_concentration,
        [
            just_c, just_c, just_c, c_and_a, c_and_a, c_and_a, 1.0, 1.0, 1.0, 1.0
        ]
    );

    // CLV = net x 365 x 30 / (observed days x 10), observed = days since the first purchase,
    // at least 365:
    //   A: 500000 x 10950 / 4870 (487 days)  = 1,124,229.98 -> 1,124,230
    //   B:  50000 x 10950 / 3950 (395 days)  =   138,607.59 ->   138,608
    //   C: 400000 x 10950 / 3650 (122 -> 365) = 1,200,000
    //   E: 300000 x 10950 / 5150 (515 days)  =   637,864.08 ->   637,864
    //   F:   5000 x 10950 / 3650 (16 -> 365) =    15,000
    // mean 3,115,702 / 5 = 623,140.4 -> 623,140; median 637,864; p90 (index 3.6 -> 4) 1,200,000.
    assert_eq!(r.clv_mean_minor, Some(623_140));
    assert_eq!(r.clv_median_minor, Some(637_864));
    assert_eq!(r.clv_p90_minor, Some(1_200_000));
    // Deciles, nearest rank over F, B, E, A, C: position round(4 x k/10).
    assert_eq!(
        r.clv_deciles_minor,
        [
            15_000, 15_000, 138_608, 138_608, 637_864, 637_864, 637_864, 1_124_230, 1_124_230,
            1_200_000, 1_200_000
        ]
    );

    // RFM over A, B, C, E, F. Recency days 30, 395, 91, 515, 16 -> R: F 5, A 4, C 3, B 2, E 1.
    // Purchases 5, 1, 2, 1, 1 -> F: A 5, C 4 (three values below it), B = E = F 1.
    // Net 500000, 50000, 400000, 300000, 5000 -> M: A 5, C 4, E 3, B 2, F 1.
    // FM = ceil((F + M) / 2): A 5, B 2, C 4, E 2, F 1 -> A (R4, FM5) loyal, C (R3, FM4) loyal,
    // B (R2, FM2) hibernating, E (R1, FM2) lost, F (R5, FM1) new.
    let groups: Vec<(&str, u64)> = r.rfm_groups.clone().into_iter().collect();
    assert_eq!(
        groups,
        [("hibernating", 1), ("lost", 1), ("loyal", 2), ("new", 1)]
    );

    // Cohorts by month of first purchase, each of one customer.
    let months: Vec<&str> = r.cohorts.iter().map(|c| c.month.as_str()).collect();
    assert_eq!(
        months,
        ["2025-02", "2025-03", "2025-06", "2026-03", "2026-06"]
    );
    assert!(r.cohorts.iter().all(|c| c.customers == 1));
    // A (2025-03) bought in months 0, 6, 11, 14 and 15 of its 17 (to 2026-07).
    let a_cohort = &r.cohorts[1].retention;
    assert_eq!(a_cohort.len(), 17);
    let bought: Vec<usize> = (0..17).filter(|&m| a_cohort[m] == 1.0).collect();
    assert_eq!(bought, [0, 6, 11, 14, 15]);
    // C (2026-03) bought in months 0 and 1 of 5; F (2026-06) in month 0 of 2.
    assert_eq!(r.cohorts[3].retention, [1.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(r.cohorts[4].retention, [1.0, 0.0]);

    // The same groups and values filter a listing (the store's clock stands at 2026-07-01).
    let listed = |filter: &str| -> Vec<CustomerId> {
        store
            .customers()
            .list(&ListQuery {
                filter: Filter::parse(filter).unwrap_or_else(|e| panic!("{e}")),
                ..ListQuery::default()
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .customers
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(listed(r#"rfm_group = "loyal""#), [a, c]);
    assert_eq!(listed("rfm_group = hibernating"), [b]);
    assert_eq!(listed(r#"rfm_group = "new" OR rfm_group = "lost""#), [e, f]);
    // CLV above 10,000.00 TL: A (1,124,230) and C (1,200,000). In euros: nobody bought any.
    assert_eq!(listed("clv.TRY > 1000000"), [a, c]);
    assert_eq!(listed("clv.try > 1000000"), [a, c]);
    assert!(listed("clv.EUR > 0").is_empty());
    // A bare clv would compare kuruş with cents: refused, saying how to write it.
    let bare = crm_core::Filter::parse("clv > 1000000").err();
    let message = bare.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("clv.EUR"), "{message}");

    // Asked about the present, the report's counts are the ones the store keeps (write-batch
    // counts, derived index); asked about a past instant, they come from its pass. A day later,
    // the report as of 2026-07-01 is a report about the past: the same counts.
    let counts = store.customers().counts().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.total(), 6);
    assert_eq!(counts.by_stage(), r.by_stage);
    clock.set(t("2026-07-02"));
    let past = store
        .reports()
        .portfolio(r.params.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            &past.by_kind,
            &past.by_stage,
            &past.by_status,
            &past.by_temperature
        ),
        (&r.by_kind, &r.by_stage, &r.by_status, &r.by_temperature)
    );

    // With the CLV lifespan derived from churn. The year to 2026-07-01 starts on 2025-07-01
    // with A (one purchase, 122 days ago: ACTIVE), B (NEW) and E (ACTIVE): 3 customers. At its
    // end: A, C, F (B churned, E was lost): 3, of whom C and F are new in the year: 2.
    // Retention = (3 - 2) / 3 = 1/3, churn = 2/3, lifespan = 1 / (2/3) = 1.5 years.
    drop(store);
    clock.set(t("2026-07-01"));
    let config = StoreConfig::new(dir.path())
        .clock(clock.clone())
        .clv_lifespan_from_churn(true);
    let store = support::open(config);
    let rules = store
        .insights()
        .refresh_clv_lifespan()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules.lifespan_tenths, 15);
    assert_eq!(
        rules.lifespan_source,
        LifespanSource::PortfolioChurn {
            annual_churn_milli: 667
        }
    );
    // C: 400000 net over 365 observed days: 400000 x 365 x 15 / (365 x 10) = 600000 (it was
    // 1,200,000 at 3 years).
    let customer = store.customers().get(c).unwrap_or_else(|e| panic!("{e}"));
    let value = store
        .insights()
        .insight(&customer)
        .unwrap_or_else(|e| panic!("{e}"))
        .value;
    assert_eq!(value[0].clv_minor, 600_000);
    assert_eq!(value[0].lifespan_source, rules.lifespan_source);
}

/// The report's definitions where they part from their naive reading: retention can leave
/// [0, 1] and the kept rate cannot; concentration is a share of the paying customers' revenue;
/// a median of an even count is the mean of the two middle values.
///
/// | | purchases (TRY) | other |
/// |---|---|---|
/// | X | 2025-12-01 1,000.00 | |
/// | N1, N2, N3 | 2026-02-01 100.00, 120.00, 140.00 | each marked lost 2026-03-01 |
/// | P | 2026-04-01 1,000.00 | |
/// | R | 2025-11-01 500.00 | refund 400.00 on 2026-05-01 |
#[test]
fn retention_kept_rate_concentration_and_medians_follow_their_stated_definitions() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(t("2025-01-01"));
    let store = support::open(StoreConfig::new(dir.path()).clock(clock.clone()));
    let create = |name: &str| {
        store
            .customers()
            .create(CustomerData::person(name), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .id
    };
    let (x, p, r) = (create("X"), create("P"), create("R"));
    let news = [create("N1"), create("N2"), create("N3")];
    clock.set(t("2026-07-01"));
    buy(&store, x, 0, "2025-12-01", 100_000);
    for (i, n) in news.iter().enumerate() {
        buy(&store, *n, 10 + i, "2026-02-01", 10_000 + 2_000 * i as i64);
        let lost_on = EntryMeta {
            occurred_at: Some(t("2026-03-01")),
            ..EntryMeta::default()
        };
        store
            .timeline()
            .mark_lost(*n, "one-off", lost_on)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    buy(&store, p, 20, "2026-04-01", 100_000);
    buy(&store, r, 30, "2025-11-01", 50_000);
    let refund = Refund {
        order_ref: "SO-30".into(),
        amount: Money::new("TRY", 40_000),
        reason: "most of it returned".into(),
    };
    let refunded_on = EntryMeta {
        occurred_at: Some(t("2026-05-01")),
        ..EntryMeta::default()
    };
    store
        .timeline()
        .record_refund(r, refund, refunded_on)
        .unwrap_or_else(|e| panic!("{e}"));

    let report = store
        .reports()
        .portfolio(ReportParams {
            as_of: t("2026-07-01"),
            period_start: t("2026-01-01"),
            currency: "TRY".into(),
            cohort_months: 0,
        })
        .unwrap_or_else(|e| panic!("{e}"));

    // At the start: X and R (bought, not churned): 2. At the end: X, P, R: 3 (the three N
    // were lost). New in the period: N1, N2, N3, P: 4. Retention = (3 - 4) / 2 = -0.5, below
    // zero as documented; kept = X and R = 2 of 2 -> kept rate 1.0.
    assert_eq!(
        (
            report.customers_at_start,
            report.customers_at_end,
            report.new_in_period
        ),
        (2, 3, 4)
    );
    assert_eq!(report.retention_rate, Some(-0.5));
    assert_eq!((report.customers_kept, report.kept_rate), (2, Some(1.0)));

    // Revenue in the period: N 10000 + 12000 + 14000 + P 100000 - R 40000 = 96000. Paying
    // customers (net above zero): N1, N2, N3, P = 136000; the top 20% (ceil(4/5) = 1) is P:
    // 100000 / 136000, not 100000 / 96000.
    assert_eq!((report.revenue_minor, report.paying_customers), (96_000, 4));
    assert_eq!(report.top20_revenue_share, Some(100_000.0 / 136_000.0));

    // Six customers have purchases in TRY: an even count, so the median CLV is the mean of the
    // two middle values, rounded half away from zero.
    let mut clvs: Vec<i64> = [x, p, r, news[0], news[1], news[2]]
        .iter()
        .map(|id| {
            let customer = store.customers().get(*id).unwrap_or_else(|e| panic!("{e}"));
            let insight = store
                .insights()
                .insight(&customer)
                .unwrap_or_else(|e| panic!("{e}"));
            insight.value[0].clv_minor
        })
        .collect();
    clvs.sort_unstable();
    assert_ne!(
        clvs[2], clvs[3],
        "the two middle values must differ to tell the conventions apart"
    );
    let middle = i128::from(clvs[2]) + i128::from(clvs[3]);
    let expected = i64::try_from((middle + 1) / 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.clv_median_minor, Some(expected));
}
