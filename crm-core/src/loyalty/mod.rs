//! Loyalty: a points program whose ledger is exact by construction.
//!
//! - [`program`]: earn rates per currency, SKU multipliers, bonuses, expiry, tiers, point
//!   values; validated as data.
//! - [`ledger`]: the entries (EARN, REDEEM, EXPIRE, ADJUST, REVERSE), lots, the debt a refund of
//!   spent points leaves, the balance at any instant.
//! - [`tier`]: the tier as a function of the ledger: a rolling window, a grace period.
//! - [`earn`]: what a purchase earns.

pub mod earn;
pub mod ledger;
pub mod program;
pub mod report;
pub mod reward;
pub mod tier;

pub use ledger::{Account, Draw, EntryKind, LedgerEntry, Lot, Short, Source};

/// A customer's loyalty standing at an instant, as filters read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The tier's name; empty for a customer who is not a member (has no ledger).
    pub tier: String,
    /// The balance.
    pub points: i64,
    /// Points that expire within 30 days.
    pub expiring_30d: i64,
}
pub use program::{Bonuses, CurrencyRate, LoyaltyProgram, Qualification, SkuMultiplier, Tier};
pub use reward::{Reward, RewardData};

#[cfg(test)]
mod tests;
