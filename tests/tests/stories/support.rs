//! A support team in Istanbul sets its business hours, Türkiye's holidays and its SLA targets,
//! then answers tickets over gRPC. A ticket opened on Friday evening is due on Monday at 12:30;
//! a wait on the customer moves the due time by the business time it lasted; a ticket past its
//! due instant is listed as BREACHED with nobody writing to it. Bad calendars, bad policies and
//! illegal moves get their codes and change nothing.

use crm_tests::*;
use pb::support_service_client::SupportServiceClient;
use pb::timeline_service_client::TimelineServiceClient;
use tonic::Code;
use tonic::transport::Channel;

type Support = SupportServiceClient<Channel>;

fn ts(text: &str) -> prost_types::Timestamp {
    let t = at(text);
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

fn hours(weekday: i32, start: &str, end: &str) -> pb::WorkingHours {
    pb::WorkingHours {
        weekday,
        start: start.into(),
        end: end.into(),
    }
}

/// Weekdays 09:00-18:00 in Istanbul with Türkiye's public holidays, as the example file ships
/// them (deploy/calendars/istanbul.json holds the same for grpcurl).
fn istanbul() -> pb::BusinessCalendar {
    pb::BusinessCalendar {
        time_zone: "Europe/Istanbul".into(),
        hours: (1..=5).map(|d| hours(d, "09:00", "18:00")).collect(),
        holidays: crm_core::support::holidays::turkiye()
            .into_iter()
            .map(|h| pb::Holiday {
                date: h.date.to_string(),
                name: h.name,
                closes_at: h
                    .closes_at_minute
                    .map(crm_core::support::calendar::clock_text)
                    .unwrap_or_default(),
            })
            .collect(),
        ..Default::default()
    }
}

fn policy() -> pb::SlaPolicy {
    let targets = |priority: pb::TicketPriority, first, resolution| pb::PriorityTargets {
        priority: priority as i32,
        first_response_minutes: first,
        resolution_minutes: resolution,
    };
    pb::SlaPolicy {
        targets: vec![
            targets(pb::TicketPriority::PriorityNormal, 240, 960),
            targets(pb::TicketPriority::PriorityUrgent, 30, 240),
        ],
        at_risk_percent: 25,
        ..Default::default()
    }
}

async fn open_desk(server: &TestServer) -> (Support, String) {
    let mut support = SupportServiceClient::new(server.channel().await);
    let calendar = support
        .update_business_calendar(pb::UpdateBusinessCalendarRequest {
            calendar: Some(istanbul()),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("calendar: {s:?}"))
        .into_inner();
    assert_eq!(calendar.etag, "v1");
    support
        .update_sla_policy(pb::UpdateSlaPolicyRequest {
            policy: Some(policy()),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("policy: {s:?}"));
    let mut customers = server.client().await;
    let ayse = create(&mut customers, person("Ayşe", "ayse@example.com.tr")).await;
    (support, ayse.id)
}

async fn open_ticket(
    support: &mut Support,
    customer: &str,
    priority: pb::TicketPriority,
) -> pb::Ticket {
    support
        .create_ticket(pb::CreateTicketRequest {
            ticket: Some(pb::Ticket {
                customer_id: customer.into(),
                subject: "Kargo hâlâ gelmedi".into(),
                channel: "email".into(),
                priority: priority as i32,
                assignee: "zeynep".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("create ticket: {s:?}"))
        .into_inner()
}

async fn listed(support: &mut Support, filter: &str) -> Vec<String> {
    support
        .list_tickets(pb::ListTicketsRequest {
            filter: filter.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{filter}: {s:?}"))
        .into_inner()
        .tickets
        .into_iter()
        .map(|t| t.id)
        .collect()
}

fn first_due(t: &pb::Ticket) -> Option<prost_types::Timestamp> {
    t.sla.as_ref()?.first_response.as_ref()?.due_time
}

#[tokio::test]
async fn a_friday_evening_ticket_is_due_monday_and_breaches_with_no_write() {
    let clock = crm_store::ManualClock::new(at("2026-12-04T17:30:00+03:00"));
    let server = TestServer::start_with_clock(clock.clone()).await;
    let (mut support, ayse) = open_desk(&server).await;

    let ticket = open_ticket(&mut support, &ayse, pb::TicketPriority::PriorityNormal).await;
    assert_eq!(ticket.status, pb::TicketStatus::TicketNew as i32);
    assert_eq!(first_due(&ticket), Some(ts("2026-12-07T12:30:00+03:00")));
    let sla = ticket.sla.unwrap_or_default();
    assert_eq!(sla.status, pb::SlaStatus::OnTrack as i32);

    // Monday 11:30: one business hour of four is left, less than the 25% share.
    clock.set(at("2026-12-07T11:30:00+03:00"));
    assert_eq!(
        listed(&mut support, r#"sla.status = "AT_RISK""#).await,
        vec![ticket.id.clone()]
    );
    // Monday 12:30: breached, and nobody wrote anything.
    clock.set(at("2026-12-07T12:30:00+03:00"));
    assert_eq!(
        listed(&mut support, r#"sla.status = "BREACHED""#).await,
        vec![ticket.id.clone()]
    );
    let now = support
        .get_ticket(pb::GetTicketRequest {
            id: ticket.id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("get: {s:?}"))
        .into_inner();
    assert_eq!(now.etag, ticket.etag, "the breach took no write");
    let first = now.sla.and_then(|s| s.first_response).unwrap_or_default();
    assert_eq!(first.status, pb::SlaStatus::Breached as i32);
    assert_eq!(first.remaining_seconds, Some(0));

    // The ticket's opening is on Ayşe's timeline.
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let entries = timeline
        .list_timeline(pb::ListTimelineRequest {
            customer_id: ayse.clone(),
            kinds: vec![pb::TimelineEntryKind::EntryTicketEvent as i32],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("timeline: {s:?}"))
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1, "{entries:?}");
}

#[tokio::test]
async fn waiting_on_the_customer_moves_the_due_time_and_the_thread_answers() {
    let clock = crm_store::ManualClock::new(at("2026-12-07T09:00:00+03:00"));
    let server = TestServer::start_with_clock(clock.clone()).await;
    let (mut support, ayse) = open_desk(&server).await;
    let ticket = open_ticket(&mut support, &ayse, pb::TicketPriority::PriorityUrgent).await;
    let resolution_due = |t: &pb::Ticket| {
        t.sla
            .as_ref()
            .and_then(|s| s.resolution.as_ref())
            .and_then(|r| r.due_time)
    };
    assert_eq!(
        resolution_due(&ticket),
        Some(ts("2026-12-07T13:00:00+03:00"))
    );

    clock.set(at("2026-12-07T09:20:00+03:00"));
    let reply = support
        .add_ticket_message(pb::AddTicketMessageRequest {
            ticket_id: ticket.id.clone(),
            request_id: String::new(),
            message: Some(pb::TicketMessage {
                author: "zeynep".into(),
                public: true,
                body: "Siparişinizi kontrol ediyoruz; takip numaranızı paylaşır mısınız?".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("reply: {s:?}"))
        .into_inner();
    let answered = reply.ticket.unwrap_or_default();
    assert_eq!(
        answered.status,
        pb::TicketStatus::TicketOpen as i32,
        "a first reply opens it"
    );
    let first = answered
        .sla
        .and_then(|s| s.first_response)
        .unwrap_or_default();
    assert_eq!(first.status, pb::SlaStatus::Met as i32);

    let pending = support
        .move_ticket(pb::MoveTicketRequest {
            id: ticket.id.clone(),
            status: pb::TicketStatus::TicketPending as i32,
            etag: answered.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("pending: {s:?}"))
        .into_inner();
    let paused = pending.sla.and_then(|s| s.resolution).unwrap_or_default();
    assert!(paused.paused && paused.due_time.is_none(), "{paused:?}");
    // The customer answers the next morning at 10:00: 9 h 40 min of business time paused
    // (09:20-18:00 and 09:00-10:00), so 13:00 becomes 13:40 the next day.
    clock.set(at("2026-12-08T10:00:00+03:00"));
    let answer = support
        .add_ticket_message(pb::AddTicketMessageRequest {
            ticket_id: ticket.id.clone(),
            request_id: String::new(),
            message: Some(pb::TicketMessage {
                author: "Ayşe".into(),
                from_customer: true,
                public: true,
                body: "Takip numarası: TR123".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("answer: {s:?}"))
        .into_inner()
        .ticket
        .unwrap_or_default();
    assert_eq!(answer.status, pb::TicketStatus::TicketOpen as i32);
    assert_eq!(
        resolution_due(&answer),
        Some(ts("2026-12-08T13:40:00+03:00"))
    );

    let thread = support
        .list_ticket_messages(pb::ListTicketMessagesRequest {
            ticket_id: ticket.id.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("thread: {s:?}"))
        .into_inner();
    assert_eq!(thread.messages.len(), 1);
    assert!(!thread.next_page_token.is_empty());

    support
        .move_ticket(pb::MoveTicketRequest {
            id: ticket.id.clone(),
            status: pb::TicketStatus::TicketSolved as i32,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("solve: {s:?}"));
    let report = support
        .get_support_report(pb::GetSupportReportRequest {
            start_time: Some(ts("2026-12-01T00:00:00Z")),
            end_time: Some(ts("2027-01-01T00:00:00Z")),
        })
        .await
        .unwrap_or_else(|s| panic!("report: {s:?}"))
        .into_inner();
    assert_eq!((report.opened, report.solved), (1, 1));
    assert_eq!(report.sla_met, 2, "both targets met: {report:?}");
    let first_response = report.first_response.unwrap_or_default();
    assert!(
        (first_response.median_hours - 20.0 / 60.0).abs() < 1e-9,
        "{first_response:?}"
    );
}

#[tokio::test]
async fn bad_calendars_policies_and_moves_change_nothing() {
    let server = TestServer::start().await;
    let (mut support, ayse) = open_desk(&server).await;

    let mut overlapping = istanbul();
    overlapping.hours.push(hours(3, "17:00", "20:00"));
    let status = refused(
        support
            .update_business_calendar(pb::UpdateBusinessCalendarRequest {
                calendar: Some(overlapping),
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violations(&status), ["calendar.hours[5]"]);

    let mut zero = policy();
    zero.targets[0].first_response_minutes = 0;
    zero.targets[1].resolution_minutes = -30;
    let status = refused(
        support
            .update_sla_policy(pb::UpdateSlaPolicyRequest {
                policy: Some(zero),
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violations(&status),
        [
            "policy.targets[0].first_response_minutes",
            "policy.targets[1].resolution_minutes"
        ]
    );
    let in_force = support
        .get_sla_policy(pb::GetSlaPolicyRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(in_force.etag, "v1");
    let calendar = support
        .get_business_calendar(pb::GetBusinessCalendarRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!((calendar.etag.as_str(), calendar.hours.len()), ("v1", 5));

    let ticket = open_ticket(&mut support, &ayse, pb::TicketPriority::PriorityNormal).await;
    let status = refused(
        support
            .move_ticket(pb::MoveTicketRequest {
                id: ticket.id.clone(),
                status: pb::TicketStatus::TicketClosed as i32,
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_TICKET_MOVE",
    );
    assert!(status.message().contains("NEW to CLOSED"), "{status:?}");
    let unchanged = support
        .get_ticket(pb::GetTicketRequest {
            id: ticket.id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(
        (unchanged.status, unchanged.etag),
        (ticket.status, ticket.etag)
    );

    refused(
        support
            .create_ticket(pb::CreateTicketRequest {
                ticket: Some(pb::Ticket {
                    customer_id: "00000000000000ff".into(),
                    subject: "who?".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        Code::NotFound,
        "CUSTOMER_NOT_FOUND",
    );
    let status = refused(
        support
            .list_tickets(pb::ListTicketsRequest {
                filter: r#"sla.status = "LATE""#.into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violations(&status), ["filter"]);
    assert_eq!(listed(&mut support, "").await, vec![ticket.id]);
}

/// The calendar file the README sends with grpcurl is the library's example, holiday for
/// holiday.
#[test]
fn the_shipped_istanbul_calendar_is_the_librarys_example() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/calendars/istanbul.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let expected = istanbul();
    let calendar = &file["calendar"];
    assert_eq!(calendar["time_zone"], expected.time_zone.as_str());
    let holidays = calendar["holidays"].as_array().cloned().unwrap_or_default();
    assert_eq!(holidays.len(), expected.holidays.len());
    for (got, want) in holidays.iter().zip(&expected.holidays) {
        assert_eq!(got["date"], want.date.as_str());
        assert_eq!(got["name"], want.name.as_str());
        assert_eq!(got["closes_at"].as_str().unwrap_or(""), want.closes_at);
    }
    let hours = calendar["hours"].as_array().cloned().unwrap_or_default();
    assert_eq!(hours.len(), 5);
}

/// A ticket's writes are in the change feed, as TICKET events of its customer.
#[tokio::test]
async fn ticket_changes_are_in_the_change_feed() {
    use tokio_stream::StreamExt;

    let server = TestServer::start().await;
    let (mut support, ayse) = open_desk(&server).await;
    let ticket = open_ticket(&mut support, &ayse, pb::TicketPriority::PriorityNormal).await;
    let mut feed =
        pb::change_feed_service_client::ChangeFeedServiceClient::new(server.channel().await);
    let mut stream = feed
        .watch_changes(pb::WatchChangesRequest {
            after: 0,
            kinds: vec![pb::EntityKind::Ticket as i32],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("watch: {s:?}"))
        .into_inner();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .unwrap_or_else(|_| panic!("no ticket event within 10 s"))
        .unwrap_or_else(|| panic!("the stream ended"))
        .unwrap_or_else(|s| panic!("{s:?}"));
    let event = first.event.unwrap_or_default();
    let entity = event.entity.unwrap_or_default();
    assert_eq!(entity.kind, pb::EntityKind::Ticket as i32);
    assert_eq!(entity.id, ticket.id);
    assert_eq!(event.customer_id, ayse);
    assert_eq!(event.operation, pb::ChangeOperation::Created as i32);
    assert_eq!(event.method, "CreateTicket");
}
