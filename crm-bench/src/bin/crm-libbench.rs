//! crm-libbench: the library workloads of a CRM on three engines, one engine and dataset size
//! per process (so peak RSS belongs to one engine):
//!
//! - `crm`: crm-store, as an application links it;
//! - `sled`: a raw-sled floor: the same record bytes and index keys in one batch per write, no
//!   domain logic (no validation, no change log, no audit, no summary rules);
//! - `sqlite`: SQLite through rusqlite, WAL, the same fields and indexes, prepared statements;
//!   `synchronous=FULL` against durable writes, `NORMAL` against relaxed ones.
//!
//! It loads `--size` customers, then runs each workload and prints one JSON line per workload
//! (ops/s, p50, p99) and one for the run (disk bytes per customer, peak RSS).
//! `scripts/bench.sh` runs every engine at every size and writes BENCHMARKS data.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use crm_bench::engines::{Engine, open_engine};
use crm_bench::stats::{Sample, peak_rss_bytes};

/// Runs the library workloads on one engine at one dataset size.
#[derive(Debug, Parser)]
struct Args {
    /// `crm`, `sled` or `sqlite`.
    #[arg(long)]
    engine: String,
    /// Customers loaded before the workloads run.
    #[arg(long, default_value_t = 10_000)]
    size: u64,
    /// Where the data goes (a temporary directory when absent).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Operations per read workload (get, lookup, list).
    #[arg(long, default_value_t = 20_000)]
    reads: u64,
    /// Operations per relaxed write workload (create, update, purchase).
    #[arg(long, default_value_t = 5_000)]
    writes: u64,
    /// Durable creates by a single writer.
    #[arg(long, default_value_t = 300)]
    durable: u64,
    /// Durable creates per writer, with 16 concurrent writers.
    #[arg(long, default_value_t = 150)]
    durable_each: u64,
    /// Run only these workloads (after the load), e.g. `get,list_stage_50`, for profiling.
    #[arg(long)]
    only: Option<String>,
    /// Instead of the engine comparison: load --size customers with this many timeline entries
    /// each into crm-store and time filters (indexed and scanned), search, segment counts and
    /// the portfolio report.
    #[arg(long)]
    analytics_entries: Option<u64>,
    /// The page cache each engine gets, in MiB.
    #[arg(long, default_value_t = 256)]
    cache_mb: u64,
    /// After the read workloads, this many untimed random gets and as many lookups, then the
    /// read workloads again as `get_warm`, `lookup_email_warm` and `list_stage_50_warm`: reads
    /// once the caches hold what random reads keep in them, where the first ones measure the
    /// cache filling up after the load (0: no warm pass).
    #[arg(long, default_value_t = 0)]
    warm: u64,
}

