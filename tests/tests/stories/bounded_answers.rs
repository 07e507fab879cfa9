//! Every answer fits what a gRPC client accepts by default (4 MiB): pages end early when their
//! records are large, and the report's cohort table is bounded, whatever the data.
//! Every call here uses tonic's default client, which refuses a message over 4 MiB.

#![allow(clippy::panic)]

use crm_tests::*;
use tonic::Code;

/// A customer of about 64 KB: 64 attributes of 1,000 bytes.
fn large(name: &str) -> pb::Customer {
    let mut c = person(name, "");
    for i in 0..64 {
        c.attributes
            .insert(format!("part_{i:02}"), "x".repeat(1000));
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_of_large_records_end_early_and_every_record_is_still_reached() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut client = server.client().await;
    // 100 customers of 64 KB: 6.4 MB, more than one answer may carry.
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(create(&mut client, large(&format!("Large {i}"))).await.id);
    }
    // ListCustomers at the largest page size: several pages, all of them delivered.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_customers(pb::ListCustomersRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("a page did not fit: {s:?}"))
            .into_inner();
        pages += 1;
        seen.extend(page.customers.into_iter().map(|c| c.id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert!(pages > 1, "100 large customers came in one answer");
    assert_eq!(seen, ids);

    // Search and segment members, the same way.
    let mut found = 0;
    let mut token = String::new();
    loop {
        let page = client
            .search_customers(pb::SearchCustomersRequest {
                query: "large".into(),
                page_size: 1000,
                page_token: token,
            })
            .await
            .unwrap_or_else(|s| panic!("a search page did not fit: {s:?}"))
            .into_inner();
        found += page.results.len();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(found, 100);
    let mut segments = pb::segment_service_client::SegmentServiceClient::new(channel.clone());
    let segment = segments
        .create_segment(pb::CreateSegmentRequest {
            segment: Some(pb::Segment {
                name: "Everyone".into(),
                filter: "kind = PERSON".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut members = 0;
    let mut token = String::new();
    loop {
        let page = segments
            .list_segment_members(pb::ListSegmentMembersRequest {
                id: segment.id.clone(),
                page_size: 1000,
                page_token: token,
            })
            .await
            .unwrap_or_else(|s| panic!("a members page did not fit: {s:?}"))
            .into_inner();
        members += page.customers.len();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(members, 100);

    // A timeline of 500 entries with 10,000-character bodies (about 5 MB).
    let mut timeline = pb::timeline_service_client::TimelineServiceClient::new(channel.clone());
    for _ in 0..500 {
        timeline
            .record_interaction(pb::RecordInteractionRequest {
                customer_id: ids[0].clone(),
                interaction: Some(pb::Interaction {
                    kind: pb::InteractionKind::Note as i32,
                    subject: "minutes".into(),
                    body: "y".repeat(10_000),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
    }
    let mut entries = 0;
    let mut token = String::new();
    loop {
        let page = timeline
            .list_timeline(pb::ListTimelineRequest {
                customer_id: ids[0].clone(),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("a timeline page did not fit: {s:?}"))
            .into_inner();
        entries += page.entries.len();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(entries, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_as_of_the_year_9999_is_small() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut client = server.client().await;
    let ada = create(&mut client, person("Ada", "")).await;
    let mut timeline = pb::timeline_service_client::TimelineServiceClient::new(channel.clone());
    timeline
        .record_purchase(pb::RecordPurchaseRequest {
            customer_id: ada.id.clone(),
            purchase: Some(pb::Purchase {
                order_ref: "first".into(),
                amount: Some(pb::Money {
                    currency_code: "EUR".into(),
                    amount_minor: 1000,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let mut reports = pb::report_service_client::ReportServiceClient::new(channel.clone());
    let year_9999 = prost_types::Timestamp {
        seconds: 253_402_300_799,
        nanos: 0,
    };
    for (asked, shown) in [(0, 24), (120, 120), (6, 6)] {
        let report = reports
            .get_portfolio_report(pb::GetPortfolioReportRequest {
                as_of: Some(year_9999),
                currency_code: "EUR".into(),
                cohort_months: asked,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner();
        // Ada's cohort (this month) is far older than the window: no cohort could be longer
        // than the window, and there are never more than it.
        assert!(report.cohorts.len() <= shown as usize);
        assert!(
            report
                .cohorts
                .iter()
                .all(|c| c.retention.len() <= shown as usize)
        );
    }
    // A report as of now shows her cohort: this month, all of it buying.
    let report = reports
        .get_portfolio_report(pb::GetPortfolioReportRequest {
            currency_code: "EUR".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(report.cohorts.len(), 1);
    assert_eq!(report.cohorts[0].retention, [1.0]);
    let refused = reports
        .get_portfolio_report(pb::GetPortfolioReportRequest {
            currency_code: "EUR".into(),
            cohort_months: 121,
            ..Default::default()
        })
        .await;
    let status = refused
        .err()
        .unwrap_or_else(|| panic!("121 cohort months were accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["cohort_months"]);
}
