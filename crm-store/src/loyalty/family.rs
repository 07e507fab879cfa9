//! Loyalty accounts and ledger entries as families, and their keys:
//!
//! - `B customer` -> the member's account: the fold of its ledger, and its state (tier,
//!   balance) as evaluated at an instant with the instant until which it holds;
//! - `b 1 tier_name 0 customer` -> empty: members by tier;
//! - `b 2 until customer` -> empty: when a member's state must be evaluated again (a lot
//!   expires, the tier window rolls);
//! - `e customer number` -> a ledger entry (append-only).
//!
//! The account is checked against its ledger by `verify` ([`Family::cross_check`]).

use chrono::{DateTime, Utc};
use crm_core::CustomerId;
use crm_core::loyalty::{Account, LedgerEntry};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::kv::Kv;
use crate::kv::codec::{self, Stored};
use crate::kv::family::{Family, Kept};
use crate::kv::keys::{self, LOYALTY_ACCOUNT, LOYALTY_ENTRY, LOYALTY_KEPT, time_bytes};

const BY_TIER: u8 = 1;
const DUE: u8 = 2;

/// A member's state at an instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// The tier's name.
    pub tier: String,
    /// The balance.
    pub balance: i64,
    /// The program version it was evaluated with.
    pub program_version: u64,
    /// When it may next differ (a lot expires, a window rolls).
    #[serde(with = "crm_core::summary::opt_micros")]
    pub until: Option<DateTime<Utc>>,
}

/// A loyalty member: its account (the fold of its ledger) and its evaluated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Who.
    pub customer_id: CustomerId,
    /// The fold of its ledger.
    pub account: Account,
    /// Its state, as last evaluated.
    pub state: MemberState,
}

/// A ledger entry with its member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Whose.
    pub customer_id: CustomerId,
    /// The entry.
    pub entry: LedgerEntry,
}

impl Stored for Member {}
impl Stored for StoredEntry {}

pub(crate) fn member_key(id: CustomerId) -> [u8; 9] {
    keys::of_customer(LOYALTY_ACCOUNT, id)
}

pub(crate) fn entry_key(id: CustomerId, number: u64) -> Vec<u8> {
    let mut k = keys::of_customer(LOYALTY_ENTRY, id).to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k
}

pub(crate) fn entries_of(id: CustomerId) -> [u8; 9] {
    keys::of_customer(LOYALTY_ENTRY, id)
}

pub(crate) fn tier_prefix(tier: &str) -> Vec<u8> {
    let mut k = vec![LOYALTY_KEPT, BY_TIER];
    k.extend_from_slice(tier.as_bytes());
    k.push(0);
    k
}

pub(crate) fn due_before(t: DateTime<Utc>) -> Vec<u8> {
    let mut k = vec![LOYALTY_KEPT, DUE];
    k.extend_from_slice(&time_bytes(t));
    k
}

pub(crate) fn due_start() -> Vec<u8> {
    vec![LOYALTY_KEPT, DUE]
}

/// The member a `b` key ends with.
pub(crate) fn trailing_member(key: &[u8]) -> Option<CustomerId> {
    keys::trailing_id(key)
}

/// The account family.
#[derive(Debug)]
pub(crate) struct MemberFamily;

impl Family for MemberFamily {
    type Record = Member;
    const NAME: &'static str = "loyalty account";
    const PREFIX: &'static [u8] = &[LOYALTY_ACCOUNT];

    fn key(m: &Member) -> Vec<u8> {
        member_key(m.customer_id).to_vec()
    }

    fn keep(m: &Member, kept: &mut Kept) {
        let id = m.customer_id.0.to_be_bytes();
        kept.index([tier_prefix(&m.state.tier).as_slice(), &id].concat(), []);
        if let Some(until) = m.state.until {
            kept.index([due_before(until).as_slice(), &id].concat(), []);
        }
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        vec![vec![LOYALTY_KEPT]]
    }

    fn owner_of(key: &[u8], _value: &[u8]) -> Option<Vec<u8>> {
        trailing_member(key).map(|id| member_key(id).to_vec())
    }

    /// Every account is the fold of its ledger, and every ledger entry has its account.
    fn cross_check(kv: &Kv, problems: &mut Vec<String>) -> Result<()> {
        let mut with_account = std::collections::BTreeSet::new();
        for item in kv.scan_prefix(&[LOYALTY_ACCOUNT]) {
            let (key, value) = item?;
            let Ok(member) = codec::decode::<Member>(&value, &|| keys::describe(&key)) else {
                continue; // the family's check names it
            };
            with_account.insert(member.customer_id);
            let mut fold = Account::default();
            for item in kv.scan_prefix(&entries_of(member.customer_id)) {
                let (ekey, evalue) = item?;
                match codec::decode::<StoredEntry>(&evalue, &|| keys::describe(&ekey)) {
                    Ok(e) => {
                        if let Err(e) = fold.apply(&e.entry) {
                            problems.push(format!("loyalty of {}: {e}", member.customer_id));
                        }
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
            if fold != member.account {
                problems.push(format!(
                    "the loyalty account of {} is not the fold of its ledger",
                    member.customer_id
                ));
            }
        }
        for item in kv.scan_prefix(&[LOYALTY_ENTRY]) {
            let (key, _) = item?;
            if let Some(id) = key
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                && !with_account.contains(&CustomerId(id))
            {
                problems.push(format!(
                    "loyalty ledger entry {} has no account",
                    keys::describe(&key)
                ));
            }
        }
        Ok(())
    }
}

/// The ledger family: entries imply nothing else (the account is checked against them).
#[derive(Debug)]
pub(crate) struct EntryFamily;

impl Family for EntryFamily {
    type Record = StoredEntry;
    const NAME: &'static str = "loyalty ledger";
    const PREFIX: &'static [u8] = &[LOYALTY_ENTRY];

    fn key(e: &StoredEntry) -> Vec<u8> {
        entry_key(e.customer_id, e.entry.number)
    }

    fn keep(_: &StoredEntry, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }
}
