//! What a customer is worth: the DOMAIN.md example (1,000 TL average sale x 12 purchases a year
//! x 3 years = 36,000 TL) recorded purchase by purchase over three years, and read back exactly.

use chrono::{DateTime, Duration, Utc};
use crm_store::ManualClock;
use crm_tests::*;
use pb::timeline_service_client::TimelineServiceClient;

#[tokio::test]
async fn a_regular_customer_is_worth_what_the_domain_says() {
    let start = at("2023-01-01T09:00:00Z");
    let clock = ManualClock::new(start);
    let server = TestServer::start_with_clock(clock.clone()).await;
    let mut customers = server.client().await;
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let ayse = create(&mut customers, person("Ayşe", "ayse@example.com")).await;

    let value = |customers: &mut Client, id: String| {
        let mut customers = customers.clone();
        async move {
            customers
                .get_customer_value(pb::GetCustomerValueRequest { id })
                .await
                .unwrap_or_else(|s| panic!("value: {s:?}"))
                .into_inner()
                .values
        }
    };
    assert!(
        value(&mut customers, ayse.id.clone()).await.is_empty(),
        "no value before a purchase"
    );

    // 36 purchases of 1,000.00 TL, one a month, recorded as they happen.
    let mut first: Option<DateTime<Utc>> = None;
    for month in 0..36 {
        let now = crm_store::Clock::now(clock.as_ref());
        first.get_or_insert(now);
        timeline
            .record_purchase(pb::RecordPurchaseRequest {
                customer_id: ayse.id.clone(),
                purchase: Some(pb::Purchase {
                    order_ref: format!("SO-{month}"),
                    amount: Some(pb::Money {
                        currency_code: "TRY".into(),
                        amount_minor: 100_000,
                    }),
                    line_items: vec![],
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("purchase {month}: {s:?}"));
        clock.advance(Duration::days(30));
    }
    // Three years (1,095 days) after the first purchase:
    let first = first.unwrap_or(start);
    clock.set(first + Duration::days(1095));
    let values = value(&mut customers, ayse.id.clone()).await;
    let v = &values[0];
    let minor = |m: &Option<pb::Money>| m.as_ref().map_or(0, |m| m.amount_minor);
    assert_eq!(v.currency_code, "TRY");
    assert_eq!(minor(&v.historical_value), 3_600_000, "36 x 1,000.00 TL");
    assert_eq!(minor(&v.average_sale), 100_000, "1,000.00 TL");
    assert_eq!(v.observed_days, 1095);
    assert_eq!(
        v.purchases_per_year, 12.0,
        "36 purchases x 365 / 1,095 days"
    );
    assert_eq!(v.lifespan_years, 3.0);
    assert_eq!(minor(&v.clv), 3_600_000, "1,000 TL x 12 x 3 = 36,000.00 TL");

    // The same figures ride on the customer.
    let read = customers
        .get_customer(pb::GetCustomerRequest { id: ayse.id })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(read.value, values);
    server.stop().await;
}

/// With `--clv-lifespan-from-churn`, a customer's lifespan is one over the portfolio's churn:
/// two early customers who stop buying and one new one make a churn of 100% a year, so a
/// customer is expected to stay one year.
#[tokio::test]
async fn the_lifespan_can_come_from_the_portfolio_s_churn() {
    let start = at("2024-01-01T09:00:00Z");
    let clock = ManualClock::new(start);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = crm_store::StoreConfig::new(dir.path())
        .clock(clock.clone())
        .clv_lifespan_from_churn(true);
    let store = crm_store::Store::open_with(config).unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start_with_store(dir, store).await;
    let mut customers = server.client().await;
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let buy = |id: String, order: &str| pb::RecordPurchaseRequest {
        customer_id: id,
        purchase: Some(pb::Purchase {
            order_ref: order.into(),
            amount: Some(pb::Money {
                currency_code: "EUR".into(),
                amount_minor: 50_000,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    // Ali and Bora buy once on day 0 and never again.
    for (name, email) in [("Ali", "ali@example.com"), ("Bora", "bora@example.com")] {
        let c = create(&mut customers, person(name, email)).await;
        timeline
            .record_purchase(buy(c.id, &format!("{name}-1")))
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
    }
    // 400 days later both have churned (365 days without a purchase); Cem buys for the first
    // time. The year to now started on day 35 with Ali and Bora (both NEW then): 2. It ends
    // with Cem alone, who is new in it: retention (1 - 1) / 2 = 0, churn 1, lifespan 1 year.
    clock.advance(Duration::days(400));
    let cem = create(&mut customers, person("Cem", "cem@example.com")).await;
    timeline
        .record_purchase(buy(cem.id.clone(), "Cem-1"))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));

    // The measurement runs in the background: until it ends, the configured lifespan stands.
    let mut seen = Vec::new();
    let v = loop {
        let values = customers
            .get_customer_value(pb::GetCustomerValueRequest { id: cem.id.clone() })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner()
            .values;
        let v = values
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("Cem has a value"));
        seen.push(v.lifespan_source());
        if v.lifespan_source() == pb::LifespanSource::PortfolioChurn || seen.len() > 600 {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        v.lifespan_source(),
        pb::LifespanSource::PortfolioChurn,
        "{seen:?}"
    );
    assert!(seen.iter().all(|s| matches!(
        s,
        pb::LifespanSource::Configured | pb::LifespanSource::PortfolioChurn
    )));
    assert_eq!(v.annual_churn_rate, 1.0);
    assert_eq!(v.lifespan_years, 1.0);
    // 500.00 EUR a year for one year: 50000 x 365 x 10 / (365 x 10).
    assert_eq!(v.clv.map(|m| m.amount_minor), Some(50_000));
}
