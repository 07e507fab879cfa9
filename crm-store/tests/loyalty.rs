//! A shop runs a points program: 1 point per lira, SILVER at 1,000 points a year, a 30-day
//! grace before a downgrade, points valid for a year. A customer earns with a purchase (in the
//! purchase's own write), reaches SILVER, spends points, gets a refund that takes its points
//! back, and a year later the rest expire and, after the grace period, SILVER goes. The
//! property test lets random purchases, refunds, redemptions, adjustments, program changes and
//! months pass, and checks the ledger against its own definition after every step.

#![allow(clippy::panic)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use crm_core::loyalty::{EntryKind, LedgerEntry, LoyaltyProgram, Source};
use crm_core::timeline::{LineItem, Purchase, Refund};
use crm_core::{CustomerData, CustomerId, Money};
use crm_store::{Durability, EntryMeta, ManualClock, Store, StoreConfig, StoreError};
use proptest::prelude::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

struct Shop {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
}

fn shop(now: &str) -> Shop {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at(now));
    let config = StoreConfig::new(dir.path())
        .durability(Durability::Relaxed)
        .clock(clock.clone());
    let store = support::open(config);
    store
        .loyalty()
        .update_program(LoyaltyProgram::default(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    Shop {
        _dir: dir,
        store,
        clock,
    }
}

impl Shop {
    fn customer(&self, name: &str) -> CustomerId {
        self.store
            .customers()
            .create(CustomerData::person(name), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .id
    }

    fn buy(&self, id: CustomerId, order: &str, currency: &str, minor: i64, lines: Vec<LineItem>) {
        let purchase = Purchase {
            order_ref: order.into(),
            amount: Money::new(currency, minor),
            line_items: lines,
        };
        self.store
            .timeline()
            .record_purchase(id, purchase, EntryMeta::default())
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn refund(&self, id: CustomerId, order: &str, currency: &str, minor: i64) {
        let refund = Refund {
            order_ref: order.into(),
            amount: Money::new(currency, minor),
            reason: String::new(),
        };
        self.store
            .timeline()
            .record_refund(id, refund, EntryMeta::default())
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn points(&self, id: CustomerId) -> (i64, String) {
        let b = self
            .store
            .loyalty()
            .balance(id, None)
            .unwrap_or_else(|e| panic!("{e}"));
        (b.balance, b.tier)
    }
}

#[test]
fn a_member_earns_climbs_spends_is_refunded_and_expires() {
    let s = shop("2026-01-10T10:00:00Z");
    let ayse = s.customer("Ayşe");
    s.buy(ayse, "SO-1", "TRY", 150_000, vec![]);
    assert_eq!(s.points(ayse), (1_500, "SILVER".into()));
    // A retried purchase (the same order) earns once.
    s.buy(ayse, "SO-1", "TRY", 150_000, vec![]);
    assert_eq!(s.points(ayse).0, 1_500);
    assert_eq!(
        s.store
            .loyalty()
            .members_in_tier("SILVER")
            .unwrap_or_default(),
        vec![ayse]
    );

    s.clock.advance(Duration::days(10));
    let loyalty = s.store.loyalty();
    loyalty
        .redeem_points(ayse, 500, Source::Points)
        .unwrap_or_else(|e| panic!("{e}"));
    match loyalty.redeem_points(ayse, 5_000, Source::Points) {
        Err(StoreError::FailedPrecondition(p)) => assert_eq!(p.reason(), "INSUFFICIENT_POINTS"),
        other => panic!("expected INSUFFICIENT_POINTS, got {other:?}"),
    }
    assert_eq!(
        s.points(ayse).0,
        1_000,
        "the refused redemption took nothing"
    );

    // A refund of 200 TL takes back the 200 points it earned; 1,300 still count for SILVER.
    s.refund(ayse, "SO-1", "TRY", 20_000);
    assert_eq!(s.points(ayse), (800, "SILVER".into()));

    // A year after the purchase the rest expire, and the purchase leaves the window; the grace
    // keeps SILVER for 30 more days, then BRONZE.
    s.clock.set(at("2027-01-10T10:00:01Z"));
    assert_eq!(s.points(ayse), (0, "SILVER".into()));
    s.clock.set(at("2027-02-09T10:00:01Z"));
    assert_eq!(s.points(ayse), (0, "BRONZE".into()));
    assert_eq!(
        s.store
            .loyalty()
            .members_in_tier("BRONZE")
            .unwrap_or_default(),
        vec![ayse]
    );
    let kinds: Vec<EntryKind> = loyalty
        .entries(ayse)
        .unwrap_or_default()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EntryKind::Earn,
            EntryKind::Redeem,
            EntryKind::Reverse,
            EntryKind::Expire
        ]
    );
    let report = s.store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn bad_programs_and_adjustments_change_nothing() {
    let s = shop("2026-01-10T10:00:00Z");
    let mut bad = LoyaltyProgram::default();
    bad.earn_rates[0].minor_per_point = -1;
    bad.tiers[2].threshold = 500;
    match s.store.loyalty().update_program(bad, None) {
        Err(StoreError::Invalid(v)) => {
            let fields: Vec<&str> = v.0.iter().map(|x| x.field.as_str()).collect();
            assert_eq!(
                fields,
                [
                    "program.earn_rates[0].minor_per_point",
                    "program.tiers[2].threshold"
                ]
            );
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
    assert_eq!(s.store.loyalty().program().map(|p| p.version).ok(), Some(1));
    let id = s.customer("Mehmet");
    assert!(matches!(
        s.store.loyalty().adjust_points(id, 0, "nothing"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.store.loyalty().adjust_points(id, -10, "goodwill back"),
        Err(StoreError::FailedPrecondition(_))
    ));
    s.store
        .loyalty()
        .adjust_points(id, 250, "a late parcel")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.points(id).0, 250);
}

// ---- the property test ----

#[derive(Clone, Debug)]
enum Step {
    Buy {
        who: u8,
        minor: i64,
        currency: u8,
        lines: bool,
        back_days: u16,
    },
    Refund {
        who: u8,
        order: u8,
        percent: i64,
    },
    Redeem {
        who: u8,
        points: i64,
    },
    Adjust {
        who: u8,
        points: i64,
    },
    Program {
        expiry_months: u32,
        silver: i64,
    },
    Wait {
        days: u16,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..3, 100i64..400_000, 0u8..3, any::<bool>(), 0u16..400).prop_map(
            |(who, minor, currency, lines, back_days)| Step::Buy {
                who,
                minor,
                currency,
                lines,
                back_days
            }
        ),
        (0u8..3, any::<u8>(), 1i64..=100).prop_map(|(who, order, percent)| Step::Refund {
            who,
            order,
            percent
        }),
        (0u8..3, 1i64..3_000).prop_map(|(who, points)| Step::Redeem { who, points }),
        (0u8..3, -300i64..300).prop_map(|(who, points)| Step::Adjust { who, points }),
        (1u32..24, 200i64..3_000).prop_map(|(expiry_months, silver)| Step::Program {
            expiry_months,
            silver
        }),
        (1u16..200).prop_map(|days| Step::Wait { days }),
    ]
}

/// Checks a member's ledger against the definitions, from its entries alone.
fn check(s: &Shop, id: CustomerId, orders: &[(String, i64, i64)]) -> Result<(), TestCaseError> {
    use crm_store::Clock;
    let now = s.clock.now();
    let entries: Vec<LedgerEntry> = s.store.loyalty().entries(id).unwrap_or_default();
    // Lots: earned and drawn, from the entries.
    let mut lots: std::collections::BTreeMap<u64, (i64, i64, DateTime<Utc>)> = Default::default();
    let mut debt = 0;
    for e in &entries {
        if let Some((points, expires)) = e.lot {
            lots.insert(e.number, (points, 0, expires.0));
        }
        for d in &e.draws {
            let lot = lots
                .get_mut(&d.lot)
                .ok_or_else(|| TestCaseError::fail("a draw on no lot"))?;
            lot.1 += d.points;
            prop_assert!(lot.1 <= lot.0, "lot {} spent twice", d.lot);
        }
        debt += e.debt;
    }
    let expected: i64 = lots
        .values()
        .filter(|(_, _, expires)| *expires > now)
        .map(|(earned, drawn, _)| earned - drawn)
        .sum::<i64>()
        - debt;
    let balance = s
        .store
        .loyalty()
        .balance(id, None)
        .unwrap_or_else(|e| panic!("{e}"));
    prop_assert_eq!(
        balance.balance,
        expected,
        "the balance is the unexpired lots less the debt"
    );
    // Every refunded purchase has reversed ceil(P x refunded / A) points in all.
    for (order, amount, refunded) in orders.iter().filter(|o| o.2 > 0) {
        let earned = entries.iter().find(|e| {
            e.kind == EntryKind::Earn
                && matches!(&e.source, Source::Purchase { order_ref, .. } if order_ref == order)
        });
        let Some(earned) = earned else { continue };
        let reversed: i64 = entries
            .iter()
            .filter(|e| matches!(&e.source, Source::Refund { order_ref, .. } if order_ref == order))
            .map(|e| -e.points)
            .sum();
        let want = (earned.points * refunded + amount - 1) / amount;
        prop_assert_eq!(reversed, want, "order {}", order);
    }
    // The tier is its definition: the best tier the window's measure reached within the grace.
    let program = s
        .store
        .loyalty()
        .program()
        .unwrap_or_else(|e| panic!("{e}"))
        .value;
    let window = Duration::days(i64::from(program.window_days));
    let grace = Duration::days(i64::from(program.grace_days));
    let measure = |t: DateTime<Utc>| -> i64 {
        entries
            .iter()
            .filter(|e| e.at > t - window && e.at <= t)
            .map(|e| e.qualifying)
            .sum()
    };
    let mut probes = vec![now - grace, now];
    for e in entries.iter().filter(|e| e.qualifying != 0) {
        for c in [e.at, e.at + window] {
            if c > now - grace && c <= now {
                probes.push(c);
            }
        }
    }
    let best = probes
        .iter()
        .map(|t| program.tier_of(measure(*t)))
        .max()
        .unwrap_or(0);
    prop_assert_eq!(
        &balance.tier,
        &program.tiers[best].name,
        "the tier's definition"
    );
    // Customers listed by tier: the index and a scan agree, and a member is in its tier.
    let list = |filter: &str| -> Vec<CustomerId> {
        let query = crm_store::ListQuery {
            filter: crm_core::Filter::parse(filter).unwrap_or_else(|e| panic!("{e}")),
            ..crm_store::ListQuery::default()
        };
        let page = s
            .store
            .customers()
            .list(&query)
            .unwrap_or_else(|e| panic!("{e}"));
        page.customers.iter().map(|c| c.id).collect()
    };
    let indexed = list(&format!(r#"loyalty.tier = "{}""#, balance.tier));
    let scanned = list(&format!(
        r#"loyalty.tier = "{}" OR summary.purchase_count < 0"#,
        balance.tier
    ));
    prop_assert_eq!(
        &indexed,
        &scanned,
        "index and scan differ on {}",
        balance.tier
    );
    prop_assert_eq!(indexed.contains(&id), !entries.is_empty());
    // The tier is the index's (for members: customers with a ledger).
    if !entries.is_empty() {
        let listed = s
            .store
            .loyalty()
            .members_in_tier(&balance.tier)
            .unwrap_or_default();
        prop_assert!(
            listed.contains(&id),
            "{} not listed in {}",
            id,
            balance.tier
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::support::cases(24), ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_the_balance_and_the_tier_hold_their_definitions(
        steps in proptest::collection::vec(step(), 1..30)
    ) {
        let s = shop("2026-01-10T10:00:00Z");
        let members: Vec<CustomerId> = ["A", "B", "C"].iter().map(|n| s.customer(n)).collect();
        let mut orders: Vec<Vec<(String, i64, i64)>> = vec![Vec::new(); 3];
        let mut n = 0;
        for step in steps {
            use crm_store::Clock;
            match step {
                Step::Buy { who, minor, currency, lines, back_days } => {
                    let w = usize::from(who);
                    n += 1;
                    let order = format!("SO-{n}");
                    let currency = ["TRY", "EUR", "USD"][usize::from(currency)];
                    let lines = if lines {
                        vec![
                            LineItem { sku: "SHOE-1".into(), quantity: 1, unit_price_minor: minor / 2 },
                            LineItem { sku: "SOCK-1".into(), quantity: 1, unit_price_minor: minor - minor / 2 },
                        ]
                    } else {
                        vec![]
                    };
                    let when = s.clock.now() - Duration::days(i64::from(back_days));
                    let purchase = Purchase { order_ref: order.clone(), amount: Money::new(currency, minor), line_items: lines };
                    s.store.timeline().record_purchase(members[w], purchase, EntryMeta { occurred_at: Some(when), ..EntryMeta::default() })
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    orders[w].push((order, minor, 0));
                    let _ = currency;
                }
                Step::Refund { who, order, percent } => {
                    let w = usize::from(who);
                    if orders[w].is_empty() { continue; }
                    let i = usize::from(order) % orders[w].len();
                    let (o, amount, refunded) = orders[w][i].clone();
                    let take = (amount * percent / 100).min(amount - refunded);
                    if take <= 0 { continue; }
                    let entries = s.store.timeline().entries(members[w]).unwrap_or_default();
                    let currency = entries.iter().find_map(|e| match &e.event {
                        crm_core::Event::Purchase(p) if p.order_ref == o => Some(p.amount.currency.clone()),
                        _ => None,
                    }).unwrap_or_default();
                    s.refund(members[w], &o, &currency, take);
                    orders[w][i].2 += take;
                }
                Step::Redeem { who, points } => {
                    let id = members[usize::from(who)];
                    let before = s.points(id).0;
                    match s.store.loyalty().redeem_points(id, points, Source::Points) {
                        Ok(_) => prop_assert!(points <= before),
                        Err(StoreError::FailedPrecondition(_)) => {
                            prop_assert!(points > before);
                            prop_assert_eq!(s.points(id).0, before);
                        }
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                }
                Step::Adjust { who, points } => {
                    let _ = s.store.loyalty().adjust_points(members[usize::from(who)], points, "test");
                }
                Step::Program { expiry_months, silver } => {
                    let mut p = LoyaltyProgram {
                        expiry_months,
                        ..LoyaltyProgram::default()
                    };
                    p.tiers[1].threshold = silver;
                    p.tiers[2].threshold = silver * 4;
                    s.store.loyalty().update_program(p, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                Step::Wait { days } => s.clock.advance(Duration::days(i64::from(days))),
            }
            for (w, id) in members.iter().enumerate() {
                check(&s, *id, &orders[w])?;
            }
            let report = s.store.verify().unwrap_or_else(|e| panic!("{e}"));
            prop_assert!(report.is_clean(), "{:?}", report.problems);
        }
    }
}

#[test]
fn concurrent_redemptions_never_spend_a_point_twice() {
    let s = shop("2026-01-10T10:00:00Z");
    let id = s.customer("Zeynep");
    s.buy(id, "SO-1", "TRY", 100_000, vec![]);
    assert_eq!(s.points(id).0, 1_000);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = s.store.clone();
            std::thread::spawn(move || store.loyalty().redeem_points(id, 300, Source::Points))
        })
        .collect();
    let mut spent = 0;
    for t in threads {
        match t.join().unwrap_or_else(|_| panic!("a thread panicked")) {
            Ok(_) => spent += 300,
            Err(StoreError::FailedPrecondition(p)) => assert_eq!(p.reason(), "INSUFFICIENT_POINTS"),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(spent, 900, "three redemptions of 300 fit in 1,000");
    assert_eq!(s.points(id).0, 100);
    let report = s.store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn a_reward_is_redeemed_while_stock_lasts() {
    use crm_core::loyalty::RewardData;

    let s = shop("2026-01-10T10:00:00Z");
    let id = s.customer("Elif");
    s.buy(id, "SO-1", "TRY", 100_000, vec![]);
    let loyalty = s.store.loyalty();
    let mug = loyalty
        .create_reward(RewardData {
            name: "Kupa".into(),
            cost_points: 300,
            stock: Some(1),
            ..RewardData::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (member, after) = loyalty
        .redeem_reward(id, mug.id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((member.state.balance, after.data.stock), (700, Some(0)));
    match loyalty.redeem_reward(id, mug.id) {
        Err(StoreError::FailedPrecondition(p)) => assert_eq!(p.reason(), "REWARD_OUT_OF_STOCK"),
        other => panic!("expected REWARD_OUT_OF_STOCK, got {other:?}"),
    }
    assert!(matches!(
        loyalty.redeem_reward(id, 99),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.points(id).0, 700, "refused redemptions took nothing");
    let bad = RewardData {
        name: String::new(),
        cost_points: 0,
        ..RewardData::default()
    };
    assert!(matches!(
        loyalty.create_reward(bad),
        Err(StoreError::Invalid(_))
    ));
    let report = s.store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}