/// 16 concurrent writers creating `each` customers apiece, numbered from `next` on.
fn creates_by_16(engine: &dyn Engine, each: u64, next: &mut u64) -> Result<Sample> {
    let sample = Sample::run_parallel(16, each, |w, i| engine.create(*next + w * each + i))?;
    *next += 16 * each;
    Ok(sample)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir: PathBuf = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    if let Some(entries) = args.analytics_entries {
        return crm_bench::analytics::run(&dir, args.size, entries, args.cache_mb * 1024 * 1024);
    }
    let engine: Arc<dyn Engine> = open_engine(&args.engine, &dir, args.cache_mb * 1024 * 1024)?;
    let started = Instant::now();
    engine.load(args.size)?;
    eprintln!(
        "{}: loaded {} customers in {:.1}s",
        args.engine,
        args.size,
        started.elapsed().as_secs_f64()
    );
    let mut next = args.size;
    let report = |name: &str, s: Sample| {
        println!("{}", s.json(&args.engine, args.size, name));
    };
    if let Some(only) = &args.only {
        let mut rng = crm_bench::stats::Rng(7);
        for only in only.split(',') {
            let sample = match only {
                "get" => Sample::run(args.reads, |_| engine.get(rng.below(args.size)))?,
                "lookup_email" => Sample::run(args.reads, |_| engine.lookup(rng.below(args.size)))?,
                "list_stage_50" => {
                    Sample::run(args.reads / 10, |_| engine.list_stage(rng.below(6) as u8))?
                }
                "create_relaxed" => {
                    engine.set_durable(false)?;
                    let sample = Sample::run(args.writes, |i| engine.create(next + i))?;
                    next += args.writes;
                    sample
                }
                "create_durable" => {
                    engine.set_durable(true)?;
                    let sample = Sample::run(args.durable, |i| engine.create(next + i))?;
                    next += args.durable;
                    sample
                }
                "create_durable_16" => {
                    engine.set_durable(true)?;
                    creates_by_16(&*engine, args.durable_each, &mut next)?
                }
                "update_two_fields" => {
                    Sample::run(args.writes, |i| engine.update(rng.below(args.size), i))?
                }
                "record_purchase" => {
                    Sample::run(args.writes, |i| engine.purchase(rng.below(args.size), i))?
                }
                other => anyhow::bail!(
                    "--only supports get, lookup_email, list_stage_50, create_relaxed, create_durable, create_durable_16, update_two_fields, record_purchase, not {other:?}"
                ),
            };
            report(only, sample);
        }
        return Ok(());
    }
    let mut rng = crm_bench::stats::Rng(0x9e37_79b9_7f4a_7c15 ^ args.size);

    let mut reads = |suffix: &str| -> Result<()> {
        report(
            &format!("get{suffix}"),
            Sample::run(args.reads, |_| engine.get(rng.below(args.size)))?,
        );
        report(
            &format!("lookup_email{suffix}"),
            Sample::run(args.reads, |_| engine.lookup(rng.below(args.size)))?,
        );
        report(
            &format!("list_stage_50{suffix}"),
            Sample::run(args.reads / 10, |_| engine.list_stage(rng.below(6) as u8))?,
        );
        Ok(())
    };
    reads("")?;
    if args.warm > 0 {
        let mut warm = crm_bench::stats::Rng(0x5eed ^ args.size);
        for _ in 0..args.warm {
            engine.get(warm.below(args.size))?;
            engine.lookup(warm.below(args.size))?;
        }
        reads("_warm")?;
    }
    engine.set_durable(false)?;
    report(
        "create_relaxed",
        Sample::run(args.writes, |i| engine.create(next + i))?,
    );
    next += args.writes;
    // 16 relaxed writers: the ceiling of the serialized apply, which bounds group commit.
    report(
        "create_relaxed_16",
        Sample::run_parallel(16, args.durable_each, |w, i| {
            engine.create(next + w * args.durable_each + i)
        })?,
    );
    next += 16 * args.durable_each;
    report(
        "update_two_fields",
        Sample::run(args.writes, |i| engine.update(rng.below(args.size), i))?,
    );
    report(
        "record_purchase",
        Sample::run(args.writes, |i| engine.purchase(rng.below(args.size), i))?,
    );
    engine.set_durable(true)?;
    report(
        "create_durable",
        Sample::run(args.durable, |i| engine.create(next + i))?,
    );
    next += args.durable;
    report(
        "create_durable_16",
        creates_by_16(&*engine, args.durable_each, &mut next)?,
    );
    engine.finish()?;
    let disk = dir_bytes(&dir).context("measuring the data directory")?;
    println!(
        "{}",
        serde_json::json!({
            "engine": args.engine,
            "size": args.size,
            "workload": "run",
            "disk_bytes_per_customer": disk as f64 / args.size.max(1) as f64,
            "peak_rss_mb": peak_rss_bytes() as f64 / (1024.0 * 1024.0),
            "cache_mb": args.cache_mb,
        })
    );
    Ok(())
}

/// Bytes of every file under a directory.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
