//! `crm-loyaltybench`: what loyalty adds to a purchase.
//!
//! ```text
//! crm-loyaltybench --customers 10000 --purchases 20000 --threads 8 --dir /tmp/loyalty
//! ```
//!
//! The same purchases (two line items each, durable writes, `--threads` writers) are recorded
//! in two fresh stores: one without a loyalty program (the peer) and one with the default
//! program and a SKU multiplier, where every purchase also earns (a ledger entry, the member's
//! account, its tier and schedule entries) in the same write.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use crm_core::loyalty::{LoyaltyProgram, SkuMultiplier};
use crm_core::timeline::{LineItem, Purchase};
use crm_core::{CustomerData, CustomerId, Money};
use crm_store::{Durability, EntryMeta, Store, StoreConfig};

#[derive(Debug, Parser)]
#[command(name = "crm-loyaltybench", about)]
struct Args {
    /// Customers (members).
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Purchases, spread over the customers.
    #[arg(long, default_value_t = 20_000)]
    purchases: u64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 8)]
    threads: u64,
    /// A new directory (two stores a round are made under it).
    #[arg(long)]
    dir: std::path::PathBuf,
    /// Rounds of each, interleaved.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Also time the loyalty report on the last store with the program (every customer a
    /// member), beside a bare pass over the members' records.
    #[arg(long)]
    report: bool,
}

fn run(args: &Args, program: bool, round: u32) -> anyhow::Result<f64> {
    let dir = args.dir.join(format!(
        "{}-{round}",
        if program { "with" } else { "without" }
    ));
    let store =
        Store::open_with(StoreConfig::new(&dir).durability(Durability::Durable)).context("open")?;
    if program {
        let mut p = LoyaltyProgram::default();
        p.sku_multipliers.push(SkuMultiplier {
            sku_prefix: "SHOE-".into(),
            percent: 200,
        });
        store.loyalty().update_program(p, None)?;
    }
    let ids: Vec<CustomerId> = (0..args.customers)
        .map(|i| {
            store
                .customers()
                .create(CustomerData::person(format!("Member {i}")), None)
                .map(|c| c.id)
        })
        .collect::<Result<_, _>>()?;
    let ids = Arc::new(ids);
    let began = Instant::now();
    let writers: Vec<_> = (0..args.threads)
        .map(|w| {
            let (store, ids) = (store.clone(), Arc::clone(&ids));
            let (n, threads) = (args.purchases, args.threads);
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut i = w;
                while i < n {
                    let purchase = Purchase {
                        order_ref: format!("SO-{i}"),
                        amount: Money::new("TRY", 30_000),
                        line_items: vec![
                            LineItem {
                                sku: "SHOE-1".into(),
                                quantity: 1,
                                unit_price_minor: 20_000,
                            },
                            LineItem {
                                sku: "SOCK-1".into(),
                                quantity: 2,
                                unit_price_minor: 5_000,
                            },
                        ],
                    };
                    let id = ids[(i % ids.len() as u64) as usize];
                    store
                        .timeline()
                        .record_purchase(id, purchase, EntryMeta::default())?;
                    i += threads;
                }
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    let seconds = began.elapsed().as_secs_f64();
    if program {
        let b = store.loyalty().balance(ids[0], None)?;
        anyhow::ensure!(b.balance > 0, "the program earned nothing");
    }
    if program && args.report {
        let began = Instant::now();
        let now = store.now();
        let r = store
            .loyalty()
            .report(now - chrono::Duration::days(365), now)?;
        let took = began.elapsed().as_secs_f64();
        let began = Instant::now();
        let mut decoded = 0;
        for id in ids.iter() {
            if store.loyalty().balance(*id, Some(now))?.balance > 0 {
                decoded += 1;
            }
        }
        let floor = began.elapsed().as_secs_f64();
        println!(
            "report: {} members ({decoded} with points), {} points issued, liability {:?}, in {:.0} ms; reading every member's account {:.0} ms",
            r.members,
            r.issued,
            r.liability,
            took * 1e3,
            floor * 1e3
        );
    }
    let report = store.verify()?;
    anyhow::ensure!(report.is_clean(), "{:?}", report.problems);
    Ok(seconds)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.customers > 0 && args.purchases > 0 && args.threads > 0);
    // Interleaved rounds (without, with, without, with...): the disk and the machine drift
    // between runs; medians of `--rounds`.
    let rate = |s: f64| args.purchases as f64 / s.max(1e-9);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        without.push(rate(run(&args, false, round)?));
        with.push(rate(run(&args, true, round)?));
        println!(
            "round {round}: without a program {:.0}/s, with {:.0}/s",
            without[without.len() - 1],
            with[with.len() - 1]
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut without), median(&mut with));
    println!(
        "purchases: {} by {} threads, medians of {} rounds; without a program {a:.0}/s; with the program (earning in the same write) {b:.0}/s; loyalty costs {:.0}% of the throughput",
        args.purchases,
        args.threads,
        without.len(),
        100.0 * (1.0 - b / a)
    );
    Ok(())
}
