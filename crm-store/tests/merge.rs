//! A data steward finds the same person entered three times, merges the records, finds the merge
//! was wrong, and unmerges: the originals come back with their timelines and summaries.

#![allow(clippy::panic)]

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::merge::{Evidence, FieldSource, MergeRules};
use crm_core::timeline::{Interaction, InteractionKind, Purchase};
use crm_core::{Customer, CustomerData, CustomerId, Email, Money, Phone, Summary, TimelineEntry};
use crm_store::{EntryMeta, Resource, Store, StoreError};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn person(store: &Store, given: &str, family: &str, email: &str, phone: &str) -> Customer {
    let mut data = CustomerData::person(given);
    if let crm_core::Party::Person(p) = &mut data.party {
        p.family_name = family.into();
    }
    if !email.is_empty() {
        data.emails.push(Email {
            address: email.into(),
            label: String::new(),
            primary: false,
        });
    }
    if !phone.is_empty() {
        data.phones.push(Phone {
            number: phone.into(),
            label: String::new(),
        });
    }
    store
        .customers()
        .create(data, None)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn buy(store: &Store, id: CustomerId, order: &str, amount: i64, when: &str) {
    store
        .timeline()
        .record_purchase(
            id,
            Purchase {
                order_ref: order.into(),
                amount: Money::new("TRY", amount),
                line_items: Vec::new(),
            },
            EntryMeta {
                occurred_at: Some(at(when)),
                ..EntryMeta::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

fn refer(store: &Store, referrer: CustomerId, referred: CustomerId, when: &str) {
    let mut i = Interaction::inbound(InteractionKind::Referral, "a friend", "phone");
    i.referred_customer_id = Some(referred);
    store
        .timeline()
        .record_interaction(
            referrer,
            i,
            EntryMeta {
                occurred_at: Some(at(when)),
                ..EntryMeta::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Everything the story compares: the record's data, its timeline and its summary.
fn state(store: &Store, id: CustomerId) -> (CustomerData, Vec<TimelineEntry>, Summary) {
    let c = store.customers().get(id).unwrap_or_else(|e| panic!("{e}"));
    let entries = store
        .timeline()
        .entries(id)
        .unwrap_or_else(|e| panic!("{e}"));
    let summary = store
        .timeline()
        .summary(id)
        .unwrap_or_else(|e| panic!("{e}"));
    (c.data, entries, summary)
}

fn clean(store: &Store) {
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn three_records_of_one_person_merge_and_unmerge_back_to_what_they_were() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = support::open_in(dir.path());
    let ayse = person(
        &store,
        "Ayşe",
        "Yılmaz",
        "ayse@example.com",
        "+905321112233",
    );
    let ayse2 = person(&store, "AYSE", "yilmaz", "ayse.yilmaz+shop@example.com", "");
    let ayse3 = person(&store, "Ayse", "Yilmaz", "", "+905321112233");
    let friend = person(&store, "Can", "Demir", "can@example.com", "");
    buy(&store, ayse.id, "A-1", 10_000, "2025-01-10T10:00:00Z");
    buy(&store, ayse2.id, "B-1", 2_000, "2024-06-01T10:00:00Z");
    buy(&store, ayse3.id, "C-1", 500, "2025-03-01T10:00:00Z");
    refer(&store, friend.id, ayse2.id, "2024-05-01T10:00:00Z");
    refer(&store, ayse3.id, friend.id, "2025-02-01T10:00:00Z");
    buy(&store, friend.id, "F-1", 700, "2025-02-02T10:00:00Z");
    let before: BTreeMap<CustomerId, _> = [ayse.id, ayse2.id, ayse3.id, friend.id]
        .into_iter()
        .map(|id| (id, state(&store, id)))
        .collect();
    clean(&store);

    // The three are found as one group: a phone and a name, a name alone.
    let groups = store
        .customers()
        .find_duplicates(0.5, 100)
        .unwrap_or_else(|e| panic!("{e}"));
    let group = groups
        .iter()
        .find(|g| g.members.contains(&ayse.id))
        .unwrap_or_else(|| panic!("no group for Ayşe: {groups:?}"));
    let mut members = group.members.clone();
    members.sort();
    let mut expected = vec![ayse.id, ayse2.id, ayse3.id];
    expected.sort();
    assert_eq!(members, expected);
    assert!(group.evidence.contains(&Evidence::Phone));
    assert!(group.score >= 0.9, "{group:?}");

    // Merged, with the newest phone list and the second record's email kept too.
    let rules = MergeRules::from([("display_name".to_owned(), FieldSource::From(ayse2.id))]);
    let merge = store
        .customers()
        .merge(ayse.id, &[ayse2.id, ayse3.id], &rules)
        .unwrap_or_else(|e| panic!("{e}"));
    clean(&store);
    let (data, entries, summary) = state(&store, ayse.id);
    assert_eq!(data.display_name, "AYSE yilmaz");
    assert_eq!(data.emails.len(), 2);
    assert_eq!(summary.purchase_count, 3);
    assert_eq!(
        entries.iter().filter(|e| e.customer_id == ayse.id).count(),
        entries.len()
    );
    match store.customers().get(ayse2.id) {
        Err(StoreError::NotFound(Resource::Merged {
            survivor, merge: m, ..
        })) => {
            assert_eq!((survivor, m), (ayse.id, merge.id));
        }
        other => panic!("a merged id answered {other:?}"),
    }
    // Whoever referred a merged record referred the survivor.
    let friends_entries = store
        .timeline()
        .entries(friend.id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(friends_entries.iter().any(|e| matches!(
        &e.event,
        crm_core::Event::Interaction(i) if i.referred_customer_id == Some(ayse.id)
    )));
    // A merge of different kinds, or of the survivor into itself, is refused.
    assert!(matches!(
        store
            .customers()
            .merge(ayse.id, &[ayse.id], &MergeRules::new()),
        Err(StoreError::Invalid(_))
    ));

    // Undone: everything as it was.
    let restored = store
        .customers()
        .unmerge(merge.id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restored.len(), 2);
    clean(&store);
    for (id, was) in &before {
        assert_eq!(&state(&store, *id), was, "{id} did not come back as it was");
    }
    assert!(matches!(
        store.customers().unmerge(merge.id),
        Err(StoreError::FailedPrecondition(_))
    ));
}
