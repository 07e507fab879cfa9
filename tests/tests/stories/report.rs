//! The portfolio report over gRPC: a small book of business read back as a dashboard would,
//! and a report asked without a currency refused precisely. (The figures themselves are
//! checked against hand-computed answers in crm-store/tests/report.rs.)

use chrono::Duration;
use crm_store::ManualClock;
use crm_tests::*;
use pb::report_service_client::ReportServiceClient;
use pb::timeline_service_client::TimelineServiceClient;
use tonic::Code;

#[tokio::test]
async fn a_dashboard_reads_the_portfolio() {
    let start = at("2026-01-01T00:00:00Z");
    let clock = ManualClock::new(start);
    let server = TestServer::start_with_clock(clock.clone()).await;
    let mut customers = server.client().await;
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let mut reports = ReportServiceClient::new(server.channel().await);

    let buyer = create(&mut customers, person("Ayşe", "ayse@example.com")).await;
    create(&mut customers, organization("Acme A.Ş.")).await;
    clock.advance(Duration::days(10));
    for (n, amount) in [(1, 250_000), (2, 150_000)] {
        timeline
            .record_purchase(pb::RecordPurchaseRequest {
                customer_id: buyer.id.clone(),
                purchase: Some(pb::Purchase {
                    order_ref: format!("SO-{n}"),
                    amount: Some(pb::Money {
                        currency_code: "TRY".into(),
                        amount_minor: amount,
                    }),
                    line_items: vec![],
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
    }
    clock.advance(Duration::days(5));

    let report = reports
        .get_portfolio_report(pb::GetPortfolioReportRequest {
            period: pb::ReportPeriod::PeriodMonth as i32,
            currency_code: "TRY".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(report.customers, 2);
    let named = |list: &[pb::NamedCount]| -> Vec<(String, i64)> {
        list.iter().map(|c| (c.name.clone(), c.count)).collect()
    };
    assert_eq!(
        named(&report.by_kind),
        [("PERSON".to_string(), 1), ("ORGANIZATION".to_string(), 1)]
    );
    assert_eq!(
        named(&report.by_status),
        [("PROSPECT".to_string(), 1), ("NEW".to_string(), 1)]
    );
    assert_eq!(report.revenue.map(|m| m.amount_minor), Some(400_000));
    assert_eq!(report.new_in_period, 1);
    assert_eq!(report.funnel.len(), 6);
    assert_eq!(
        report.funnel[3].reached, 1,
        "two purchases reached RETENTION"
    );
    assert_eq!(report.cohorts.len(), 1);

    let no_currency = reports
        .get_portfolio_report(pb::GetPortfolioReportRequest::default())
        .await
        .err()
        .unwrap_or_else(|| panic!("a report without a currency"));
    assert_eq!(
        (no_currency.code(), violations(&no_currency)),
        (Code::InvalidArgument, vec!["currency_code".to_string()])
    );
    let ancient = reports
        .get_portfolio_report(pb::GetPortfolioReportRequest {
            as_of: Some(prost_types::Timestamp {
                seconds: -8_000_000_000_000,
                nanos: 0,
            }),
            currency_code: "TRY".into(),
            ..Default::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a report of the year -251,000 was made"));
    assert_eq!(violations(&ancient), ["as_of"]);
    server.stop().await;
}
