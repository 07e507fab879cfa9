//! `crm-syncbench`: the sync and bulk benchmarks.
//!
//! ```text
//! crm-syncbench gen --rows 1000000 --purchases 5 --out rows.jsonl     # a JSONL file for `crm import`
//! crm-syncbench library --rows 1000000 --purchases 5 --dir /tmp/lib   # the library's own batched import
//! crm-syncbench lag --addr http://127.0.0.1:50051 --rate 5000 --duration 20s
//! ```
//! `lag` paces CreateCustomer calls at `--rate` per second and follows the change feed beside
//! them: the lag of an event is when the watcher received it minus the write's time.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use crm_bench::data;
use crm_core::Money;
use crm_core::timeline::Purchase;
use crm_grpc::pb;
use crm_store::customers::import::{ImportEntry, ImportEvent, ImportRow};
use crm_store::{Store, StoreConfig};
use hdrhistogram::Histogram;

#[derive(Debug, Parser)]
#[command(name = "crm-syncbench", about)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Writes N rows (a customer and K purchases each) as JSONL for `crm import`.
    Gen {
        #[arg(long)]
        rows: u64,
        #[arg(long, default_value_t = 5)]
        purchases: u64,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Imports the same rows through the library, 1,000 per write, durable.
    Library {
        #[arg(long)]
        rows: u64,
        #[arg(long, default_value_t = 5)]
        purchases: u64,
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Paced creates over gRPC with a change-feed watcher beside them.
    Lag {
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        #[arg(long, default_value_t = 5000)]
        rate: u64,
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 64)]
        concurrency: u64,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|e| format!("{s}: {e}"))?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s}: use s, ms or m")),
    }
}

fn when(n: u64, k: u64) -> DateTime<Utc> {
    let base = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    base + chrono::Duration::hours(i64::try_from(n % 10_000 + k * 24).unwrap_or(0))
}

fn amount(n: u64, k: u64) -> i64 {
    i64::try_from(1_000 + (n * 7 + k * 13) % 50_000).unwrap_or(1_000)
}

fn generate(rows: u64, purchases: u64, out: &std::path::Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("{}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    for n in 0..rows {
        let d = data::customer_data(n);
        let (given, family) = match &d.party {
            crm_core::Party::Person(p) => (p.given_name.clone(), p.family_name.clone()),
            crm_core::Party::Organization(o) => (o.legal_name.clone(), String::new()),
        };
        let entries: Vec<serde_json::Value> = (0..purchases)
            .map(|k| {
                serde_json::json!({
                    "occurred_at": when(n, k).to_rfc3339(),
                    "purchase": {
                        "order_ref": format!("O-{n}-{k}"),
                        "amount": {"currency_code": "TRY", "amount_minor": amount(n, k).to_string()},
                    },
                })
            })
            .collect();
        let row = serde_json::json!({
            "key": format!("bench:{n}"),
            "customer": {
                "person": {"given_name": given, "family_name": family},
                "emails": d.emails.iter().map(|e| serde_json::json!({"address": e.address})).collect::<Vec<_>>(),
                "phones": d.phones.iter().map(|p| serde_json::json!({"number": p.number})).collect::<Vec<_>>(),
                "tags": d.tags,
                "external_id": format!("B-{n}"),
            },
            "entries": entries,
        });
        writeln!(w, "{row}")?;
    }
    w.flush()?;
    Ok(())
}

fn library(rows: u64, purchases: u64, dir: &std::path::Path) -> anyhow::Result<()> {
    let store = Store::open_with(StoreConfig::new(dir))?;
    let started = Instant::now();
    let mut n = 0;
    while n < rows {
        let batch: Vec<ImportRow> = (n..(n + 1000).min(rows))
            .map(|i| {
                let mut customer = data::customer_data(i);
                customer.external_id = Some(format!("B-{i}"));
                customer.lifecycle_stage = crm_core::LifecycleStage::default();
                ImportRow {
                    key: format!("bench:{i}"),
                    customer,
                    entries: (0..purchases)
                        .map(|k| ImportEntry {
                            occurred_at: when(i, k),
                            actor: String::new(),
                            event: ImportEvent::Purchase(Purchase {
                                order_ref: format!("O-{i}-{k}"),
                                amount: Money::new("TRY", amount(i, k)),
                                line_items: Vec::new(),
                            }),
                        })
                        .collect(),
                }
            })
            .collect();
        let results = store.customers().import(&batch, None, false)?;
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            anyhow::bail!("a row failed: {e}");
        }
        n += batch.len() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "library import: {rows} rows ({purchases} purchases each) in {secs:.1} s = {:.0} rows/s",
        rows as f64 / secs
    );
    Ok(())
}

async fn lag(addr: String, rate: u64, duration: Duration, concurrency: u64) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(addr.clone())?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let mut feed = pb::change_feed_service_client::ChangeFeedServiceClient::new(channel.clone());
    // Start the watcher at the log's end: a first progress message or event says where.
    let mut stream = feed
        .watch_changes(pb::WatchChangesRequest {
            after: 0,
            ..Default::default()
        })
        .await?
        .into_inner();
    // Skip the backlog.
    let deadline = Instant::now() + duration;
    let per_task = Duration::from_secs_f64(concurrency as f64 / rate as f64);
    let mut writers = Vec::new();
    for t in 0..concurrency {
        let channel = channel.clone();
        writers.push(tokio::spawn(async move {
            let mut client = pb::customer_service_client::CustomerServiceClient::new(channel);
            let mut tick = tokio::time::interval(per_task);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = 0u64;
            while Instant::now() < deadline {
                tick.tick().await;
                let n = 10_000_000_000 + t * 100_000_000 + i;
                i += 1;
                let c = crm_grpc::convert::customer_to_proto(&data::customer(n, Utc::now()));
                let _ = client
                    .create_customer(pb::CreateCustomerRequest {
                        customer: Some(pb::Customer {
                            id: String::new(),
                            etag: String::new(),
                            ..c
                        }),
                        request_id: String::new(),
                    })
                    .await;
            }
            i
        }));
    }
    let mut lags = Histogram::<u64>::new(3)?;
    let started = Instant::now();
    let mut events = 0u64;
    while Instant::now() < deadline + Duration::from_secs(2) {
        let next = tokio::time::timeout(Duration::from_secs(2), stream.message()).await;
        let Ok(Ok(Some(message))) = next else { break };
        let Some(event) = message.event else { continue };
        let Some(t) = event.time else { continue };
        let at = DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            .unwrap_or_default();
        if at < Utc::now() - chrono::Duration::seconds(60) {
            continue;
        }
        let lag = (Utc::now() - at).num_microseconds().unwrap_or(0).max(0);
        lags.record(u64::try_from(lag).unwrap_or(0))?;
        events += 1;
    }
    let mut written = 0;
    for w in writers {
        written += w.await?;
    }
    let secs = started.elapsed().as_secs_f64().min(duration.as_secs_f64());
    println!(
        "feed lag at {:.0} writes/s ({written} creates, {events} events seen): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        written as f64 / secs,
        lags.value_at_quantile(0.5) as f64 / 1000.0,
        lags.value_at_quantile(0.99) as f64 / 1000.0,
        lags.max() as f64 / 1000.0
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Cmd::Gen {
            rows,
            purchases,
            out,
        } => generate(rows, purchases, &out),
        Cmd::Library {
            rows,
            purchases,
            dir,
        } => library(rows, purchases, &dir),
        Cmd::Lag {
            addr,
            rate,
            duration,
            concurrency,
        } => tokio::runtime::Runtime::new()?.block_on(lag(addr, rate, duration, concurrency)),
    }
}
