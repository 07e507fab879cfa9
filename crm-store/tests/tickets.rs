//! A support team in Istanbul works weekdays 09:00-18:00. Its SLA clocks count only those
//! hours, skip holidays, stop while a ticket waits on the customer, and turn a ticket AT_RISK
//! and then BREACHED as time passes, with no write. The property test lets random tickets move,
//! pause, get replies (some backdated) while hours pass, and checks after every step that the
//! index, a full scan, each ticket's own SLA and an independent minute-by-minute count agree.

#![allow(clippy::panic)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use crm_core::CustomerData;
use crm_core::support::{
    BusinessCalendar, Holiday, Priority, PriorityTargets, SlaPolicy, SlaStatus, Ticket, TicketData,
    TicketStatus,
};
use crm_store::support::{NewMessage, TicketQuery};
use crm_store::{Durability, ManualClock, Store, StoreConfig, StoreError};
use proptest::prelude::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn holiday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 9).unwrap_or_else(|| panic!("date"))
}

/// Weekdays 09:00-18:00 in Istanbul, Wednesday 2026-12-09 a holiday.
fn istanbul() -> BusinessCalendar {
    let day_off = Holiday {
        date: holiday(),
        name: "a day off".into(),
        closes_at_minute: None,
    };
    BusinessCalendar::weekdays("Europe/Istanbul", 9 * 60, 18 * 60, vec![day_off])
}

fn policy() -> SlaPolicy {
    let targets = |priority, first_response_minutes, resolution_minutes| PriorityTargets {
        priority,
        first_response_minutes,
        resolution_minutes,
    };
    SlaPolicy {
        targets: vec![
            targets(Priority::Normal, 240, 960),
            targets(Priority::High, 60, 480),
            targets(Priority::Urgent, 16, 120),
        ],
        at_risk_percent: 25,
    }
}

struct Desk {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
    customer: crm_core::CustomerId,
}

