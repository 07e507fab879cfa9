//! `crm-salesbench`: automation rules and the forecast through the library, at a size.
//!
//! ```text
//! crm-salesbench rules --customers 20000 --rate 1000 --seconds 10 --window-ms 0 --dir /tmp/r
//! crm-salesbench forecast --deals 100000 --dir /tmp/f
//! ```
//!
//! - **rules**: a rule "a customer's attributes changed: make a task" and the worker running as
//!   the server runs it ([`crm_store::automation::Automation::serve`]). Writers update distinct
//!   customers at `--rate` events per second (durable writes, paced) for `--seconds`; then the
//!   worker drains. Reported: the events offered and handled per second, and the lag from each
//!   event's commit to the commit of the task it made (p50, p99, max), which includes the
//!   coalescing window (`--window-ms`). Beside it, the same writes with no rule (what the writers
//!   cost alone), and the worker's drain rate over a backlog (its ceiling).
//! - **forecast**: `--deals` deals with histories (moves, wins, losses over a year) in one
//!   pipeline; the forecast for a quarter now and as of 90 days ago (median of 5). Beside it, the
//!   raw read of every deal record (decode only): the floor of any forecast that reads them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use crm_core::automation::{Action, Operation, RuleData, Trigger, Watched};
use crm_core::deals::{
    DealData, ForecastCategory, ForecastQuery, PipelineData, Probability, Stage,
};
use crm_core::tasks::TaskSource;
use crm_core::{CustomerData, Money, UpdateMask};
use crm_store::tasks::TaskQuery;
use crm_store::{Durability, Store, StoreConfig};

