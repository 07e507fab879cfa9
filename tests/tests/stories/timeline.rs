//! Stories of the timeline over gRPC: a lead warms up and cools down, converts, becomes loyal,
//! goes silent and churns; orders arrive twice and out of order; bad input changes nothing; the
//! scoring model is replaced and every score follows.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use crm_store::ManualClock;
use crm_tests::*;
use pb::lifecycle_service_client::LifecycleServiceClient;
use pb::timeline_service_client::TimelineServiceClient;
use tonic::Code;
use tonic::transport::Channel;

struct World {
    clock: Arc<ManualClock>,
    server: TestServer,
    customers: Client,
    timeline: TimelineServiceClient<Channel>,
    lifecycle: LifecycleServiceClient<Channel>,
}

fn day_one() -> DateTime<Utc> {
    at("2026-03-02T10:00:00Z")
}

async fn world() -> World {
    let clock = ManualClock::new(day_one());
    let server = TestServer::start_with_clock(clock.clone()).await;
    let channel = server.channel().await;
    World {
        clock,
        customers: server.client().await,
        timeline: TimelineServiceClient::new(channel.clone()),
        lifecycle: LifecycleServiceClient::new(channel),
        server,
    }
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

fn money(code: &str, amount_minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: code.into(),
        amount_minor,
    })
}

fn b2b_lead() -> pb::Customer {
    let mut c = organization("Anadolu Lojistik A.Ş.");
    if let Some(pb::customer::Party::Organization(o)) = &mut c.party {
        o.employee_count = Some(240);
        o.industry = "logistics".into();
    }
    c
}

impl World {
    async fn get(&mut self, id: &str) -> pb::Customer {
        self.customers
            .get_customer(pb::GetCustomerRequest { id: id.into() })
            .await
            .unwrap_or_else(|s| panic!("get: {s:?}"))
            .into_inner()
    }

