//! The points ledger: every change of a member's points is an entry, and the member's account
//! (its lots and debt) is the fold of its entries, in order. Nothing else holds points.
//!
//! - **EARN** makes a lot: the points, and the instant they expire. Earnings first pay a debt.
//! - **REDEEM** draws points from the lots that expire first, among those not yet expired; it
//!   is refused when the balance is short.
//! - **EXPIRE** takes what is left of a lot at its expiry instant (the sweep writes it; the
//!   balance does not wait for it: [`Account::balance_at`] leaves expired lots out).
//! - **REVERSE** takes back the points a refunded part of a purchase earned (in proportion to
//!   the amount refunded): first what is left of that purchase's lot, then the member's other
//!   points (those expiring first), and what is still missing becomes a **debt**: the balance is
//!   negative until future earnings pay it. A refund never leaves points it earned spendable.
//! - **ADJUST** adds a lot (positive) or draws like a redemption (negative), by hand, with a
//!   reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::summary::opt_micros;

/// The kinds of ledger entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// Points earned (a lot).
    Earn,
    /// Points spent.
    Redeem,
    /// Points that expired.
    Expire,
    /// Points added or taken by hand.
    Adjust,
    /// Points taken back for a refund.
    Reverse,
}

/// Why an entry was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A purchase (its order reference, currency and amount).
    Purchase {
        /// The order.
        order_ref: String,
        /// Its currency.
        currency: String,
        /// Its amount, minor units.
        amount_minor: i64,
    },
    /// A refund of (part of) a purchase.
    Refund {
        /// The order.
        order_ref: String,
        /// The amount refunded, minor units.
        amount_minor: i64,
    },
    /// A fixed bonus (`first purchase`, `birthday month`, `converted referral`, `review`).
    Bonus {
        /// Which.
        reason: String,
    },
    /// A reward from the catalog.
    Reward {
        /// The reward's id.
        reward_id: u64,
    },
    /// Points spent without a catalog reward.
    Points,
    /// By hand.
    Manual {
        /// Why.
        reason: String,
    },
    /// Time passed.
    Expiry,
}

/// Points taken from one lot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    /// The lot (the number of the entry that made it).
    pub lot: u64,
    /// How many.
    pub points: i64,
}

/// One ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Its place in the member's ledger, from 1.
    pub number: u64,
    /// What kind.
    pub kind: EntryKind,
    /// When it happened (a purchase's time for its earn).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// The change of the balance (negative for what is taken).
    pub points: i64,
    /// For an entry that makes a lot: the points the lot holds (what the earn did not pay
    /// toward a debt), and when they expire.
    pub lot: Option<(i64, DateTimeMicros)>,
    /// The lots it takes points from.
    pub draws: Vec<Draw>,
    /// The change of the debt.
    pub debt: i64,
    /// The change of the tier measure (purchase points or spend; reversals take it back).
    pub qualifying: i64,
    /// Why.
    pub source: Source,
}

/// A time stored as microseconds (so entries compare and encode exactly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DateTimeMicros(#[serde(with = "chrono::serde::ts_microseconds")] pub DateTime<Utc>);

/// Points earned together, and what is left of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    /// The entry that made it.
    pub number: u64,
    /// What it held.
    pub earned: i64,
    /// What is left (never negative).
    pub remaining: i64,
    /// When it was earned.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// When what is left expires.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub expires_at: DateTime<Utc>,
}

/// A member's points: the fold of its ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Every lot, in the order earned.
    pub lots: Vec<Lot>,
    /// Points owed (a refund of points already spent).
    pub debt: i64,
    /// Entries folded so far.
    pub entries: u64,
    /// The tier measure's history: (when, change), in ledger order.
    pub qualifying: Vec<(i64, i64)>,
    /// The last entry's time.
    #[serde(with = "opt_micros")]
    pub last_at: Option<DateTime<Utc>>,
}

/// A redemption the balance cannot cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{asked} points asked, {balance} available")]
pub struct Short {
    /// The balance then.
    pub balance: i64,
    /// What was asked.
    pub asked: i64,
}

/// An entry that does not follow from the account (a damaged ledger).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ledger entry {number}: {problem}")]
pub struct Inconsistent {
    /// The entry.
    pub number: u64,
    /// What is wrong.
    pub problem: String,
}

impl Account {
    /// The balance at `t` (at or after the last entry): what is left of the lots that have not
    /// expired by `t`, less the debt.
    pub fn balance_at(&self, t: DateTime<Utc>) -> i64 {
        self.unexpired(t).map(|l| l.remaining).sum::<i64>() - self.debt
    }

    /// Points that expire in `(t, t + within]`.
    pub fn expiring(&self, t: DateTime<Utc>, within: chrono::Duration) -> i64 {
        self.unexpired(t)
            .filter(|l| l.expires_at <= t + within)
            .map(|l| l.remaining)
            .sum()
    }

    /// The next instant after `t` at which a lot with points left expires.
    pub fn next_expiry(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.unexpired(t).map(|l| l.expires_at).min()
    }

    fn unexpired(&self, t: DateTime<Utc>) -> impl Iterator<Item = &Lot> {
        self.lots
            .iter()
            .filter(move |l| l.remaining > 0 && l.expires_at > t)
    }

