//! Property tests of the ledger and the tier: random earnings, redemptions, refunds,
//! adjustments, expiries materialized or not, and time passing.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::ledger::{Account, EntryKind, LedgerEntry, Source};
use super::program::LoyaltyProgram;
use super::tier::{tier_at, tier_until};

#[derive(Clone, Debug)]
enum Op {
    Earn { points: i64, months: i64 },
    Redeem { points: i64 },
    Refund { which: usize, percent: i64 },
    Adjust { points: i64 },
    Expire,
    Wait { days: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..2_000, 1i64..18).prop_map(|(points, months)| Op::Earn { points, months }),
        (1i64..3_000).prop_map(|points| Op::Redeem { points }),
        (any::<usize>(), 1i64..=100).prop_map(|(which, percent)| Op::Refund { which, percent }),
        (-500i64..500).prop_map(|points| Op::Adjust { points }),
        Just(Op::Expire),
        (1i64..200).prop_map(|days| Op::Wait { days }),
    ]
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

/// What the test itself knows of each lot: earned, and every draw on it.
#[derive(Default)]
struct Model {
    lots: std::collections::BTreeMap<u64, (i64, i64)>,
    earns: Vec<(u64, i64, i64)>,
    reversed: std::collections::BTreeMap<u64, i64>,
}

proptest! {
    #[test]
    fn the_ledger_is_exact(ops in prop::collection::vec(op(), 1..60)) {
        let mut now = start();
        let mut a = Account::default();
        let mut m = Model::default();
        let mut ledger: Vec<LedgerEntry> = Vec::new();
        for op in ops {
            let before = a.balance_at(now);
            let entry = match op {
                Op::Earn { points, months } => Some(a.earn(
                    points, points, now, now + Duration::days(30 * months),
                    Source::Bonus { reason: "test".into() },
                )),
                Op::Redeem { points } => match a.redeem(points, now, EntryKind::Redeem, Source::Points) {
                    Ok(e) => Some(e),
                    Err(short) => {
                        prop_assert!(points > before, "refused {points} with {before}: {short}");
                        None
                    }
                },
                Op::Refund { which, percent } if !m.earns.is_empty() => {
                    let (lot, earned, _) = m.earns[which % m.earns.len()];
                    let done = m.reversed.get(&lot).copied().unwrap_or(0);
                    let take = (earned * percent / 100).min(earned - done);
                    *m.reversed.entry(lot).or_default() += take;
                    Some(a.reverse(lot, take, take, now, Source::Refund { order_ref: "o".into(), amount_minor: 1 }))
                }
                Op::Refund { .. } => None,
                Op::Adjust { points } if points >= 0 => {
                    let mut e = a.earn(points, 0, now, now + Duration::days(365), Source::Manual { reason: "t".into() });
                    e.kind = EntryKind::Adjust;
                    Some(e)
                }
                Op::Adjust { points } => a
                    .redeem(-points, now, EntryKind::Adjust, Source::Manual { reason: "t".into() })
                    .ok(),
                Op::Expire => {
                    for e in a.expiries(now) {
                        a.apply(&e).map_err(|e| TestCaseError::fail(e.to_string()))?;
                        for d in &e.draws {
                            m.lots.entry(d.lot).or_default().1 += d.points;
                        }
                        ledger.push(e);
                    }
                    prop_assert_eq!(a.balance_at(now), before, "materializing expiry moves nothing");
                    None
                }
                Op::Wait { days } => {
                    now += Duration::days(days);
                    None
                }
            };
            if let Some(e) = entry {
                a.apply(&e).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if let Some((points, _)) = e.lot {
                    m.lots.insert(e.number, (points, 0));
                    if e.kind == EntryKind::Earn {
                        m.earns.push((e.number, points, 0));
                    }
                }
                for d in &e.draws {
                    m.lots.entry(d.lot).or_default().1 += d.points;
                }
                prop_assert_eq!(a.balance_at(now), before + e.points, "an entry moves the balance by its points");
                // A redemption takes from the lots that expire first: no lot expiring sooner
                // than one it drew from keeps points.
                if e.kind == EntryKind::Redeem {
                    let key = |n: u64| a.lots.iter().find(|l| l.number == n).map(|l| (l.expires_at, l.number));
                    let latest = e.draws.iter().filter_map(|d| key(d.lot)).max();
                    for l in a.lots.iter().filter(|l| l.remaining > 0 && l.expires_at > now) {
                        prop_assert!(Some((l.expires_at, l.number)) >= latest, "lot {} skipped", l.number);
                    }
                }
                ledger.push(e);
            }
            // No lot is spent twice: its draws never pass what it earned.
            for l in &a.lots {
                let (earned, drawn) = m.lots.get(&l.number).copied().unwrap_or_default();
                prop_assert_eq!(l.earned, earned);
                prop_assert_eq!(l.remaining, earned - drawn);
                prop_assert!(l.remaining >= 0);
            }
            // A debt exists only when no unexpired point is left to take.
            if a.debt > 0 {
                prop_assert_eq!(a.balance_at(now), -a.debt);
            }
            // The account is the fold of its ledger.
            let mut replay = Account::default();
            for e in &ledger {
                replay.apply(e).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert_eq!(&replay, &a);
        }
    }

    #[test]
    fn a_tier_holds_until_its_instant(
        earns in prop::collection::vec((0i64..800, 1i64..3_000), 0..20),
        probe in 0i64..1_000,
        grace in 0u32..60,
    ) {
        let program = LoyaltyProgram { grace_days: grace, ..LoyaltyProgram::default() };
        let mut a = Account::default();
        for (day, points) in earns {
            let at = start() + Duration::days(day);
            let e = a.earn(points, points, at, at + Duration::days(365), Source::Points);
            a.apply(&e).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let t = start() + Duration::days(probe);
        let tier = tier_at(&a, &program, t);
        if let Some(until) = tier_until(&a, &program, t) {
            prop_assert!(until > t);
            let last = until - Duration::microseconds(1);
            prop_assert_eq!(tier_at(&a, &program, last), tier);
            let mid = t + (until - t) / 2;
            prop_assert_eq!(tier_at(&a, &program, mid), tier);
        } else {
            prop_assert_eq!(tier_at(&a, &program, t + Duration::days(5_000)), tier);
        }
    }
}

#[test]
fn a_refund_of_spent_points_leaves_a_debt_the_next_earning_pays() {
    let now = start();
    let year = now + Duration::days(365);
    let mut a = Account::default();
    let earn = a.earn(100, 100, now, year, Source::Points);
    a.apply(&earn).unwrap_or_default();
    let spend = a.redeem(80, now, EntryKind::Redeem, Source::Points);
    a.apply(&spend.unwrap_or_else(|s| panic!("{s}")))
        .unwrap_or_default();
    let back = a.reverse(1, 100, 100, now, Source::Points);
    assert_eq!(back.debt, 80, "20 were left in the lot; 80 were spent");
    a.apply(&back).unwrap_or_default();
    assert_eq!(a.balance_at(now), -80);
    let next = a.earn(50, 50, now, year, Source::Points);
    assert_eq!(
        next.lot.map(|(p, _)| p),
        Some(0),
        "the earning pays the debt first"
    );
    a.apply(&next).unwrap_or_default();
    assert_eq!((a.balance_at(now), a.debt), (-30, 30));
}
