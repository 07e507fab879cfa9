//! A shop asks its customers how likely they are to recommend it. A loyal customer who answers
//! 3 becomes AT_RISK, as the documented rule says, and is found by `feedback.nps_category =
//! "DETRACTOR"`; a buyer who answers 10 becomes an advocate. The feedback report gives NPS, CSAT
//! and CES for the month and for a segment. Scores out of range and unknown customers get their
//! codes and change nothing.

use crm_tests::*;
use pb::feedback_service_client::FeedbackServiceClient;
use pb::report_service_client::ReportServiceClient;
use pb::segment_service_client::SegmentServiceClient;
use pb::support_service_client::SupportServiceClient;
use pb::timeline_service_client::TimelineServiceClient;
use tonic::Code;
use tonic::transport::Channel;

fn ts(text: &str) -> prost_types::Timestamp {
    let t = at(text);
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

async fn buy(timeline: &mut TimelineServiceClient<Channel>, id: &str, order: &str, when: &str) {
    timeline
        .record_purchase(pb::RecordPurchaseRequest {
            customer_id: id.into(),
            purchase: Some(pb::Purchase {
                order_ref: order.into(),
                amount: Some(pb::Money {
                    currency_code: "TRY".into(),
                    amount_minor: 150_000,
                }),
                line_items: vec![],
            }),
            occurred_at: Some(ts(when)),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("buy: {s:?}"));
}

fn answer(kind: pb::SurveyKind, score: i32) -> pb::SurveyResponse {
    pb::SurveyResponse {
        kind: kind as i32,
        score,
        comment: "Kargo çok geç geldi".into(),
        channel: "email".into(),
        survey: "after-delivery".into(),
        ..Default::default()
    }
}

async fn say(
    feedback: &mut FeedbackServiceClient<Channel>,
    id: &str,
    response: pb::SurveyResponse,
) -> Result<pb::TimelineWriteResponse, tonic::Status> {
    feedback
        .record_survey_response(pb::RecordSurveyResponseRequest {
            customer_id: id.into(),
            response: Some(response),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_detractor_answer_puts_a_loyal_customer_at_risk() {
    let clock = crm_store::ManualClock::new(at("2026-12-01T10:00:00Z"));
    let server = TestServer::start_with_clock(clock.clone()).await;
    let mut customers = server.client().await;
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let mut feedback = FeedbackServiceClient::new(server.channel().await);

    let ayse = create(&mut customers, person("Ayşe", "ayse@example.com.tr")).await;
    for (i, when) in ["2026-03-01", "2026-06-01", "2026-09-01", "2026-11-20"]
        .iter()
        .enumerate()
    {
        buy(
            &mut timeline,
            &ayse.id,
            &format!("SO-{i}"),
            &format!("{when}T12:00:00Z"),
        )
        .await;
    }
    let loyal = list_all(&mut customers, r#"relationship_status = "LOYAL""#, "", 10).await;
    assert_eq!(loyal.len(), 1);

    let said = say(&mut feedback, &ayse.id, answer(pb::SurveyKind::Nps, 3))
        .await
        .unwrap_or_else(|s| panic!("answer: {s:?}"));
    let after = said.customer.unwrap_or_default();
    assert_eq!(
        after.relationship_status,
        pb::RelationshipStatus::AtRisk as i32
    );
    let summary = after.summary.and_then(|s| s.feedback).unwrap_or_default();
    assert_eq!(summary.nps_category, pb::NpsCategory::Detractor as i32);
    assert_eq!(summary.last_nps, Some(3));
    let entry = said.entry.and_then(|e| e.event);
    assert!(
        matches!(entry, Some(pb::timeline_entry::Event::SurveyResponse(_))),
        "{entry:?}"
    );

    // The index serves the new status; the filter on feedback finds the same customer.
    let at_risk = list_all(&mut customers, r#"relationship_status = "AT_RISK""#, "", 10).await;
    let detractors = list_all(
        &mut customers,
        r#"feedback.nps_category = "DETRACTOR""#,
        "",
        10,
    )
    .await;
    assert_eq!(
        at_risk.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&ayse.id]
    );
    assert_eq!(
        detractors.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&ayse.id]
    );

    // The signal lasts 90 days; then the buying rhythm speaks again.
    clock.advance(chrono::Duration::days(91));
    let at_risk = list_all(&mut customers, r#"relationship_status = "AT_RISK""#, "", 10).await;
    assert!(at_risk.is_empty(), "{at_risk:?}");
}

#[tokio::test]
async fn promoters_become_advocates_and_the_report_adds_up() {
    let clock = crm_store::ManualClock::new(at("2026-12-10T10:00:00Z"));
    let server = TestServer::start_with_clock(clock.clone()).await;
    let mut customers = server.client().await;
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let mut feedback = FeedbackServiceClient::new(server.channel().await);
    let mut segments = SegmentServiceClient::new(server.channel().await);

    let mehmet = create(&mut customers, person("Mehmet", "mehmet@example.com.tr")).await;
    let zeynep = create(&mut customers, person("Zeynep", "zeynep@example.com.tr")).await;
    buy(&mut timeline, &mehmet.id, "SO-1", "2026-12-01T12:00:00Z").await;
    let promoter = say(&mut feedback, &mehmet.id, answer(pb::SurveyKind::Nps, 10))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .customer
        .unwrap_or_default();
    assert!(promoter.advocate);
    assert_eq!(
        promoter.lifecycle_stage,
        pb::LifecycleStage::Advocacy as i32
    );
    say(&mut feedback, &zeynep.id, answer(pb::SurveyKind::Nps, 5))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    say(&mut feedback, &zeynep.id, answer(pb::SurveyKind::Csat, 2))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    say(&mut feedback, &mehmet.id, answer(pb::SurveyKind::Ces, 2))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    feedback
        .record_review(pb::RecordReviewRequest {
            customer_id: mehmet.id.clone(),
            review: Some(pb::Review {
                rating: 5,
                title: "Harika".into(),
                text: "Hızlı kargo".into(),
                sku: "SKU-1".into(),
                public: true,
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let unhappy = list_all(&mut customers, "feedback.last_csat <= 2", "", 10).await;
    assert_eq!(
        unhappy.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&zeynep.id]
    );
    let reviewers = list_all(&mut customers, "feedback.review_count > 0", "", 10).await;
    assert_eq!(
        reviewers.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&mehmet.id]
    );

    let buyers = segments
        .create_segment(pb::CreateSegmentRequest {
            segment: Some(pb::Segment {
                name: "Buyers".into(),
                filter: "summary.purchase_count >= 1".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let report = feedback
        .get_feedback_report(pb::GetFeedbackReportRequest {
            start_time: Some(ts("2026-12-01T00:00:00Z")),
            end_time: Some(ts("2027-01-01T00:00:00Z")),
            segment_ids: vec![buyers.id.clone()],
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let total = report.total.unwrap_or_default();
    assert_eq!((total.promoters, total.detractors), (1, 1));
    assert_eq!(total.nps, Some(0.0));
    assert_eq!(total.csat_percent, Some(0.0));
    assert_eq!(total.ces_average, Some(2.0));
    assert_eq!(total.reviews, 1);
    assert_eq!(report.months.len(), 1);
    let buyers_figures = report.segments[0].figures.unwrap_or_default();
    assert_eq!(buyers_figures.nps, Some(100.0), "only Mehmet bought");

    // The portfolio report carries NPS and open tickets, for all and per segment.
    let mut support = SupportServiceClient::new(server.channel().await);
    support
        .create_ticket(pb::CreateTicketRequest {
            ticket: Some(pb::Ticket {
                customer_id: zeynep.id.clone(),
                subject: "İade nasıl yapılır?".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let mut reports = ReportServiceClient::new(server.channel().await);
    let portfolio = reports
        .get_portfolio_report(pb::GetPortfolioReportRequest {
            currency_code: "TRY".into(),
            period: pb::ReportPeriod::PeriodMonth as i32,
            segment_ids: vec![buyers.id.clone()],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(portfolio.open_tickets, 1);
    assert_eq!(portfolio.feedback.and_then(|f| f.nps), Some(0.0));
    let segment = &portfolio.segments[0];
    assert_eq!((segment.members, segment.open_tickets), (1, 0));
    assert_eq!(segment.feedback.and_then(|f| f.nps), Some(100.0));

    // Bad input changes nothing.
    let status = refused(
        say(&mut feedback, &zeynep.id, answer(pb::SurveyKind::Nps, 11)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violations(&status), ["response.score"]);
    let status = refused(
        say(&mut feedback, &zeynep.id, answer(pb::SurveyKind::Csat, 0)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violations(&status), ["response.score"]);
    refused(
        say(
            &mut feedback,
            "00000000000000ff",
            answer(pb::SurveyKind::Nps, 9),
        )
        .await,
        Code::NotFound,
        "CUSTOMER_NOT_FOUND",
    );
    let again = feedback
        .get_feedback_report(pb::GetFeedbackReportRequest {
            start_time: Some(ts("2026-12-01T00:00:00Z")),
            end_time: Some(ts("2027-01-01T00:00:00Z")),
            segment_ids: vec![],
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(again.total.map(|t| t.nps_responses), Some(2));
}
