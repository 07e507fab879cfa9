//! A refusal names the field the caller sent, with the path the caller would write.

#![allow(clippy::panic)]

use crm_tests::*;
use tonic::Code;

fn refusal<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Status {
    result.err().unwrap_or_else(|| panic!("accepted"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn violations_name_the_fields_the_caller_sent() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut client = server.client().await;

    // An engagement weight out of range is named by its place in the list the caller sent.
    let mut lifecycle = pb::lifecycle_service_client::LifecycleServiceClient::new(channel.clone());
    let status = refusal(
        lifecycle
            .update_scoring_model(pb::UpdateScoringModelRequest {
                model: Some(pb::ScoringModel {
                    engagement_points: vec![
                        pb::EngagementPoints {
                            kind: pb::InteractionKind::Email as i32,
                            points: 5,
                        },
                        pb::EngagementPoints {
                            kind: pb::InteractionKind::Call as i32,
                            points: 101,
                        },
                    ],
                    half_life_days: 30,
                    warm_threshold: 20,
                    hot_threshold: 50,
                    ..Default::default()
                }),
                etag: String::new(),
            })
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["model.engagement_points[1].points"]);

    // A report period that starts after its as_of names period_start.
    let mut reports = pb::report_service_client::ReportServiceClient::new(channel.clone());
    let status = refusal(
        reports
            .get_portfolio_report(pb::GetPortfolioReportRequest {
                as_of: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                period_start: Some(prost_types::Timestamp {
                    seconds: 1_800_000_000,
                    nanos: 0,
                }),
                currency_code: "EUR".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["period_start"]);

    // A taken API-key name is ALREADY_EXISTS naming `name`, as a taken email or segment name is.
    let mut admin = pb::admin_service_client::AdminServiceClient::new(channel.clone());
    let key = pb::CreateApiKeyRequest {
        name: "ops".into(),
        role: pb::Role::Admin as i32,
    };
    admin
        .create_api_key(key.clone())
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let status = refusal(admin.create_api_key(key).await);
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(violations(&status), ["name"]);
    assert_eq!(reason(&status), "KEY_NAME_TAKEN");

    // A person replaced by an organization (no mask) names the organization that was sent.
    let ada = create(&mut client, person("Ada", "")).await;
    let mut as_org = organization("Ada Ltd");
    as_org.id = ada.id.clone();
    let status = refusal(
        client
            .update_customer(pb::UpdateCustomerRequest {
                customer: Some(as_org),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), ["customer.organization"]);
}
