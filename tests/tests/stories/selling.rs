//! A sales team over gRPC: it sets up its pipeline, opens a deal and moves it through the
//! stages while the forecast follows; automation rules give a hot lead's owner a task within
//! the worker's lag and welcome every imported customer exactly once; bad pipelines, deals and
//! rules get their codes and change nothing.

use crm_tests::*;
use pb::automation_service_client::AutomationServiceClient;
use pb::deal_service_client::DealServiceClient;
use pb::task_service_client::TaskServiceClient;
use tonic::Code;
use tonic::transport::Channel;

type Deals = DealServiceClient<Channel>;

fn stage(
    key: &str,
    probability: f64,
    category: pb::ForecastCategory,
    rotting_days: u32,
) -> pb::PipelineStage {
    pb::PipelineStage {
        key: key.into(),
        name: String::new(),
        probability,
        forecast_category: category as i32,
        rotting_days,
    }
}

fn fleet_pipeline() -> pb::Pipeline {
    pb::Pipeline {
        name: "Fleet".into(),
        stages: vec![
            stage("qualified", 0.2, pb::ForecastCategory::ForecastPipeline, 14),
            stage("proposal", 0.5, pb::ForecastCategory::ForecastBestCase, 0),
            stage("negotiation", 0.8, pb::ForecastCategory::ForecastCommit, 0),
        ],
        ..Default::default()
    }
}

fn deal(customer: &str, pipeline: &str, amount: i64) -> pb::Deal {
    pb::Deal {
        customer_id: customer.into(),
        name: "Fleet renewal".into(),
        amount: Some(pb::Money {
            currency_code: "TRY".into(),
            amount_minor: amount,
        }),
        close_date: (chrono::Utc::now() + chrono::Duration::days(20))
            .date_naive()
            .to_string(),
        owner: "ayse".into(),
        pipeline_id: pipeline.into(),
        ..Default::default()
    }
}

fn this_quarter() -> (String, String) {
    let today = chrono::Utc::now().date_naive();
    (
        (today - chrono::Duration::days(1)).to_string(),
        (today + chrono::Duration::days(90)).to_string(),
    )
}

