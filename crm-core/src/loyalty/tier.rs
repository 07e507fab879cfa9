//! A member's tier, as a function of its ledger and the program.
//!
//! The **measure** at `t` is what the member's qualifying entries add up to within the rolling
//! window `(t - window, t]`: purchase points (or net spend), less what refunds reversed. The
//! **raw tier** at `t` is the highest whose threshold the measure meets. The **tier** at `t` is
//! the best raw tier of `[t - grace, t]`: a member keeps a tier for the grace period after its
//! measure falls below it, and moves up at once.
//!
//! Each of these changes only where an entry enters or leaves a window, so the tier holds until
//! the next of `at`, `at + window`, `at + grace`, `at + window + grace` over the qualifying
//! entries ([`tier_until`]): the derived index keeps it with that instant.

use chrono::{DateTime, Duration, Utc};

use super::ledger::Account;
use super::program::LoyaltyProgram;

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn window(p: &LoyaltyProgram) -> i64 {
    i64::from(p.window_days) * 86_400_000_000
}

fn grace(p: &LoyaltyProgram) -> i64 {
    i64::from(p.grace_days) * 86_400_000_000
}

/// The measure at `t` (microseconds since the epoch).
fn measure(a: &Account, p: &LoyaltyProgram, t: i64) -> i64 {
    let from = t.saturating_sub(window(p));
    a.qualifying
        .iter()
        .filter(|(at, _)| *at > from && *at <= t)
        .map(|(_, q)| q)
        .sum()
}

/// The tier measure at `t`.
pub fn measure_at(a: &Account, p: &LoyaltyProgram, t: DateTime<Utc>) -> i64 {
    measure(a, p, micros(t))
}

/// The raw tier (index into the program's tiers) at `t`.
fn raw(a: &Account, p: &LoyaltyProgram, t: i64) -> usize {
    p.tier_of(measure(a, p, t))
}

/// The instants at which the measure can change.
fn changes<'a>(a: &'a Account, p: &LoyaltyProgram) -> impl Iterator<Item = i64> + 'a {
    let w = window(p);
    a.qualifying
        .iter()
        .flat_map(move |(at, _)| [*at, at.saturating_add(w)])
}

/// The tier (index into the program's tiers) at `t`: the best raw tier of `[t - grace, t]`.
pub fn tier_at(a: &Account, p: &LoyaltyProgram, t: DateTime<Utc>) -> usize {
    let t = micros(t);
    let since = t.saturating_sub(grace(p));
    changes(a, p)
        .filter(|c| *c > since && *c <= t)
        .chain([since, t])
        .map(|s| raw(a, p, s))
        .max()
        .unwrap_or(0)
}

/// The first instant after `t` at which the tier may differ (it may be early, never late);
/// `None`: it never changes without a new entry.
pub fn tier_until(a: &Account, p: &LoyaltyProgram, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let now = micros(t);
    let g = grace(p);
    changes(a, p)
        .flat_map(|c| [c, c.saturating_add(g)])
        .flat_map(|c| [c, c.saturating_add(1)])
        .filter(|c| *c > now)
        .min()
        .and_then(DateTime::from_timestamp_micros)
}

/// How far the measure is from the next tier at `t`: the next tier's index and what is missing.
pub fn progress(a: &Account, p: &LoyaltyProgram, t: DateTime<Utc>) -> Option<(usize, i64)> {
    let current = tier_at(a, p, t);
    let next = p.tiers.get(current + 1)?;
    Some((current + 1, (next.threshold - measure_at(a, p, t)).max(0)))
}

/// A duration of whole days.
pub fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}