#[derive(Debug, Parser)]
#[command(name = "crm-salesbench", about)]
struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Rule evaluation throughput and lag.
    Rules {
        /// Customers (each event updates a different one, so nothing coalesces).
        #[arg(long, default_value_t = 20_000)]
        customers: u64,
        /// Events offered per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// For how long.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent writers.
        #[arg(long, default_value_t = 16)]
        threads: u64,
        /// The coalescing window, in milliseconds.
        #[arg(long, default_value_t = 0)]
        window_ms: i64,
        /// Updates in the backlog the worker drains alone.
        #[arg(long, default_value_t = 100_000)]
        backlog: u64,
        /// A new directory.
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// The forecast over many deals.
    Forecast {
        /// Deals.
        #[arg(long, default_value_t = 100_000)]
        deals: u64,
        /// A new directory.
        #[arg(long)]
        dir: std::path::PathBuf,
    },
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Updates `n` customers' attributes from `threads` writers at `rate` per second in all.
fn offer(
    store: &Store,
    ids: &Arc<Vec<crm_core::CustomerId>>,
    rate: u64,
    seconds: u64,
    threads: u64,
    round: u64,
) -> anyhow::Result<(u64, f64)> {
    let total = rate * seconds;
    let began = Instant::now();
    let writers: Vec<_> = (0..threads)
        .map(|w| {
            let (store, ids) = (store.clone(), Arc::clone(ids));
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mask =
                    UpdateMask::parse(&["attributes"]).map_err(|v| anyhow::anyhow!("{v:?}"))?;
                let mut i = w;
                while i < total {
                    // Paced: event i is due at i / rate seconds.
                    let due = Duration::from_secs_f64(i as f64 / rate as f64);
                    if let Some(wait) = due.checked_sub(began.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    let id = ids[(i % ids.len() as u64) as usize];
                    let mut c = store.customers().get(id)?.data;
                    c.attributes.insert("round".into(), format!("{round}.{i}"));
                    store.customers().update(id, &c, &mask, None)?;
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
    Ok((total, began.elapsed().as_secs_f64()))
}

/// The load: events per second, for how many seconds, from how many writers.
type Load = (u64, u64, u64);

fn rules(
    customers: u64,
    (rate, seconds, threads): Load,
    window_ms: i64,
    backlog: u64,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let config = StoreConfig::new(dir.join("store"))
        .durability(Durability::Durable)
        .rule_coalesce_window(chrono::Duration::milliseconds(window_ms));
    let store = Store::open_with(config).context("open")?;
    let ids: Vec<_> = (0..customers)
        .map(|i| {
            store
                .customers()
                .create(CustomerData::person(format!("C{i}")), None)
                .map(|c| c.id)
        })
        .collect::<Result<_, _>>()?;
    let ids = Arc::new(ids);

    // The writers alone (no rule yet).
    let (n, secs) = offer(&store, &ids, rate, seconds, threads, 0)?;
    println!(
        "writes alone: {n} updates offered at {rate}/s took {secs:.2} s ({:.0}/s)",
        n as f64 / secs
    );

    let rule = store.automation().create_rule(
        RuleData {
            name: "look at edits".into(),
            enabled: true,
            trigger: Trigger::Change {
                entity: Watched::Customer,
                operations: vec![Operation::Updated],
                fields: vec!["attributes".into()],
                filter: String::new(),
            },
            actions: vec![Action::CreateTask {
                title: "Look".into(),
                due_in_minutes: 60,
                owner: Some("bench".into()),
            }],
        },
        None,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        std::thread::spawn(move || store.automation().serve(&|| stop.load(Ordering::Relaxed)))
    };
    let (n, secs) = offer(&store, &ids, rate, seconds, threads, 1)?;
    println!(
        "with the rule: {n} updates offered at {rate}/s took {secs:.2} s ({:.0}/s)",
        n as f64 / secs
    );
    let began = Instant::now();
    loop {
        let fired = store.automation().firings(rule.id, 1).map(|f| f.len())?;
        let cursor = store.automation().cursor()?;
        if fired > 0 && cursor >= store.audit().last_change_seq()? {
            break;
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(600),
            "the worker never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "the worker caught up {:.2} s after the last write",
        began.elapsed().as_secs_f64()
    );
    stop.store(true, Ordering::Relaxed);
    worker
        .join()
        .map_err(|_| anyhow::anyhow!("the worker panicked"))?;

    // Lag: each task's commit against its event's commit.
    let times: std::collections::HashMap<u64, chrono::DateTime<Utc>> = store
        .audit()
        .changes(0, usize::MAX)?
        .into_iter()
        .map(|e| (e.seq, e.time))
        .collect();
    let mut lags = Vec::new();
    let mut token = String::new();
    loop {
        let page = store.tasks().list_tasks(&TaskQuery {
            owner: Some("bench".into()),
            page_size: 1000,
            page_token: token,
            ..TaskQuery::default()
        })?;
        for t in &page.tasks {
            if let TaskSource::Rule { event, .. } = t.source
                && let Some(at) = times.get(&event)
            {
                lags.push((t.create_time - *at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    lags.sort_by(f64::total_cmp);
    println!(
        "rule firings: {} for {n} events; lag from commit to action p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (window {window_ms} ms)",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0.0)
    );

    // The ceiling: a backlog drained by passes alone.
    let (n, _) = offer(&store, &ids, backlog, 1, threads, 2)?;
    let began = Instant::now();
    let mut handled = 0;
    loop {
        let pass = store.automation().run_once()?;
        handled += pass.events;
        if pass.events == 0 && !pass.waiting {
            break;
        }
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "backlog drain (the worker's ceiling): {n} updates in {secs:.2} s, {:.0} rule firings/s ({handled} change-log events read, the tasks' own creation events included)",
        n as f64 / secs
    );
    Ok(())
}

fn forecast(deals: u64, dir: &std::path::Path) -> anyhow::Result<()> {
    let config = StoreConfig::new(dir.join("store")).durability(Durability::Relaxed);
    let store = Store::open_with(config).context("open")?;
    let stage = |key: &str, p: f64, category| Stage {
        key: key.into(),
        name: String::new(),
        probability: Probability::from_fraction(p).unwrap_or_default(),
        category,
        rotting_days: 21,
    };
    let pipeline = store.deals().create_pipeline(
        PipelineData {
            name: "Sales".into(),
            stages: vec![
                stage("qualified", 0.1, ForecastCategory::Pipeline),
                stage("proposal", 0.4, ForecastCategory::BestCase),
                stage("negotiation", 0.7, ForecastCategory::Commit),
            ],
        },
        None,
    )?;
    let customers: Vec<_> = (0..(deals / 10).max(1))
        .map(|i| {
            store
                .customers()
                .create(CustomerData::person(format!("C{i}")), None)
                .map(|c| c.id)
        })
        .collect::<Result<_, _>>()?;
    let customers = Arc::new(customers);
    let today = Utc::now().date_naive();
    let began = Instant::now();
    let threads = 8;
    let writers: Vec<_> = (0..threads)
        .map(|w| {
            let (store, customers) = (store.clone(), Arc::clone(&customers));
            let pipeline = pipeline.id;
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut i = w;
                while i < deals {
                    let close =
                        today + chrono::Duration::days(i64::try_from(i % 365).unwrap_or(0) - 180);
                    let d = store.deals().create_deal(
                        DealData {
                            customer_id: customers[(i % customers.len() as u64) as usize],
                            contacts: vec![],
                            name: format!("Deal {i}"),
                            amount: Money::new(
                                if i % 5 == 0 { "EUR" } else { "TRY" },
                                10_000 + i64::try_from(i % 97).unwrap_or(0) * 1_000,
                            ),
                            close_date: close,
                            owner: Some(format!("rep{}", i % 20)),
                            pipeline_id: pipeline,
                            stage: String::new(),
                            probability: None,
                            line_items: vec![],
                        },
                        None,
                    )?;
                    if i % 3 != 0 {
                        store.deals().move_deal(d.id, "proposal", None)?;
                    }
                    match i % 6 {
                        1 => drop(store.deals().move_deal(d.id, "negotiation", None)?),
                        2 => drop(
                            store
                                .deals()
                                .close_deal(d.id, true, "signed", false, None)?,
                        ),
                        4 => drop(
                            store
                                .deals()
                                .close_deal(d.id, false, "price", false, None)?,
                        ),
                        _ => {}
                    }
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
    println!(
        "{deals} deals with their moves written in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let quarter = |as_of| ForecastQuery {
        start: today,
        end: today + chrono::Duration::days(91),
        owner: None,
        pipeline: None,
        as_of,
    };
    let time = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let mut runs = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            f()?;
            runs.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        runs.sort_by(f64::total_cmp);
        Ok(runs[2])
    };
    let now = store.now();
    let f = store.deals().forecast(&quarter(now))?;
    let open: u64 = f.totals.iter().map(|t| t.count).sum();
    let now_ms = time(&|| {
        store
            .deals()
            .forecast(&quarter(now))
            .map(drop)
            .map_err(Into::into)
    })?;
    let past = now - chrono::Duration::days(90);
    let past_ms = time(&|| {
        store
            .deals()
            .forecast(&quarter(past))
            .map(drop)
            .map_err(Into::into)
    })?;
    let raw_ms = time(&|| {
        store
            .deals()
            .list_deals(&crm_store::deals::DealQuery {
                filter: "amount < 0".into(),
                page_size: 1,
                page_token: String::new(),
            })
            .map(drop)
            .map_err(Into::into)
    })?;
    println!(
        "forecast of a quarter ({open} deals in it, {} calibration rows): {now_ms:.0} ms now, {past_ms:.0} ms as of 90 days ago; beside it, reading every deal record (a filter no deal matches): {raw_ms:.0} ms",
        f.calibration.len()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Args::parse().what {
        What::Rules {
            customers,
            rate,
            seconds,
            threads,
            window_ms,
            backlog,
            dir,
        } => rules(
            customers,
            (rate, seconds, threads),
            window_ms,
            backlog,
            &dir,
        ),
        What::Forecast { deals, dir } => forecast(deals, &dir),
    }
}
