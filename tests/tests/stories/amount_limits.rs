//! Amounts stay where every figure computed from them fits 64 bits: a purchase that would take
//! a customer's total in a currency past 10^15 minor units is refused and changes nothing, and
//! a customer at the limit gets its exact CLV, not a saturated one.

#![allow(clippy::panic)]

use crm_tests::*;
use tonic::Code;

const LIMIT: i64 = 1_000_000_000_000_000;

fn purchase(customer_id: &str, order_ref: &str, amount_minor: i64) -> pb::RecordPurchaseRequest {
    pb::RecordPurchaseRequest {
        customer_id: customer_id.into(),
        purchase: Some(pb::Purchase {
            order_ref: order_ref.into(),
            amount: Some(pb::Money {
                currency_code: "EUR".into(),
                amount_minor,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_past_the_total_limit_is_refused_and_values_at_the_limit_are_exact() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut client = server.client().await;
    let mut timeline = pb::timeline_service_client::TimelineServiceClient::new(channel.clone());
    let whale = create(&mut client, person("Whale", "")).await;

    // One amount past the limit.
    let status = timeline
        .record_purchase(purchase(&whale.id, "too-big", LIMIT + 1))
        .await
        .err()
        .unwrap_or_else(|| panic!("an amount past the limit was accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["purchase.amount.amount_minor"]);

    // Up to the limit, then one more minor unit: refused, and nothing of it is recorded.
    for (n, amount) in [LIMIT / 2, LIMIT / 2].iter().enumerate() {
        timeline
            .record_purchase(purchase(&whale.id, &format!("SO-{n}"), *amount))
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
    }
    let status = timeline
        .record_purchase(purchase(&whale.id, "one-more", 1))
        .await
        .err()
        .unwrap_or_else(|| panic!("a purchase past the customer's total was accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["purchase.amount.amount_minor"]);
    let entries = timeline
        .list_timeline(pb::ListTimelineRequest {
            customer_id: whale.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .entries;
    assert!(entries.len() >= 2);
    assert!(
        !format!("{entries:?}").contains("one-more"),
        "the refused purchase was recorded"
    );

    // At the limit: net 10^15, two purchases, observed one year -> CLV = 10^15 x 3 years.
    let value = client
        .get_customer_value(pb::GetCustomerValueRequest {
            id: whale.id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let eur = &value.values[0];
    assert_eq!(
        eur.historical_value.as_ref().map(|m| m.amount_minor),
        Some(LIMIT)
    );
    assert_eq!(eur.clv.as_ref().map(|m| m.amount_minor), Some(3 * LIMIT));
}
