//! The report's arithmetic at its edges.

use super::*;

#[test]
fn a_portfolio_revenue_past_64_bits_is_noticed_not_saturated() {
    let as_of = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let params = ReportParams {
        as_of,
        period_start: as_of - chrono::Duration::days(30),
        currency: "EUR".into(),
        cohort_months: 0,
    };
    let (rules, model, value) = (
        RelationshipRules::default(),
        ScoringModel::default(),
        ValueRules::default(),
    );
    let mut builder = ReportBuilder::new(params, &rules, &model, &value);
    // 9,300 customers at the per-customer limit: more than 64 bits hold together.
    for n in 0..9_300u64 {
        let mut c = Customer {
            erased: None,
            id: crate::customer::CustomerId(n + 1),
            create_time: as_of - chrono::Duration::days(60),
            update_time: as_of - chrono::Duration::days(60),
            version: 1,
            data: crate::customer::CustomerData::person("Whale"),
        };
        c.data.display_name = format!("Whale {n}");
        let entry = TimelineEntry {
            id: crate::timeline::EntryId(n + 1),
            customer_id: c.id,
            occurred_at: as_of - chrono::Duration::days(1),
            recorded_at: as_of,
            actor: "t".into(),
            event: Event::Purchase(crate::timeline::Purchase {
                order_ref: "o".into(),
                amount: crate::money::Money::new("EUR", crate::money::MAX_TOTAL_MINOR),
                line_items: vec![],
            }),
        };
        builder.add(&c, &[entry]);
        if n == 9_000 {
            assert!(
                builder.revenue_fits(),
                "9,001 customers at the limit still fit"
            );
        }
    }
    assert!(!builder.revenue_fits());
}

#[test]
fn quintiles_and_groups() {
    assert_eq!(quintiles(&[10, 20, 30, 40, 50]), [1, 2, 3, 4, 5]);
    assert_eq!(quintiles(&[7, 7, 7]), [1, 1, 1]);
    assert_eq!(rfm_group(5, 5, 5), "champions");
    assert_eq!(rfm_group(5, 1, 1), "new");
    assert_eq!(rfm_group(1, 5, 5), "cannot lose");
    assert_eq!(rfm_group(1, 1, 2), "lost");
    assert_eq!(rfm_group(2, 1, 1), "hibernating");
    assert_eq!(rfm_group(3, 3, 3), "need attention");
}
