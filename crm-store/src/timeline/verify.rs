//! The timeline part of `Store::verify`: every entry decodes and sits at its key under an
//! existing customer; every summary equals the summary recomputed from its timeline; the order,
//! purchase-time and referral keys are exactly those the entries imply.

use std::collections::{BTreeMap, BTreeSet};

use crm_core::timeline::Interaction;
use crm_core::{CustomerId, Event, Summary, TimelineEntry};

use crate::error::Result;
use crate::kv::Kv;
use crate::kv::{codec, keys};
use crate::timeline::OrderState;

/// What the timelines imply, built while reading them.
#[derive(Default)]
struct Expected {
    orders: BTreeMap<Vec<u8>, OrderState>,
    purchase_times: BTreeSet<Vec<u8>>,
    referrals: BTreeSet<Vec<u8>>,
    summaries: BTreeMap<CustomerId, Vec<TimelineEntry>>,
}

/// Checks the timelines of `customers` (records that decode); `damaged` holds customers whose
/// record does not decode, whose entries are not reported again. Returns entries checked.
pub(crate) fn check(
    engine: &Kv,
    customers: &BTreeSet<CustomerId>,
    damaged: &BTreeSet<CustomerId>,
    last_seq: u64,
    problems: &mut Vec<String>,
) -> Result<u64> {
    let mut expected = Expected::default();
    let mut count = 0;
    for item in engine.scan_prefix(&[keys::TIMELINE]) {
        let (key, value) = item?;
        count += 1;
        let entry: TimelineEntry = match codec::decode(&value, &|| keys::describe(&key)) {
            Ok(e) => e,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let owner = entry.customer_id;
        if key.as_ref() != keys::timeline(owner, entry.occurred_at, entry.id) {
            problems.push(format!(
                "timeline entry at {} is out of place",
                keys::describe(&key)
            ));
        }
        if entry.id.0 >> crate::write::ENTRY_BITS > last_seq {
            problems.push(format!(
                "timeline entry {} was written after the last change-log event {last_seq}",
                entry.id.0
            ));
        }
        if damaged.contains(&owner) {
            continue;
        }
        if !customers.contains(&owner) {
            problems.push(format!(
                "timeline entry {} belongs to no customer ({owner})",
                entry.id.0
            ));
            continue;
        }
        match &entry.event {
            Event::Purchase(p) => {
                expected.purchase_times.insert(keys::purchase_time(
                    owner,
                    entry.occurred_at,
                    entry.id,
                ));
                expected.orders.insert(
                    keys::order(owner, &p.order_ref),
                    OrderState {
                        entry: entry.id,
                        occurred_at: entry.occurred_at,
                        refunded_minor: 0,
                    },
                );
            }
            Event::Interaction(Interaction {
                referred_customer_id: Some(r),
                ..
            }) => {
                expected
                    .referrals
                    .insert(keys::referral(*r, owner, entry.id));
            }
            _ => {}
        }
        expected.summaries.entry(owner).or_default().push(entry);
    }
    // Refunds lower what is left of their purchase.
    for (owner, entries) in &expected.summaries {
        for e in entries {
            if let Event::Refund(r) = &e.event {
                match expected.orders.get_mut(&keys::order(*owner, &r.order_ref)) {
                    Some(o) => o.refunded_minor += r.amount.amount_minor,
                    None => problems.push(format!(
                        "refund {} of {owner} refers to order {:?}, which it never bought",
                        e.id.0, r.order_ref
                    )),
                }
            }
        }
    }
    check_summaries(engine, customers, damaged, &expected.summaries, problems)?;
    check_set(
        engine,
        keys::PURCHASE_TIME,
        expected.purchase_times,
        damaged,
        "purchase-time key",
        problems,
    )?;
    check_set(
        engine,
        keys::REFERRAL,
        expected.referrals,
        damaged,
        "referral key",
        problems,
    )?;
    for item in engine.scan_prefix(&[keys::ORDER]) {
        let (key, value) = item?;
        let want = expected.orders.remove(key.as_slice());
        if keys::trailing_id(&key[..9]).is_some_and(|id| damaged.contains(&id)) {
            continue;
        }
        match (OrderState::from_bytes(&key, &value), want) {
            (Ok(have), Some(want)) if have == want => {}
            (Ok(have), Some(want)) => problems.push(format!(
                "order key {} holds {have:?}, the timeline says {want:?}",
                keys::describe(&key)
            )),
            (Ok(_), None) => problems.push(format!(
                "order key {} has no purchase",
                keys::describe(&key)
            )),
            (Err(e), _) => problems.push(e.to_string()),
        }
    }
    for missing in expected.orders.keys() {
        problems.push(format!("order key {} is missing", keys::describe(missing)));
    }
    Ok(count)
}

fn check_summaries(
    engine: &Kv,
    customers: &BTreeSet<CustomerId>,
    damaged: &BTreeSet<CustomerId>,
    timelines: &BTreeMap<CustomerId, Vec<TimelineEntry>>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let mut stored = BTreeMap::new();
    for item in engine.scan_prefix(&[keys::SUMMARY]) {
        let (key, value) = item?;
        let Some(id) = keys::trailing_id(&key).filter(|_| key.len() == 9) else {
            problems.push(format!("summary key {} is malformed", keys::describe(&key)));
            continue;
        };
        if damaged.contains(&id) {
            continue;
        }
        if !customers.contains(&id) {
            problems.push(format!("summary of {id} belongs to no customer"));
            continue;
        }
        match codec::decode::<Summary>(&value, &|| format!("summary of {id}")) {
            Ok(s) => {
                stored.insert(id, s);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let empty = Vec::new();
    let ids: BTreeSet<CustomerId> = stored.keys().chain(timelines.keys()).copied().collect();
    for id in ids {
        let entries = timelines.get(&id).unwrap_or(&empty);
        let Ok(expected) = Summary::from_entries(entries) else {
            problems.push(format!("the timeline of {id} overflows its totals"));
            continue;
        };
        let have = stored.remove(&id).unwrap_or_default();
        if have != expected {
            problems.push(format!("the summary of {id} differs from its timeline"));
        }
    }
    Ok(())
}

fn check_set(
    engine: &Kv,
    family: u8,
    mut expected: BTreeSet<Vec<u8>>,
    damaged: &BTreeSet<CustomerId>,
    what: &str,
    problems: &mut Vec<String>,
) -> Result<()> {
    for item in engine.scan_prefix(&[family]) {
        let (key, _) = item?;
        if !expected.remove(key.as_slice())
            && !keys::trailing_id(&key[..key.len().min(9)]).is_some_and(|id| damaged.contains(&id))
        {
            problems.push(format!(
                "{what} {} has no matching entry",
                keys::describe(&key)
            ));
        }
    }
    for missing in expected {
        problems.push(format!("{what} {} is missing", keys::describe(&missing)));
    }
    Ok(())
}
