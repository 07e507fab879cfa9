//! Privacy stories. Ayşe asks a shop to forget her: after the erasure and the compaction step,
//! no file of the data directory holds her email, phone, name or what she wrote, while the
//! shop's revenue still counts her purchases under her anonymous id; the feed tells connected
//! systems; creating her again with that email is refused. Elif withdraws from email
//! marketing, comes back through a web form and confirms; the marketing segment follows.
//! Kemal's export holds every item written about him. A retention policy erases exactly the
//! persons a model says are inactive, and its dry run said so before (`retention.rs`). The
//! erasure story runs on sled (it scans sled's files); the others on the engine under test.

#![allow(clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod retention;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crm_core::privacy::{ConsentPurpose, ConsentRecord, ConsentSource};
use crm_core::support::{Priority, TicketData};
use crm_core::tasks::{TaskData, TaskLink};
use crm_core::timeline::{Interaction, LineItem, Purchase};
use crm_core::{CustomerData, CustomerId, Email, InteractionKind, Money, Phone, SegmentData};
use crm_store::privacy::ExportSection;
use crm_store::support::NewMessage;
use crm_store::{
    ChangeKind, Durability, EntryMeta, FeedQuery, ManualClock, Store, StoreConfig, StoreError,
};

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn config(dir: &Path, clock: &Arc<ManualClock>) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.durability = Durability::Relaxed;
    config.clock = clock.clone();
    config
}

/// A store on sled: the erasure story scans sled's files.
fn open(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    Store::open_with(config(dir, clock)).unwrap_or_else(|e| panic!("open: {e}"))
}

/// A store on the engine under test (`CRM_TEST_ENGINE`).
pub(crate) fn open_any(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    support::open(config(dir, clock))
}

pub(crate) fn person(store: &Store, name: &str, email: &str, phone: &str) -> CustomerId {
    let mut data = CustomerData::person(name);
    data.emails.push(Email {
        address: email.into(),
        label: "home".into(),
        primary: true,
    });
    if !phone.is_empty() {
        data.phones.push(Phone {
            number: phone.into(),
            label: "mobile".into(),
        });
    }
    store
        .customers()
        .create(data, None)
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
        .id
}

pub(crate) fn buy(store: &Store, id: CustomerId, order: &str, amount: i64, when: DateTime<Utc>) {
    let purchase = Purchase {
        order_ref: order.into(),
        amount: Money::new("TRY", amount),
        line_items: vec![LineItem {
            sku: "kettle".into(),
            quantity: 1,
            unit_price_minor: amount,
        }],
    };
    let meta = EntryMeta {
        occurred_at: Some(when),
        ..EntryMeta::default()
    };
    store
        .timeline()
        .record_purchase(id, purchase, meta)
        .unwrap_or_else(|e| panic!("purchase: {e}"));
}

fn note(store: &Store, id: CustomerId, text: &str, when: DateTime<Utc>) {
    let mut call = Interaction::inbound(InteractionKind::Call, text, "phone");
    call.body = format!("{text} (notes)");
    let meta = EntryMeta {
        occurred_at: Some(when),
        ..EntryMeta::default()
    };
    store
        .timeline()
        .record_interaction(id, call, meta)
        .unwrap_or_else(|e| panic!("interaction: {e}"));
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(path.display().to_string());
                }
            }
        }
    }
    out
}

fn precondition(e: StoreError) -> &'static str {
    match e {
        StoreError::FailedPrecondition(p) => p.reason(),
        other => panic!("expected FAILED_PRECONDITION, got {other}"),
    }
}