    /// The lots to draw from at `t`, first to expire first.
    fn drawable(&self, t: DateTime<Utc>) -> Vec<Lot> {
        let mut lots: Vec<Lot> = self.unexpired(t).copied().collect();
        lots.sort_by_key(|l| (l.expires_at, l.number));
        lots
    }

    fn draw(lots: &[Lot], mut points: i64) -> (Vec<Draw>, i64) {
        let mut draws = Vec::new();
        for l in lots {
            if points == 0 {
                break;
            }
            let take = l.remaining.min(points);
            draws.push(Draw {
                lot: l.number,
                points: take,
            });
            points -= take;
        }
        (draws, points)
    }

    fn entry(&self, kind: EntryKind, at: DateTime<Utc>, source: Source) -> LedgerEntry {
        LedgerEntry {
            number: self.entries + 1,
            kind,
            at,
            points: 0,
            lot: None,
            draws: Vec::new(),
            debt: 0,
            qualifying: 0,
            source,
        }
    }

    /// An earn of `points` at `at`, expiring at `expires_at`: it pays the debt first.
    pub fn earn(
        &self,
        points: i64,
        qualifying: i64,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        source: Source,
    ) -> LedgerEntry {
        let points = points.max(0);
        let paid = self.debt.min(points);
        LedgerEntry {
            points,
            lot: Some((points - paid, DateTimeMicros(expires_at))),
            debt: -paid,
            qualifying,
            ..self.entry(EntryKind::Earn, at, source)
        }
    }

    /// A redemption of `points` at `at`, from the lots that expire first.
    pub fn redeem(
        &self,
        points: i64,
        at: DateTime<Utc>,
        kind: EntryKind,
        source: Source,
    ) -> Result<LedgerEntry, Short> {
        let balance = self.balance_at(at);
        if points <= 0 || points > balance {
            return Err(Short {
                balance,
                asked: points,
            });
        }
        let (draws, _) = Self::draw(&self.drawable(at), points);
        Ok(LedgerEntry {
            points: -points,
            draws,
            ..self.entry(kind, at, source)
        })
    }

    /// The reversal of `points` earned by the lot `lot` (a refund at `at`): from that lot, then
    /// from the lots that expire first, then as debt.
    pub fn reverse(
        &self,
        lot: u64,
        points: i64,
        qualifying: i64,
        at: DateTime<Utc>,
        source: Source,
    ) -> LedgerEntry {
        let points = points.max(0);
        let mut order = self.drawable(at);
        order.sort_by_key(|l| (l.number != lot, l.expires_at, l.number));
        let (draws, missing) = Self::draw(&order, points);
        LedgerEntry {
            points: -points,
            draws,
            debt: missing,
            qualifying: -qualifying,
            ..self.entry(EntryKind::Reverse, at, source)
        }
    }

    /// The expiry entries due by `t`: one per lot that expired with points left.
    pub fn expiries(&self, t: DateTime<Utc>) -> Vec<LedgerEntry> {
        let mut due: Vec<&Lot> = self
            .lots
            .iter()
            .filter(|l| l.remaining > 0 && l.expires_at <= t)
            .collect();
        due.sort_by_key(|l| (l.expires_at, l.number));
        let mut out = Vec::new();
        for (next, l) in (self.entries + 1..).zip(due) {
            out.push(LedgerEntry {
                number: next,
                kind: EntryKind::Expire,
                at: l.expires_at,
                points: -l.remaining,
                lot: None,
                draws: vec![Draw {
                    lot: l.number,
                    points: l.remaining,
                }],
                debt: 0,
                qualifying: 0,
                source: Source::Expiry,
            });
        }
        out
    }

    /// Folds one entry in; refuses one that does not follow (numbering, a draw beyond a lot,
    /// points that do not add up).
    pub fn apply(&mut self, e: &LedgerEntry) -> Result<(), Inconsistent> {
        let bad = |problem: &str| Inconsistent {
            number: e.number,
            problem: problem.into(),
        };
        if e.number != self.entries + 1 {
            return Err(bad("out of sequence"));
        }
        let drawn: i64 = e.draws.iter().map(|d| d.points).sum();
        let lot_points = e.lot.map_or(0, |(p, _)| p);
        if e.points != lot_points - drawn - e.debt {
            return Err(bad("its points, lot, draws and debt do not add up"));
        }
        if self.debt + e.debt < 0 || lot_points < 0 {
            return Err(bad("pays more debt than there is"));
        }
        for d in &e.draws {
            let lot = self
                .lots
                .iter_mut()
                .find(|l| l.number == d.lot)
                .ok_or_else(|| bad("draws from a lot that does not exist"))?;
            if d.points <= 0 || d.points > lot.remaining {
                return Err(bad("draws more than its lot holds"));
            }
            lot.remaining -= d.points;
        }
        if let Some((points, DateTimeMicros(expires_at))) = e.lot {
            self.lots.push(Lot {
                number: e.number,
                earned: points,
                remaining: points,
                at: e.at,
                expires_at,
            });
        }
        self.debt += e.debt;
        if e.qualifying != 0 {
            self.qualifying
                .push((e.at.timestamp_micros(), e.qualifying));
        }
        self.entries = e.number;
        self.last_at = self.last_at.max(Some(e.at));
        Ok(())
    }
}