fn desk(now: &str) -> Desk {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at(now));
    let config = StoreConfig::new(dir.path())
        .durability(Durability::Relaxed)
        .clock(clock.clone());
    let store = support::open(config);
    store
        .support()
        .update_business_calendar(istanbul(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .support()
        .update_sla_policy(policy(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let customer = store
        .customers()
        .create(CustomerData::person("Ayşe"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    Desk {
        _dir: dir,
        store,
        clock,
        customer,
    }
}

impl Desk {
    fn open(&self, priority: Priority, opened: Option<DateTime<Utc>>) -> Ticket {
        let data = TicketData {
            customer_id: self.customer,
            order_ref: None,
            subject: "The parcel never came".into(),
            channel: "email".into(),
            priority,
            assignee: Some("zeynep".into()),
            tags: vec![],
        };
        self.store
            .support()
            .create_ticket(data, opened, None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn listed(&self, filter: &str) -> Vec<crm_core::support::TicketId> {
        let mut ids = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .store
                .support()
                .list_tickets(&TicketQuery {
                    filter: filter.into(),
                    page_size: 7,
                    page_token: token,
                    newest_first: false,
                })
                .unwrap_or_else(|e| panic!("{filter}: {e}"));
            ids.extend(page.tickets.iter().map(|t| t.id));
            if page.next_page_token.is_empty() {
                return ids;
            }
            token = page.next_page_token;
        }
    }
}

fn first_due(t: &Ticket) -> Option<DateTime<Utc>> {
    t.sla.first_response.and_then(|c| c.due())
}

#[test]
fn a_ticket_opened_friday_evening_is_due_monday_half_past_noon() {
    let d = desk("2026-12-04T17:30:00+03:00");
    let t = d.open(Priority::Normal, None);
    assert_eq!(first_due(&t), Some(at("2026-12-07T12:30:00+03:00")));
    assert_eq!(t.sla.status, Some(SlaStatus::OnTrack));
}

#[test]
fn a_pending_pause_moves_the_due_time_by_the_paused_business_time() {
    let d = desk("2026-12-07T09:00:00+03:00");
    let t = d.open(Priority::Normal, None);
    assert_eq!(first_due(&t), Some(at("2026-12-07T13:00:00+03:00")));
    let support = d.store.support();
    let pause = at("2026-12-07T10:00:00+03:00");
    let resume = at("2026-12-07T14:30:00+03:00");
    d.clock.set(pause);
    let paused = support
        .move_ticket(t.id, TicketStatus::Pending, None, Some("v1"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first_due(&paused),
        None,
        "a paused clock has no due instant"
    );
    d.clock.set(resume);
    let resumed = support
        .move_ticket(t.id, TicketStatus::Open, None, None)
        .unwrap_or_else(|e| panic!("{e}"));
    // Four and a half business hours paused: 13:00 becomes 17:30.
    assert_eq!(first_due(&resumed), Some(at("2026-12-07T17:30:00+03:00")));
}

#[test]
fn a_holiday_is_skipped() {
    // Tuesday 16:00 with eight business hours to solve (HIGH): two on Tuesday, Wednesday is
    // a holiday, six on Thursday.
    let d = desk("2026-12-08T16:00:00+03:00");
    let t = d.open(Priority::High, None);
    let due = t.sla.resolution.and_then(|c| c.due());
    assert_eq!(due, Some(at("2026-12-10T15:00:00+03:00")));
}

#[test]
fn a_breached_ticket_is_listed_as_breached_with_no_write() {
    let d = desk("2026-12-07T09:00:00+03:00");
    let urgent = d.open(Priority::Urgent, None);
    let normal = d.open(Priority::Normal, None);
    assert!(d.listed(r#"sla.status = "BREACHED""#).is_empty());
    // 16 business minutes to reply; AT_RISK in the last quarter (from 09:12).
    d.clock.set(at("2026-12-07T09:12:00+03:00"));
    assert_eq!(d.listed(r#"sla.status = "AT_RISK""#), vec![urgent.id]);
    d.clock.set(at("2026-12-07T09:16:00+03:00"));
    assert_eq!(d.listed(r#"sla.status = "BREACHED""#), vec![urgent.id]);
    assert_eq!(d.listed(r#"sla.status = "ON_TRACK""#), vec![normal.id]);
    let got = d
        .store
        .support()
        .get_ticket(urgent.id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.version, urgent.version, "no client write happened");
    let report = d.store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn an_illegal_move_is_refused_and_changes_nothing() {
    let d = desk("2026-12-07T09:00:00+03:00");
    let t = d.open(Priority::Normal, None);
    let support = d.store.support();
    let err = support.move_ticket(t.id, TicketStatus::Closed, None, None);
    match err {
        Err(StoreError::FailedPrecondition(p)) => {
            assert_eq!(p.reason(), "ILLEGAL_TICKET_MOVE");
            assert!(p.to_string().contains("NEW to CLOSED"), "{p}");
        }
        other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
    }
    let after = support.get_ticket(t.id).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.status, TicketStatus::New);
    assert_eq!(after.version, t.version);
    let stale = support.move_ticket(t.id, TicketStatus::Open, None, Some("v7"));
    assert!(
        matches!(stale, Err(StoreError::Aborted { .. })),
        "{stale:?}"
    );
    let policy = SlaPolicy {
        targets: vec![PriorityTargets {
            priority: Priority::Low,
            first_response_minutes: 0,
            resolution_minutes: -5,
        }],
        at_risk_percent: 25,
    };
    match support.update_sla_policy(policy, None) {
        Err(StoreError::Invalid(v)) => {
            let fields: Vec<&str> = v.0.iter().map(|x| x.field.as_str()).collect();
            assert_eq!(
                fields,
                [
                    "policy.targets[0].first_response_minutes",
                    "policy.targets[0].resolution_minutes"
                ]
            );
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
    let in_force = support.sla_policy().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(in_force.version, 1, "the refused policy changed nothing");
}

#[test]
fn the_first_reply_opens_the_ticket_and_the_customer_reply_resumes_it() {
    let d = desk("2026-12-07T09:00:00+03:00");
    let t = d.open(Priority::Normal, None);
    let support = d.store.support();
    d.clock.set(at("2026-12-07T10:00:00+03:00"));
    let reply = NewMessage {
        author: "zeynep".into(),
        public: true,
        body: "We are looking into it.".into(),
        ..NewMessage::default()
    };
    let (_, t) = support
        .add_message(t.id, reply)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.status, TicketStatus::Open);
    assert_eq!(t.first_reply_at, Some(at("2026-12-07T10:00:00+03:00")));
    let fr = t.sla.first_response.map(|c| c.clock);
    assert!(
        matches!(fr, Some(crm_core::support::Clock::Done { met: true, .. })),
        "{fr:?}"
    );
    let timeline = d
        .store
        .timeline()
        .list(&crm_store::TimelineQuery {
            customer_id: Some(d.customer),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<_> = timeline.entries.iter().map(|e| e.event.kind()).collect();
    assert!(
        kinds
            .iter()
            .filter(|k| **k == crm_core::EntryKind::Ticket)
            .count()
            >= 2,
        "opened and first reply on the timeline: {kinds:?}"
    );
}

// ---- the property test ----

#[derive(Clone, Debug)]
enum Step {
    /// A ticket opened `back` minutes before now.
    Open { priority: u8, back: u16 },
    /// The n-th ticket moves to a status, `late` minutes after its latest event (capped at now).
    Move { who: u8, to: u8, late: u16 },
    /// A reply on the n-th ticket, by the business (public) or the customer.
    Reply { who: u8, customer: bool, late: u16 },
    /// Minutes pass.
    Wait { minutes: u16 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..4, 0u16..3000).prop_map(|(priority, back)| Step::Open { priority, back }),
        (any::<u8>(), 0u8..6, 0u16..600).prop_map(|(who, to, late)| Step::Move { who, to, late }),
        (any::<u8>(), any::<bool>(), 0u16..600).prop_map(|(who, customer, late)| Step::Reply {
            who,
            customer,
            late
        }),
        (1u16..3000).prop_map(|minutes| Step::Wait { minutes }),
    ]
}

/// Whether the Istanbul desk works in the minute starting at `t` (UTC+3 all year, since 2016).
fn working(t: DateTime<Utc>) -> bool {
    let local = t + Duration::hours(3);
    let hour = local.hour();
    local.weekday().number_from_monday() <= 5
        && (9..18).contains(&hour)
        && local.date_naive() != holiday()
}

/// Whether the clocks run in the minute starting at `m`: the ticket was NEW, OPEN or ON_HOLD
/// then (read from its moves here, not with the store's own rule).
fn running(t: &Ticket, m: DateTime<Utc>) -> bool {
    let status = t
        .moves
        .iter()
        .rfind(|mv| mv.at <= m)
        .map_or(TicketStatus::New, |mv| mv.to);
    matches!(
        status,
        TicketStatus::New | TicketStatus::Open | TicketStatus::OnHold
    )
}

/// Business minutes the ticket's clock ran before `end`, counted minute by minute.
fn used(t: &Ticket, end: DateTime<Utc>) -> i64 {
    let mut minutes = 0;
    let mut m = t.opened_at;
    while m < end {
        if running(t, m) && working(m) {
            minutes += 1;
        }
        m += Duration::minutes(1);
    }
    minutes
}

/// The SLA status, from the history alone.
fn oracle(t: &Ticket, now: DateTime<Utc>) -> Option<SlaStatus> {
    let targets = policy().for_priority(t.data.priority)?;
    let replied = [t.first_reply_at, t.first_solved_at()]
        .into_iter()
        .flatten()
        .min();
    let judge = |target: i64, done: Option<DateTime<Utc>>| {
        let risk = target * 75 / 100;
        match done {
            Some(d) if used(t, d) <= target => SlaStatus::Met,
            Some(_) => SlaStatus::Breached,
            None => match used(t, now) {
                u if u >= target => SlaStatus::Breached,
                u if u >= risk => SlaStatus::AtRisk,
                _ => SlaStatus::OnTrack,
            },
        }
    };
    let both = [
        judge(targets.first_response_minutes, replied),
        judge(targets.resolution_minutes, t.solved_at()),
    ];
    let rank = |s: &SlaStatus| match s {
        SlaStatus::Met => 0,
        SlaStatus::OnTrack => 1,
        SlaStatus::AtRisk => 2,
        SlaStatus::Breached => 3,
    };
    both.into_iter().max_by_key(rank)
}

fn check(d: &Desk, tickets: &[crm_core::support::TicketId]) -> Result<(), TestCaseError> {
    let now = d.clock_now();
    for status in SlaStatus::ALL {
        let indexed = d.listed(&format!(r#"sla.status = "{}""#, status.name()));
        let scanned = d.listed(&format!(
            r#"sla.status = "{}" OR priority < "LOW""#,
            status.name()
        ));
        let own: Vec<_> = tickets
            .iter()
            .filter(|id| {
                let t = d
                    .store
                    .support()
                    .get_ticket(**id)
                    .unwrap_or_else(|e| panic!("{e}"));
                t.sla.status == Some(status)
            })
            .copied()
            .collect();
        let expected: Vec<_> = tickets
            .iter()
            .filter(|id| {
                let t = d
                    .store
                    .support()
                    .get_ticket(**id)
                    .unwrap_or_else(|e| panic!("{e}"));
                oracle(&t, now) == Some(status)
            })
            .copied()
            .collect();
        prop_assert_eq!(&indexed, &scanned, "index and scan differ on {:?}", status);
        prop_assert_eq!(&indexed, &own, "index and tickets differ on {:?}", status);
        prop_assert_eq!(
            &indexed,
            &expected,
            "index and oracle differ on {:?}",
            status
        );
    }
    Ok(())
}

impl Desk {
    fn clock_now(&self) -> DateTime<Utc> {
        use crm_store::Clock;
        self.clock.now()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::support::cases(24), ..ProptestConfig::default() })]

    #[test]
    fn the_sla_index_a_scan_each_ticket_and_the_history_agree(
        steps in proptest::collection::vec(step(), 1..30)
    ) {
        let d = desk("2026-12-07T08:30:00+03:00");
        let mut tickets = Vec::new();
        for s in steps {
            let now = d.clock_now();
            let support = d.store.support();
            match s {
                Step::Open { priority, back } => {
                    let opened = now - Duration::minutes(i64::from(back));
                    let t = d.open(Priority::ALL[usize::from(priority)], Some(opened));
                    tickets.push(t.id);
                }
                Step::Move { who, to, late } if !tickets.is_empty() => {
                    let id = tickets[usize::from(who) % tickets.len()];
                    let before = support.get_ticket(id).unwrap_or_else(|e| panic!("{e}"));
                    let when = (before.last_event() + Duration::minutes(i64::from(late))).min(now);
                    let to = TicketStatus::ALL[usize::from(to)];
                    match support.move_ticket(id, to, Some(when), None) {
                        Ok(t) => prop_assert_eq!(t.status, to),
                        Err(StoreError::FailedPrecondition(_)) => {
                            let after = support.get_ticket(id).unwrap_or_else(|e| panic!("{e}"));
                            prop_assert_eq!(after.version, before.version);
                        }
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                }
                Step::Reply { who, customer, late } if !tickets.is_empty() => {
                    let id = tickets[usize::from(who) % tickets.len()];
                    let before = support.get_ticket(id).unwrap_or_else(|e| panic!("{e}"));
                    let when = (before.last_event() + Duration::minutes(i64::from(late))).min(now);
                    let message = NewMessage {
                        author: if customer { "Ayşe" } else { "zeynep" }.into(),
                        from_customer: customer,
                        public: true,
                        body: "hello".into(),
                        at: Some(when),
                        request_id: None,
                    };
                    match support.add_message(id, message) {
                        Ok(_) | Err(StoreError::FailedPrecondition(_)) => {}
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                }
                Step::Move { .. } | Step::Reply { .. } => {}
                Step::Wait { minutes } => d.clock.advance(Duration::minutes(i64::from(minutes))),
            }
            check(&d, &tickets)?;
        }
        let report = d.store.verify().unwrap_or_else(|e| panic!("{e}"));
        prop_assert!(report.is_clean(), "{:?}", report.problems);
    }
}

#[test]
fn deleting_a_customer_takes_its_tickets_and_feedback_along() {
    let d = desk("2026-12-07T09:00:00+03:00");
    let t = d.open(Priority::Normal, None);
    let support = d.store.support();
    support
        .add_message(
            t.id,
            NewMessage {
                body: "hello".into(),
                public: true,
                ..NewMessage::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let answer = crm_core::feedback::Response {
        kind: crm_core::feedback::SurveyKind::Csat,
        score: 2,
        comment: String::new(),
        channel: String::new(),
        survey: String::new(),
        ticket_id: Some(t.id),
        order_ref: None,
    };
    d.store
        .feedback()
        .record_response(d.customer, answer, Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let month = |y, m| at(&format!("{y}-{m:02}-01T00:00:00Z"));
    let before = support
        .report(month(2026, 12), month(2027, 1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((before.opened, before.csat_responses), (1, 1));
    d.store
        .customers()
        .delete(d.customer, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        support.get_ticket(t.id),
        Err(StoreError::NotFound(_))
    ));
    let after = support
        .report(month(2026, 12), month(2027, 1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((after.opened, after.csat_responses), (0, 0));
    let report = d.store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn a_reply_sent_twice_with_one_request_id_is_added_once() {
    let d = desk("2026-12-07T09:00:00+03:00");
    let t = d.open(Priority::Normal, None);
    let other = d.open(Priority::Normal, None);
    let support = d.store.support();
    let reply = NewMessage {
        body: "Kargonuz yolda.".into(),
        public: true,
        request_id: Some("reply-1".into()),
        ..NewMessage::default()
    };
    let (first, _) = support
        .add_message(t.id, reply.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let (again, ticket) = support
        .add_message(t.id, reply.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, first);
    assert_eq!(ticket.message_count, 1);
    match support.add_message(other.id, reply) {
        Err(StoreError::FailedPrecondition(p)) => assert_eq!(p.reason(), "REQUEST_ID_REUSED"),
        other => panic!("expected REQUEST_ID_REUSED, got {other:?}"),
    }
}