#[test]
fn an_erased_customer_leaves_no_bytes_behind_and_keeps_its_revenue() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("crm-data");
    let clock = ManualClock::new(at("2026-06-01T10:00:00Z"));
    let store = open(&data, &clock);
    let email = "ayse.zümrüt.erasure@example.com";
    let phone = "+905329876543";
    let secret_text = "Zumrut-kettle-complaint-7731";
    let ayse = person(&store, "Zümrütnaz", email, phone);
    let other = person(&store, "Bora", "bora@example.com", "");
    // Many entries, so the erased bytes sit among live ones in sled's log.
    for n in 0..200 {
        buy(
            &store,
            ayse,
            &format!("A-{n}"),
            1_000,
            at("2026-05-01T10:00:00Z"),
        );
        buy(
            &store,
            other,
            &format!("B-{n}"),
            500,
            at("2026-05-01T10:00:00Z"),
        );
    }
    note(&store, ayse, secret_text, at("2026-05-02T10:00:00Z"));
    let ticket = store
        .support()
        .create_ticket(
            TicketData {
                customer_id: ayse,
                order_ref: None,
                subject: format!("{secret_text} ticket"),
                channel: "email".into(),
                priority: Priority::Normal,
                assignee: None,
                tags: vec![],
            },
            None,
            None,
        )
        .unwrap_or_else(|e| panic!("ticket: {e}"));
    store
        .support()
        .add_message(
            ticket.id,
            NewMessage {
                author: email.into(),
                from_customer: true,
                public: true,
                body: format!("{secret_text} message"),
                at: None,
                request_id: None,
            },
        )
        .unwrap_or_else(|e| panic!("message: {e}"));
    for link in [TaskLink::Customer(ayse), TaskLink::Ticket(ticket.id)] {
        store
            .tasks()
            .create_task(
                TaskData {
                    title: format!("Call back about {secret_text}"),
                    notes: format!("{email} {phone}"),
                    due_time: at("2026-06-02T10:00:00Z"),
                    owner: "zeynep".into(),
                    link: Some(link),
                },
                None,
            )
            .unwrap_or_else(|e| panic!("task: {e}"));
    }
    let revenue_before = store
        .timeline()
        .summary(ayse)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut backup = Vec::new();
    store.backup(&mut backup).unwrap_or_else(|e| panic!("{e}"));
    let cursor = store
        .audit()
        .feed_position()
        .unwrap_or_else(|e| panic!("{e}"));

    let erased = store
        .privacy()
        .erase(ayse, "data subject request DSR-118")
        .unwrap_or_else(|e| panic!("erase: {e}"));
    assert!(erased.data.emails.is_empty() && erased.data.phones.is_empty());
    assert_eq!(erased.data.display_name, "Erased customer");
    assert_eq!(
        erased.erased.as_ref().map(|e| e.reason.as_str()),
        Some("data subject request DSR-118")
    );
    // Erasing twice, or an unknown id, is refused and changes nothing.
    assert_eq!(
        precondition(
            store
                .privacy()
                .erase(ayse, "again")
                .err()
                .unwrap_or_else(|| panic!("twice"))
        ),
        "CUSTOMER_ERASED"
    );
    assert!(matches!(
        store.privacy().erase(CustomerId(42), "who"),
        Err(StoreError::NotFound(_))
    ));
    // Nor does it merge, either way: an erased record takes in no personal data.
    for (survivor, merged) in [(ayse, other), (other, ayse)] {
        let rules = crm_core::merge::MergeRules::default();
        let refused = store.customers().merge(survivor, &[merged], &rules);
        assert_eq!(
            precondition(refused.err().unwrap_or_else(|| panic!("merged"))),
            "CUSTOMER_ERASED"
        );
    }
    // The feed tells connected systems to erase too.
    let batch = store
        .audit()
        .read_feed(&FeedQuery::default(), cursor, 100)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        batch
            .events
            .iter()
            .any(|e| e.change.kind == ChangeKind::Erased && e.change.entity.id == ayse.0),
        "no ERASED event"
    );
    // Revenue stays, under the anonymous id.
    let revenue_after = store
        .timeline()
        .summary(ayse)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revenue_after.totals, revenue_before.totals);
    assert_eq!(revenue_after.purchase_count, 200);
    // The same email comes back in an import: refused, unless the person consents again.
    let mut again = CustomerData::person("Zümrütnaz");
    again.emails.push(Email {
        address: email.to_uppercase(),
        label: String::new(),
        primary: true,
    });
    let refused = store.customers().create(again.clone(), None);
    assert_eq!(
        precondition(refused.err().unwrap_or_else(|| panic!("created"))),
        "SUPPRESSED_CONTACT"
    );
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    drop(store);

    // Before the compaction step sled's log still holds the old values: the scan sees them.
    assert!(!files_holding(&data, email.as_bytes()).is_empty());
    // The compaction step, then the byte scan of every file in the data directory.
    crm_store::privacy::compact(StoreConfig::new(&data)).unwrap_or_else(|e| panic!("{e}"));
    for needle in [
        email.as_bytes(),
        phone.as_bytes(),
        "Zümrütnaz".as_bytes(),
        secret_text.as_bytes(),
    ] {
        let holding = files_holding(&data, needle);
        assert!(
            holding.is_empty(),
            "{:?} still in {holding:?}",
            String::from_utf8_lossy(needle)
        );
    }
    // What the backup taken before the erasure still holds: all of it. Restoring it brings
    // the person back; DESIGN.md says what an operator does about that.
    assert!(backup.windows(email.len()).any(|w| w == email.as_bytes()));
    assert!(
        backup
            .windows(secret_text.len())
            .any(|w| w == secret_text.as_bytes())
    );

    let store = open(&data, &clock);
    let kept = store
        .timeline()
        .summary(ayse)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kept.totals, revenue_before.totals);
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    // A new grant recorded with the email lets the person back in.
    again.consent.record(ConsentRecord::asserted(
        ConsentPurpose::EmailMarketing,
        true,
        at("2026-06-01T09:00:00Z"),
    ));
    store
        .customers()
        .create(again, None)
        .unwrap_or_else(|e| panic!("consented create: {e}"));
}

