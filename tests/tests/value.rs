//! What a customer is worth: the DOMAIN.md example (1,000 TL average sale x 12 purchases a year
//! x 3 years = 36,000 TL) recorded purchase by purchase over three years, and read back exactly.

use chrono::{DateTime, Duration, Utc};
use crm_store::ManualClock;
use crm_tests::*;
use pb::timeline_service_client::TimelineServiceClient;

#[tokio::test]
async fn a_regular_customer_is_worth_what_the_domain_says() {
    let start = DateTime::parse_from_rfc3339("2023-01-01T09:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{e}"));
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
