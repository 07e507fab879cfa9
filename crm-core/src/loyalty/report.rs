//! The loyalty report: members by tier, points issued, redeemed and expired in a period, the
//! outstanding liability, the redemption rate, and how often members buy again compared with
//! customers who are not members.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::ledger::{EntryKind, LedgerEntry};
use super::program::LoyaltyProgram;

/// The loyalty report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoyaltyReport {
    /// Members (customers with a ledger).
    pub members: u64,
    /// Members per tier at the report's instant.
    pub by_tier: BTreeMap<String, u64>,
    /// Points earned or added in the period.
    pub issued: i64,
    /// Points spent or taken by hand in the period.
    pub redeemed: i64,
    /// Points that expired in the period.
    pub expired: i64,
    /// Points reversed by refunds in the period.
    pub reversed: i64,
    /// Points outstanding at the instant (balances above zero).
    pub outstanding: i64,
    /// What the outstanding points are worth, per currency (minor units).
    pub liability: BTreeMap<String, i64>,
    /// Members with a purchase, and of those with two or more.
    pub member_buyers: (u64, u64),
    /// Customers who are not members with a purchase, and of those with two or more.
    pub other_buyers: (u64, u64),
}

impl LoyaltyReport {
    /// Redeemed / issued, in percent.
    pub fn redemption_rate_percent(&self) -> Option<f64> {
        (self.issued > 0).then(|| 100.0 * self.redeemed as f64 / self.issued as f64)
    }

    /// The share of buying members who bought again, in percent.
    pub fn member_repeat_percent(&self) -> Option<f64> {
        let (buyers, repeat) = self.member_buyers;
        (buyers > 0).then(|| 100.0 * repeat as f64 / buyers as f64)
    }

    /// The same for customers who are not members.
    pub fn other_repeat_percent(&self) -> Option<f64> {
        let (buyers, repeat) = self.other_buyers;
        (buyers > 0).then(|| 100.0 * repeat as f64 / buyers as f64)
    }

    /// Counts one member's entries that fall in `[from, to]`.
    pub fn add_entries(&mut self, entries: &[LedgerEntry], from: DateTime<Utc>, to: DateTime<Utc>) {
        for e in entries.iter().filter(|e| e.at >= from && e.at <= to) {
            match e.kind {
                EntryKind::Earn => self.issued += e.points,
                EntryKind::Adjust if e.points > 0 => self.issued += e.points,
                EntryKind::Redeem | EntryKind::Adjust => self.redeemed -= e.points,
                EntryKind::Expire => self.expired -= e.points,
                EntryKind::Reverse => self.reversed -= e.points,
            }
        }
    }

    /// Counts one member's standing at the instant.
    pub fn add_member(&mut self, tier: &str, balance: i64, p: &LoyaltyProgram) {
        self.members += 1;
        *self.by_tier.entry(tier.to_owned()).or_default() += 1;
        if balance > 0 {
            self.outstanding += balance;
            for v in &p.point_values {
                *self.liability.entry(v.currency.clone()).or_default() +=
                    balance.saturating_mul(v.minor_per_point);
            }
        }
    }

    /// Counts one customer's purchases (member or not).
    pub fn add_buyer(&mut self, member: bool, purchases: u64) {
        if purchases == 0 {
            return;
        }
        let slot = if member {
            &mut self.member_buyers
        } else {
            &mut self.other_buyers
        };
        slot.0 += 1;
        if purchases >= 2 {
            slot.1 += 1;
        }
    }
}