    async fn interact(&mut self, id: &str, kind: pb::InteractionKind) -> pb::TimelineWriteResponse {
        self.timeline
            .record_interaction(pb::RecordInteractionRequest {
                customer_id: id.into(),
                interaction: Some(pb::Interaction {
                    kind: kind as i32,
                    subject: format!("{kind:?}"),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("interaction: {s:?}"))
            .into_inner()
    }

    async fn buy(
        &mut self,
        id: &str,
        order_ref: &str,
        amount: i64,
        at: Option<DateTime<Utc>>,
    ) -> Result<pb::TimelineWriteResponse, tonic::Status> {
        self.timeline
            .record_purchase(pb::RecordPurchaseRequest {
                customer_id: id.into(),
                purchase: Some(pb::Purchase {
                    order_ref: order_ref.into(),
                    amount: money("TRY", amount),
                    line_items: vec![],
                }),
                occurred_at: at.map(ts),
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// The fields a refused interaction's violations name (the call must be refused).
    async fn refused_interaction(&mut self, id: &str, interaction: pb::Interaction) -> Vec<String> {
        let sent = self
            .timeline
            .record_interaction(pb::RecordInteractionRequest {
                customer_id: id.into(),
                interaction: Some(interaction),
                ..Default::default()
            })
            .await;
        violations(&sent.err().unwrap_or_else(|| panic!("accepted")))
    }

    async fn entries(&mut self, id: &str) -> usize {
        self.timeline
            .list_timeline(pb::ListTimelineRequest {
                customer_id: id.into(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("timeline: {s:?}"))
            .into_inner()
            .entries
            .len()
    }
}

fn temperature(c: &pb::Customer) -> pb::LeadTemperature {
    pb::LeadTemperature::try_from(c.lead_temperature).unwrap_or(pb::LeadTemperature::Unspecified)
}

fn status(c: &pb::Customer) -> pb::RelationshipStatus {
    pb::RelationshipStatus::try_from(c.relationship_status)
        .unwrap_or(pb::RelationshipStatus::Unspecified)
}

fn stage(c: &pb::Customer) -> pb::LifecycleStage {
    pb::LifecycleStage::try_from(c.lifecycle_stage).unwrap_or(pb::LifecycleStage::Unspecified)
}

#[tokio::test]
async fn a_lead_warms_up_converts_becomes_loyal_and_churns() {
    let mut w = world().await;
    let lead = create(&mut w.customers, b2b_lead()).await;
    assert_eq!(temperature(&lead), pb::LeadTemperature::Cold);
    assert_eq!(status(&lead), pb::RelationshipStatus::Prospect);

    // Fit 20 (an organization of 240). A web visit, a demo request and a meeting: 20+2+25+15.
    w.interact(&lead.id, pb::InteractionKind::WebVisit).await;
    w.interact(&lead.id, pb::InteractionKind::DemoRequest).await;
    let warm = w.interact(&lead.id, pb::InteractionKind::Meeting).await;
    let warm = warm.customer.unwrap_or_default();
    assert_eq!(
        (warm.lead_score, temperature(&warm)),
        (62, pb::LeadTemperature::Warm)
    );
    let hot = w
        .interact(&lead.id, pb::InteractionKind::Call)
        .await
        .customer
        .unwrap_or_default();
    assert_eq!(
        (hot.lead_score, temperature(&hot)),
        (72, pb::LeadTemperature::Hot)
    );

    // Silence cools it: 90 days are three half-lives, engagement is an eighth (6.5).
    w.clock.advance(Duration::days(90));
    let cooled = w.get(&lead.id).await;
    assert_eq!(
        (cooled.lead_score, temperature(&cooled)),
        (27, pb::LeadTemperature::Cold)
    );

    let first = w
        .buy(&lead.id, "SO-1001", 1_250_000, None)
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let customer = first.customer.unwrap_or_default();
    assert_eq!(stage(&customer), pb::LifecycleStage::Purchase);
    assert_eq!(status(&customer), pb::RelationshipStatus::New);
    assert_eq!(customer.lead_status, pb::LeadStatus::Converted as i32);
    let kinds = w
        .timeline
        .list_timeline(pb::ListTimelineRequest {
            customer_id: lead.id.clone(),
            kinds: vec![pb::TimelineEntryKind::EntryConverted as i32],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(kinds.entries.len(), 1, "the conversion is on the timeline");

    for n in 2..=4 {
        w.clock.advance(Duration::days(40));
        let r = w
            .buy(&lead.id, &format!("SO-100{n}"), 300_000, None)
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
        let expected = if n < 4 {
            pb::LifecycleStage::Retention
        } else {
            pb::LifecycleStage::Loyalty
        };
        assert_eq!(
            stage(&r.customer.unwrap_or_default()),
            expected,
            "after purchase {n}"
        );
    }
    w.clock.advance(Duration::days(30));
    assert_eq!(
        status(&w.get(&lead.id).await),
        pb::RelationshipStatus::Loyal
    );
    let loyal = r#"relationship_status = "LOYAL""#;
    assert_eq!(list_all(&mut w.customers, loyal, "", 50).await.len(), 1);
    // A year of silence: no write at all, and the status index follows the clock.
    w.clock.advance(Duration::days(365));
    assert!(list_all(&mut w.customers, loyal, "", 50).await.is_empty());
    let silent = w.get(&lead.id).await;
    assert_eq!(status(&silent), pb::RelationshipStatus::Churned);
    let summary = silent.summary.unwrap_or_default();
    assert_eq!(summary.purchase_count, 4);
    assert_eq!(summary.totals[0].net_minor, 2_150_000);
    assert_eq!(summary.mean_days_between_purchases, 40.0);

    let listed = list_all(
        &mut w.customers,
        r#"relationship_status = "CHURNED""#,
        "",
        50,
    )
    .await;
    assert_eq!(listed.len(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn orders_count_once_and_backdated_ones_land_in_place() {
    let mut w = world().await;
    w.clock.advance(Duration::days(400));
    let in_time = create(&mut w.customers, organization("In Time")).await;
    let late = create(&mut w.customers, organization("Late")).await;
    let days = [5, 60, 61, 200];
    for (n, d) in days.iter().enumerate() {
        w.buy(
            &in_time.id,
            &format!("o{n}"),
            1000,
            Some(day_one() + Duration::days(*d)),
        )
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    }
    for (n, d) in days.iter().enumerate().rev() {
        w.buy(
            &late.id,
            &format!("o{n}"),
            1000,
            Some(day_one() + Duration::days(*d)),
        )
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    }
    let again = w
        .buy(&late.id, "o2", 1000, None)
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    assert!(again.duplicate, "a known order_ref is a repeat");
    let a = w.get(&in_time.id).await.summary;
    let b = w.get(&late.id).await.summary;
    assert_eq!(a, b);
    assert_eq!(a.map(|s| s.purchase_count), Some(4));
    w.server.stop().await;
}

#[tokio::test]
async fn bad_timeline_input_gets_its_code_and_changes_nothing() {
    let mut w = world().await;
    let c = create(&mut w.customers, b2b_lead()).await;
    w.buy(&c.id, "ok", 100, None)
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let before = (w.entries(&c.id).await, w.get(&c.id).await);

    let unknown = w.buy("00000000000000ff", "x", 100, None).await;
    assert_eq!(code_of(unknown), Code::NotFound);

    let bad_currency = w
        .timeline
        .record_purchase(pb::RecordPurchaseRequest {
            customer_id: c.id.clone(),
            purchase: Some(pb::Purchase {
                order_ref: "x".into(),
                amount: money("TLX", 100),
                line_items: vec![],
            }),
            ..Default::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a bad currency was accepted"));
    assert_eq!(bad_currency.code(), Code::InvalidArgument);
    assert_eq!(violations(&bad_currency), ["purchase.amount.currency_code"]);

    let negative = w
        .buy(&c.id, "neg", -100, None)
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(violations(&negative), ["purchase.amount.amount_minor"]);

    let future = w
        .buy(&c.id, "later", 100, Some(day_one() + Duration::minutes(6)))
        .await;
    let future = future
        .err()
        .unwrap_or_else(|| panic!("a future purchase was accepted"));
    assert_eq!(violations(&future), ["occurred_at"]);

    let refund = w
        .timeline
        .record_refund(pb::RecordRefundRequest {
            customer_id: c.id.clone(),
            refund: Some(pb::Refund {
                order_ref: "ok".into(),
                amount: money("TRY", 101),
                reason: "too much".into(),
            }),
            ..Default::default()
        })
        .await;
    refused(refund, Code::FailedPrecondition, "REFUND_EXCEEDS_PURCHASE");

    let backward = w
        .lifecycle
        .change_lifecycle_stage(pb::ChangeLifecycleStageRequest {
            customer_id: c.id.clone(),
            lifecycle_stage: pb::LifecycleStage::Awareness as i32,
            ..Default::default()
        })
        .await;
    refused(backward, Code::FailedPrecondition, "BACKWARD_STAGE_MOVE");

    let no_kind = pb::Interaction::default();
    assert_eq!(
        w.refused_interaction(&c.id, no_kind).await,
        ["interaction.kind"]
    );
    let long_subject = pb::Interaction {
        kind: pb::InteractionKind::Call as i32,
        subject: "x".repeat(201),
        ..Default::default()
    };
    let bad_score = pb::Interaction {
        nps_score: Some(11),
        ..long_subject.clone()
    };
    assert_eq!(
        w.refused_interaction(&c.id, bad_score).await,
        ["interaction.nps_score"],
        "the conversion names a bad score first"
    );
    assert_eq!(
        w.refused_interaction(&c.id, long_subject).await,
        ["interaction.subject"]
    );

    let after = (w.entries(&c.id).await, w.get(&c.id).await);
    assert_eq!(before, after, "bad input changed nothing");

    let with_reason = w
        .lifecycle
        .change_lifecycle_stage(pb::ChangeLifecycleStageRequest {
            customer_id: c.id.clone(),
            lifecycle_stage: pb::LifecycleStage::Awareness as i32,
            reason: "entered by mistake".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(stage(&with_reason), pb::LifecycleStage::Awareness);
    w.server.stop().await;
}

#[tokio::test]
async fn a_new_scoring_model_rescores_everyone_and_lost_customers_churn() {
    let mut w = world().await;
    let c = create(&mut w.customers, b2b_lead()).await;
    assert_eq!(c.lead_score, 20);
    let mut model = w
        .lifecycle
        .get_scoring_model(pb::GetScoringModelRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let etag = model.etag.clone();
    model.fit_rules.push(pb::FitRule {
        field: pb::FitField::FitIndustry as i32,
        values: vec!["Logistics".into()],
        points: 60,
        ..Default::default()
    });
    let updated = w
        .lifecycle
        .update_scoring_model(pb::UpdateScoringModelRequest {
            model: Some(model.clone()),
            etag: etag.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(updated.version, 2);
    let rescored = w.get(&c.id).await;
    assert_eq!(
        (rescored.lead_score, temperature(&rescored)),
        (80, pb::LeadTemperature::Hot)
    );
    let hot = list_all(&mut w.customers, r#"lead_temperature = "HOT""#, "", 50).await;
    assert_eq!(hot.len(), 1);

    let stale = w
        .lifecycle
        .update_scoring_model(pb::UpdateScoringModelRequest {
            model: Some(model.clone()),
            etag,
        })
        .await;
    assert_eq!(code_of(stale), Code::Aborted);
    model.hot_threshold = 10;
    let bad = w
        .lifecycle
        .update_scoring_model(pb::UpdateScoringModelRequest {
            model: Some(model),
            etag: String::new(),
        })
        .await;
    assert_eq!(
        violations(&bad.err().unwrap_or_else(|| panic!("accepted"))),
        ["model.hot_threshold"]
    );

    w.buy(&c.id, "SO-1", 500, None)
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    w.clock.advance(Duration::days(1));
    let lost = w
        .lifecycle
        .mark_lost(pb::MarkLostRequest {
            customer_id: c.id.clone(),
            reason: "switched to a competitor".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .customer
        .unwrap_or_default();
    assert_eq!(status(&lost), pb::RelationshipStatus::Churned);
    assert_eq!(
        lost.summary.map(|s| s.lost_reason),
        Some("switched to a competitor".into())
    );
    w.server.stop().await;
}