#[test]
fn consent_is_withdrawn_then_granted_again_with_double_opt_in() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-01T10:00:00Z"));
    let store = open_any(dir.path(), &clock);
    let elif = person(&store, "Elif", "elif@example.com", "");
    let can = person(&store, "Can", "can@example.com", "");
    let grant = |id, time: &str| {
        store
            .privacy()
            .record_consent(
                id,
                ConsentRecord::asserted(ConsentPurpose::EmailMarketing, true, at(time)),
            )
            .unwrap_or_else(|e| panic!("{e}"))
    };
    grant(elif, "2026-01-01T00:00:00Z");
    grant(can, "2026-01-01T00:00:00Z");
    let segment = store
        .segments()
        .create(SegmentData {
            name: "Newsletter".into(),
            description: "Everyone we email".into(),
            filter: String::new(),
            purpose: Some(ConsentPurpose::EmailMarketing),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let members = |store: &Store| -> Vec<CustomerId> {
        store
            .segments()
            .members(segment.id, 100, String::new())
            .unwrap_or_else(|e| panic!("{e}"))
            .customers
            .iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(members(&store), vec![elif, can]);

    // Elif withdraws: she leaves the marketing segment at once.
    store
        .privacy()
        .record_consent(
            elif,
            ConsentRecord::asserted(
                ConsentPurpose::EmailMarketing,
                false,
                at("2026-03-01T00:00:00Z"),
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(members(&store), vec![can]);
    assert_eq!(store.segments().count(segment.id).ok(), Some(1));

    // She signs up again through a web form: pending until she confirms.
    let signup = ConsentRecord {
        source: ConsentSource::WebForm,
        text_version: "newsletter v4".into(),
        ..ConsentRecord::asserted(
            ConsentPurpose::EmailMarketing,
            true,
            at("2026-05-01T00:00:00Z"),
        )
    };
    let pending = store
        .privacy()
        .record_consent(elif, signup.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !pending
            .data
            .consent
            .is_granted(ConsentPurpose::EmailMarketing)
    );
    assert_eq!(members(&store), vec![can]);
    let confirmed = store
        .privacy()
        .record_consent(
            elif,
            ConsentRecord {
                time: at("2026-05-01T00:10:00Z"),
                confirm_time: Some(at("2026-05-01T00:10:00Z")),
                ..signup
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        confirmed
            .data
            .consent
            .is_granted(ConsentPurpose::EmailMarketing)
    );
    assert_eq!(confirmed.data.consent.history.len(), 4);
    assert_eq!(members(&store), vec![elif, can]);

    // A decision in the future or a confirmation of a withdrawal is refused, and adds nothing.
    let future =
        ConsentRecord::asserted(ConsentPurpose::Profiling, true, at("2027-01-01T00:00:00Z"));
    assert!(matches!(
        store.privacy().record_consent(elif, future),
        Err(StoreError::Invalid(_))
    ));
    let odd = ConsentRecord {
        confirm_time: Some(at("2026-05-02T00:00:00Z")),
        ..ConsentRecord::asserted(ConsentPurpose::Profiling, false, at("2026-05-01T00:00:00Z"))
    };
    assert!(matches!(
        store.privacy().record_consent(elif, odd),
        Err(StoreError::Invalid(_))
    ));
    let now = store
        .customers()
        .get(elif)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(now.data.consent.history.len(), 4);
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn an_export_holds_every_item_written_about_the_person() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-01T10:00:00Z"));
    let store = open_any(dir.path(), &clock);
    let kemal = person(&store, "Kemal", "kemal@example.com", "+905551112233");
    for n in 0..3 {
        buy(
            &store,
            kemal,
            &format!("K-{n}"),
            2_500,
            at("2026-05-01T10:00:00Z"),
        );
    }
    note(
        &store,
        kemal,
        "asked about the warranty",
        at("2026-05-03T10:00:00Z"),
    );
    let ticket = store
        .support()
        .create_ticket(
            TicketData {
                customer_id: kemal,
                order_ref: Some("K-1".into()),
                subject: "Broken lid".into(),
                channel: "web".into(),
                priority: Priority::High,
                assignee: None,
                tags: vec![],
            },
            None,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    for body in ["The lid cracked", "We send a new one"] {
        store
            .support()
            .add_message(
                ticket.id,
                NewMessage {
                    author: "kemal".into(),
                    from_customer: body.starts_with("The"),
                    public: true,
                    body: body.into(),
                    at: None,
                    request_id: None,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .privacy()
        .record_consent(
            kemal,
            ConsentRecord::asserted(ConsentPurpose::Profiling, true, at("2026-05-04T00:00:00Z")),
        )
        .unwrap_or_else(|e| panic!("{e}"));

    let items = store
        .privacy()
        .export(kemal)
        .unwrap_or_else(|e| panic!("{e}"));
    let count = |s: ExportSection| items.iter().filter(|i| i.section == s).count();
    let entries = store
        .timeline()
        .entries(kemal)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count(ExportSection::Customer), 1);
    assert_eq!(count(ExportSection::TimelineEntry), entries.len());
    assert_eq!(count(ExportSection::Ticket), 1);
    assert_eq!(count(ExportSection::TicketMessage), 2);
    let all = items
        .iter()
        .map(|i| i.json.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for written in [
        "kemal@example.com",
        "+905551112233",
        "K-0",
        "K-2",
        "asked about the warranty",
        "Broken lid",
        "The lid cracked",
        "We send a new one",
        "Profiling",
    ] {
        assert!(all.contains(written), "the export lacks {written:?}");
    }
    // Every change written about him is in it as an audit event.
    let audit_events = count(ExportSection::AuditEvent);
    // The create, three purchases, the interaction, the consent.
    assert!(audit_events >= 6, "{audit_events} audit events");
    // The export itself is audited.
    let trail = store
        .audit()
        .events(&crm_store::AuditQuery {
            configuration: true,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        trail.events.iter().any(
            |e| e.operation == "ExportCustomerData" && e.subject == format!("customer {kemal}")
        )
    );
}