async fn forecast(deals: &mut Deals, as_of: Option<prost_types::Timestamp>) -> pb::Forecast {
    let (start, end) = this_quarter();
    deals
        .get_forecast(pb::GetForecastRequest {
            period_start: start,
            period_end: end,
            as_of,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("forecast: {s:?}"))
        .into_inner()
}

fn weighted(f: &pb::Forecast, c: pb::ForecastCategory) -> (i64, i64) {
    f.totals
        .iter()
        .find(|t| t.forecast_category == c as i32)
        .map_or((0, 0), |t| (t.total_minor, t.weighted_minor))
}

#[tokio::test]
async fn a_deal_moves_through_the_pipeline_and_the_forecast_follows() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut deals = DealServiceClient::new(server.channel().await);
    let acme = create(&mut client, organization("Acme Lojistik")).await;
    let pipeline = deals
        .create_pipeline(pb::CreatePipelineRequest {
            pipeline: Some(fleet_pipeline()),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let d = deals
        .create_deal(pb::CreateDealRequest {
            deal: Some(deal(&acme.id, &pipeline.id, 1_000_000)),
            request_id: "deal-1".into(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(
        (d.stage.as_str(), d.effective_probability),
        ("qualified", 0.2)
    );
    let now = chrono::Utc::now();
    let before = prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
    };
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let moved = deals
        .move_deal(pb::MoveDealRequest {
            id: d.id.clone(),
            stage: "negotiation".into(),
            etag: d.etag.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(moved.history.len(), 2);
    let now = forecast(&mut deals, None).await;
    assert_eq!(
        weighted(&now, pb::ForecastCategory::ForecastCommit),
        (1_000_000, 800_000)
    );
    let then = forecast(&mut deals, Some(before)).await;
    assert_eq!(
        weighted(&then, pb::ForecastCategory::ForecastPipeline),
        (1_000_000, 200_000)
    );
    assert_eq!(
        weighted(&then, pb::ForecastCategory::ForecastCommit),
        (0, 0)
    );

    // Bad input gets its code and changes nothing.
    let bad_stage = deals
        .move_deal(pb::MoveDealRequest {
            id: d.id.clone(),
            stage: "signed".into(),
            etag: String::new(),
        })
        .await;
    let status = bad_stage
        .err()
        .unwrap_or_else(|| panic!("a stage not in the pipeline was accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        violations(&status).contains(&"stage".to_string()),
        "{status:?}"
    );
    let mut out_of_range = deal(&acme.id, &pipeline.id, 5);
    out_of_range.probability = Some(1.5);
    let status = deals
        .create_deal(pb::CreateDealRequest {
            deal: Some(out_of_range),
            request_id: String::new(),
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a probability of 1.5 was accepted"));
    assert_eq!(violations(&status), vec!["deal.probability".to_string()]);
    let stale = deals
        .move_deal(pb::MoveDealRequest {
            id: d.id.clone(),
            stage: "proposal".into(),
            etag: d.etag.clone(),
        })
        .await;
    assert_eq!(code_of(stale), Code::Aborted);
    let listed = deals
        .list_deals(pb::ListDealsRequest {
            filter: "stage = \"negotiation\" AND owner = \"ayse\"".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .deals;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].etag, moved.etag, "nothing changed");
    let filter = deals
        .list_deals(pb::ListDealsRequest {
            filter: "rotting = maybe".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code_of(filter), Code::InvalidArgument);
}

async fn tasks_of(tasks: &mut TaskServiceClient<Channel>, owner: &str) -> Vec<pb::Task> {
    tasks
        .list_tasks(pb::ListTasksRequest {
            owner: owner.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .tasks
}

#[tokio::test]
async fn a_lead_turning_hot_gets_its_owner_a_task_within_the_workers_lag() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let channel = server.channel().await;
    let mut rules = AutomationServiceClient::new(channel.clone());
    let mut tasks = TaskServiceClient::new(channel.clone());
    let mut timeline = pb::timeline_service_client::TimelineServiceClient::new(channel);
    let rule = rules
        .create_rule(pb::CreateRuleRequest {
            rule: Some(pb::Rule {
                name: "call hot leads".into(),
                enabled: true,
                trigger: Some(pb::rule::Trigger::OnState(pb::RuleState::LeadHot as i32)),
                actions: vec![pb::RuleAction {
                    action: Some(pb::rule_action::Action::CreateTask(pb::CreateTaskAction {
                        title: "Call the hot lead today".into(),
                        due_in_minutes: 240,
                        owner: String::new(),
                    })),
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut org = organization("Acme");
    org.owner = "ayse".into();
    if let Some(pb::customer::Party::Organization(o)) = org.party.as_mut() {
        o.employee_count = Some(120);
    }
    let acme = create(&mut client, org).await;
    for kind in [
        pb::InteractionKind::WebVisit,
        pb::InteractionKind::DemoRequest,
        pb::InteractionKind::Meeting,
        pb::InteractionKind::Call,
    ] {
        timeline
            .record_interaction(pb::RecordInteractionRequest {
                customer_id: acme.id.clone(),
                interaction: Some(pb::Interaction {
                    kind: kind as i32,
                    direction: pb::Direction::Inbound as i32,
                    subject: "hello".into(),
                    channel: "web".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
    }
    // The documented lag: the coalescing window (1 s) and a tick (250 ms). Allow 5 s.
    let started = std::time::Instant::now();
    let made = loop {
        let made = tasks_of(&mut tasks, "ayse").await;
        if !made.is_empty() || started.elapsed() > std::time::Duration::from_secs(5) {
            break made;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(made.len(), 1, "one task for the hot lead");
    assert_eq!(made[0].source, format!("rule:{}", rule.id));
    assert_eq!(
        made[0].link,
        Some(pb::task::Link::CustomerId(acme.id.clone()))
    );
    let firings = rules
        .list_rule_firings(pb::ListRuleFiringsRequest {
            rule_id: rule.id.clone(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .firings;
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0].task_ids, vec![made[0].id.clone()]);
}

#[tokio::test]
async fn an_imported_batch_of_1000_fires_the_welcome_rule_once_each() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let channel = server.channel().await;
    let mut rules = AutomationServiceClient::new(channel.clone());
    let mut tasks = TaskServiceClient::new(channel);
    let welcome = pb::Rule {
        name: "welcome".into(),
        enabled: true,
        trigger: Some(pb::rule::Trigger::OnChange(pb::ChangeTrigger {
            entity_kind: pb::EntityKind::Customer as i32,
            operations: vec![pb::ChangeOperation::Created as i32],
            ..Default::default()
        })),
        actions: vec![pb::RuleAction {
            action: Some(pb::rule_action::Action::CreateTask(pb::CreateTaskAction {
                title: "Welcome call".into(),
                due_in_minutes: 60 * 24,
                owner: "onboarding".into(),
            })),
        }],
        ..Default::default()
    };
    rules
        .create_rule(pb::CreateRuleRequest {
            rule: Some(welcome.clone()),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let rows = (0..1000)
        .map(|i| pb::ImportRow {
            key: format!("erp-{i}"),
            customer: Some(person(&format!("P{i}"), &format!("p{i}@example.com"))),
            entries: vec![],
        })
        .collect();
    let mut answers = client
        .import_customers(tokio_stream::iter(vec![pb::ImportCustomersRequest {
            rows,
            dry_run: false,
            update_mask: None,
        }]))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut imported = 0;
    while let Some(m) = answers.message().await.unwrap_or_else(|s| panic!("{s:?}")) {
        imported += m
            .results
            .iter()
            .filter(|r| r.action == pb::ItemAction::Created as i32)
            .count();
    }
    assert_eq!(imported, 1000);
    let started = std::time::Instant::now();
    let made = loop {
        let made = tasks_of(&mut tasks, "onboarding").await;
        if made.len() >= 1000 || started.elapsed() > std::time::Duration::from_secs(20) {
            break made;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let mut linked: Vec<_> = made.iter().filter_map(|t| t.link.clone()).collect();
    linked.sort_by_key(|l| format!("{l:?}"));
    linked.dedup();
    assert_eq!((made.len(), linked.len()), (1000, 1000), "once each");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        tasks_of(&mut tasks, "onboarding").await.len(),
        1000,
        "and never again"
    );

    // A dry run of the same rule over the last day counts the same 1,000, and writes nothing.
    let dry = rules
        .dry_run_rule(pb::DryRunRuleRequest {
            rule: Some(welcome),
            days: 1,
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(dry.fire_count, 1000);
    assert_eq!(dry.entities.len(), 100);
}

#[tokio::test]
async fn bad_rules_and_pipelines_get_their_codes_and_change_nothing() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut rules = AutomationServiceClient::new(channel.clone());
    let mut deals = DealServiceClient::new(channel);
    let task = pb::RuleAction {
        action: Some(pb::rule_action::Action::CreateTask(pb::CreateTaskAction {
            title: "x".into(),
            due_in_minutes: 1,
            owner: "a".into(),
        })),
    };
    let on_change = |kind: pb::EntityKind, filter: &str| {
        Some(pb::rule::Trigger::OnChange(pb::ChangeTrigger {
            entity_kind: kind as i32,
            filter: filter.into(),
            ..Default::default()
        }))
    };
    let cases: Vec<(pb::Rule, &str)> = vec![
        (
            pb::Rule {
                name: "bad filter".into(),
                trigger: on_change(pb::EntityKind::Customer, "owner = "),
                actions: vec![task.clone()],
                ..Default::default()
            },
            "rule.trigger.filter",
        ),
        (
            pb::Rule {
                name: "no such field".into(),
                trigger: on_change(pb::EntityKind::Deal, ""),
                actions: vec![pb::RuleAction {
                    action: Some(pb::rule_action::Action::SetField(pb::SetFieldAction {
                        field: "colour".into(),
                        value: "red".into(),
                    })),
                }],
                ..Default::default()
            },
            "rule.actions[0].field",
        ),
        (
            pb::Rule {
                name: "unknown trigger".into(),
                trigger: Some(pb::rule::Trigger::OnState(99)),
                actions: vec![task.clone()],
                ..Default::default()
            },
            "rule.on_state",
        ),
        (
            pb::Rule {
                name: "no trigger".into(),
                trigger: None,
                actions: vec![task.clone()],
                ..Default::default()
            },
            "rule.trigger",
        ),
        (
            pb::Rule {
                name: "a segment is not watched".into(),
                trigger: on_change(pb::EntityKind::Segment, ""),
                actions: vec![task.clone()],
                ..Default::default()
            },
            "rule.on_change.entity_kind",
        ),
    ];
    for (rule, field) in cases {
        let status = rules
            .create_rule(pb::CreateRuleRequest {
                rule: Some(rule),
                request_id: String::new(),
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("{field}: accepted"));
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert!(
            violations(&status).contains(&field.to_string()),
            "{field}: {status:?}"
        );
    }
    let mut bad = fleet_pipeline();
    bad.stages[1].probability = -0.5;
    let status = deals
        .create_pipeline(pb::CreatePipelineRequest {
            pipeline: Some(bad),
            request_id: String::new(),
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a negative probability was accepted"));
    assert_eq!(
        violations(&status),
        vec!["pipeline.stages[1].probability".to_string()]
    );
    let rules_left = rules
        .list_rules(pb::ListRulesRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .rules;
    let pipelines = deals
        .list_pipelines(pb::ListPipelinesRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .pipelines;
    assert!(
        rules_left.is_empty() && pipelines.is_empty(),
        "nothing was created"
    );
}
