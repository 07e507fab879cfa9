//! `verify()`'s part for the derived index (see `derived.rs`).

use std::collections::BTreeSet;

use crm_core::CustomerId;

use crate::Store;
use crate::derived::{DerivedState, evaluate, rules_print, state_keys};
use crate::error::Result;
use crate::kv::{codec, keys};

/// Checks the derived index: every customer has a state, every entry stands for a state, and
/// (when the index was built with the rules and model in force) every state that has not
/// expired is what the customer's record and summary give at `now`.
pub(crate) fn verify(
    store: &Store,
    customers: &BTreeSet<CustomerId>,
    damaged: &BTreeSet<CustomerId>,
    problems: &mut Vec<String>,
) -> Result<u64> {
    let engine = &store.inner.engine;
    let now = store.now();
    let meta = store.derived_meta();
    let rules = &store.inner.config.rules;
    let model = store.insights().scoring_model();
    let built = meta.rules != 0;
    let current = meta.rules == rules_print(rules)
        && meta.model_version == model.version
        && meta.through <= Some(now);
    let mut expected = BTreeSet::new();
    let mut with_state = BTreeSet::new();
    for item in engine.scan_prefix(&[keys::DERIVED]) {
        let (key, value) = item?;
        let Some(id) = keys::trailing_id(&key).filter(|_| key.len() == 9) else {
            problems.push(format!(
                "derived state key {} is malformed",
                keys::describe(&key)
            ));
            continue;
        };
        if !customers.contains(&id) && !damaged.contains(&id) {
            problems.push(format!("derived state of {id} has no customer"));
        }
        let state: DerivedState = match codec::decode(&value, &|| keys::describe(&key)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        with_state.insert(id);
        expected.extend(state_keys(id, &state));
        if current
            && !damaged.contains(&id)
            && state.until.is_none_or(|u| u > now)
            && let Some(c) = store.read_customer(id)?
        {
            let fresh = evaluate(&c, &store.timeline().summary(id)?, &model, rules, now);
            if (fresh.status, fresh.temperature) != (state.status, state.temperature) {
                problems.push(format!(
                    "derived state of {id} says {:?}/{:?} until {:?}, but it is {:?}/{:?}",
                    state.status, state.temperature, state.until, fresh.status, fresh.temperature
                ));
            }
        }
    }
    if built {
        for id in customers.difference(&with_state) {
            problems.push(format!("customer {id} has no derived state"));
        }
    }
    let mut checked = 0;
    for family in [keys::DERIVED_INDEX, keys::DERIVED_DUE] {
        for item in engine.scan_prefix(&[family]) {
            let (key, _) = item?;
            checked += 1;
            let of_damaged = keys::trailing_id(&key).is_some_and(|id| damaged.contains(&id));
            if !expected.remove(key.as_slice()) && !of_damaged {
                problems.push(format!(
                    "derived entry {} stands for no state",
                    keys::describe(&key)
                ));
            }
        }
    }
    for missing in expected {
        problems.push(format!(
            "derived entry {} is missing",
            keys::describe(&missing)
        ));
    }
    Ok(checked)
}
