//! crm-bench: a gRPC load generator for crm-server.
//!
//! ```text
//! crm-bench --addr 127.0.0.1:50051 --connections 4 --concurrency 64 --duration 10s \
//!           --warmup 2s --mix get=80,create=10,list=5,purchase=5 --seed-customers 1000
//! crm-bench --echo --mix get=100 ...   # the same load against a trivial tonic service
//! ```
//!
//! Closed loop by default (each of `--concurrency` callers sends its next call when the last
//! one answers); `--rate R` paces the callers to R calls per second in total and measures
//! latency from each call's scheduled start, so a slow server cannot hide its queueing. Prints
//! a summary line (req/s, p50/p90/p99/p99.9 from an HDR histogram, errors by status code) and
//! the same as one JSON line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use crm_bench::stats::Rng;
use crm_grpc::pb;
use crm_grpc::pb::customer_service_client::CustomerServiceClient;
use crm_grpc::pb::timeline_service_client::TimelineServiceClient;
use hdrhistogram::Histogram;
use tonic::transport::{Channel, Endpoint};

/// Drives crm-server (or the echo ceiling) with a mix of calls and reports throughput and
/// latency.
#[derive(Debug, Parser)]
#[command(name = "crm-bench")]
struct Args {
    /// The server to load; repeat it to spread the load over several replicas.
    #[arg(long = "addr", default_value = "127.0.0.1:50051")]
    addrs: Vec<SocketAddr>,
    /// HTTP/2 connections to each server, shared round-robin by the callers.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Concurrent callers (calls in flight).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long to measure (`10s`, `500ms`, `2m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// How long to run before measuring.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Weights of the calls: `get`, `create`, `list`, `purchase`.
    #[arg(long, default_value = "get=80,create=10,list=5,purchase=5")]
    mix: String,
    /// Customers created before the run, for get, list and purchase to use.
    #[arg(long, default_value_t = 1000)]
    seed_customers: usize,
    /// Total calls per second (paced, open loop); unlimited when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// An API key to send as `authorization: Bearer KEY`.
    #[arg(long, env = "CRM_API_KEY")]
    api_key: Option<String>,
    /// Load a server that holds customers the load generator did not write. Without it such a
    /// server is refused: the run would add thousands of customers to real (or demo) data.
    #[arg(long)]
    allow_other_data: bool,
    /// Load a trivial tonic service (started as a child process) instead of `--addr`.
    #[arg(long)]
    echo: bool,
    /// Serve the trivial service on this address and nothing else (used by `--echo`).
    #[arg(long, hide = true)]
    serve_echo: Option<SocketAddr>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10s"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: use ms, s or m")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Create,
    List,
    Purchase,
}

fn parse_mix(mix: &str) -> Result<Vec<(Op, u32)>> {
    let mut out = Vec::new();
    for part in mix.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, weight) = part.split_once('=').context("a mix is name=weight,...")?;
        let op = match name.trim() {
            "get" => Op::Get,
            "create" => Op::Create,
            "list" => Op::List,
            "purchase" => Op::Purchase,
            other => bail!("unknown call {other:?}: use get, create, list, purchase"),
        };
        out.push((op, weight.trim().parse()?));
    }
    if out.iter().map(|(_, w)| w).sum::<u32>() == 0 {
        bail!("the mix has no weight");
    }
    Ok(out)
}

fn pick(mix: &[(Op, u32)], rng: &mut Rng) -> Op {
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(u64::from(total)) as u32;
    for (op, w) in mix {
        if x < *w {
            return *op;
        }
        x -= w;
    }
    Op::Get
}

struct Caller {
    customers: CustomerServiceClient<Channel>,
    timeline: TimelineServiceClient<Channel>,
    key: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl Caller {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        if let Some(key) = &self.key {
            r.metadata_mut().insert("authorization", key.clone());
        }
        r
    }

    async fn call(
        &mut self,
        op: Op,
        ids: &[String],
        rng: &mut Rng,
        n: u64,
    ) -> Result<(), tonic::Code> {
        let id = ids
            .get(rng.below(ids.len() as u64) as usize)
            .cloned()
            .unwrap_or_default();
        let result = match op {
            Op::Get => self
                .customers
                .get_customer(self.request(pb::GetCustomerRequest { id }))
                .await
                .map(drop),
            Op::Create => {
                let customer = pb::Customer {
                    id: String::new(),
                    ..bench_customer(n)
                };
                self.customers
                    .create_customer(self.request(pb::CreateCustomerRequest {
                        customer: Some(customer),
                        request_id: String::new(),
                    }))
                    .await
                    .map(drop)
            }
            Op::List => self
                .customers
                .list_customers(self.request(pb::ListCustomersRequest {
                    page_size: 50,
                    filter: format!("lifecycle_stage = {}", crm_bench::data::stage(n).name()),
                    ..Default::default()
                }))
                .await
                .map(drop),
            Op::Purchase => self
                .timeline
                .record_purchase(self.request(pb::RecordPurchaseRequest {
                    customer_id: id,
                    purchase: Some(pb::Purchase {
                        order_ref: format!("bench-{n}"),
                        amount: Some(pb::Money {
                            currency_code: "TRY".into(),
                            amount_minor: 10_000,
                        }),
                        line_items: vec![],
                    }),
                    ..Default::default()
                }))
                .await
                .map(drop),
        };
        result.map_err(|s| s.code())
    }
}

/// What one caller measured.
struct Tally {
    histogram: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

/// The source every customer the load generator writes carries, so its own data is told apart.
const BENCH_SOURCE: &str = "crm-bench";

/// Customer `n` of the benchmark data, marked as the load generator's.
fn bench_customer(n: u64) -> pb::Customer {
    let mut c =
        crm_grpc::convert::customer_to_proto(&crm_bench::data::customer(n, chrono::Utc::now()));
    c.source = BENCH_SOURCE.to_owned();
    c
}

/// Fails when the server holds a customer the load generator did not write.
async fn refuse_other_data(caller: &mut Caller) -> Result<()> {
    let page = caller
        .customers
        .list_customers(caller.request(pb::ListCustomersRequest {
            filter: format!("source != \"{BENCH_SOURCE}\""),
            page_size: 1,
            ..Default::default()
        }))
        .await
        .context("checking what the server holds")?
        .into_inner();
    if let Some(c) = page.customers.first() {
        bail!(
            "the server holds customers crm-bench did not write ({} {:?}, among others): \
             load a server of its own (crm-server --data-dir ./bench-data --listen \
             127.0.0.1:50052), or pass --allow-other-data",
            c.id,
            c.display_name
        );
    }
    Ok(())
}

/// Connects to `addr`, waiting up to 10 seconds for a server that is still starting.
async fn connect(addr: SocketAddr) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot connect to {addr}")),
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(addr) = args.serve_echo {
        return runtime.block_on(crm_bench::echo::serve(addr));
    }
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let mix = parse_mix(&args.mix)?;
    let mut echo_child = None;
    let addrs = if args.echo {
        if mix.iter().any(|(op, w)| *op == Op::Purchase && *w > 0) {
            bail!("the echo service has no purchases: use a mix of get, create and list");
        }
        let (child, addr) = start_echo()?;
        echo_child = Some(child);
        vec![addr]
    } else {
        args.addrs.clone()
    };
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        for addr in &addrs {
            channels.push(connect(*addr).await?);
        }
    }
    let key = match &args.api_key {
        Some(k) => Some(format!("Bearer {k}").parse()?),
        None => None,
    };
    let caller = |i: usize| Caller {
        customers: CustomerServiceClient::new(channels[i % channels.len()].clone()),
        timeline: TimelineServiceClient::new(channels[i % channels.len()].clone()),
        key: key.clone(),
    };
    if !args.echo && !args.allow_other_data {
        refuse_other_data(&mut caller(0)).await?;
    }
    // Seed customers for get, list and purchase, unless the echo service answers anyway.
    let mut ids = Vec::new();
    let run_tag = std::process::id();
    let mut seeder = caller(0);
    for n in 0..args.seed_customers.max(1) {
        let mut c = bench_customer(n as u64);
        c.emails[0].address = format!("seed{n}.{run_tag}@bench.example.com");
        let r = seeder
            .customers
            .create_customer(seeder.request(pb::CreateCustomerRequest {
                customer: Some(c),
                request_id: String::new(),
            }))
            .await
            .context("seeding customers")?;
        ids.push(r.into_inner().id);
    }
    let ids = Arc::new(ids);
    let start = Instant::now() + args.warmup;
    let end = start + args.duration;
    let interval = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(args.concurrency as f64 / r));
    let mut tasks = Vec::new();
    let concurrency = args.concurrency.max(1);
    for i in 0..concurrency {
        let mut c = caller(i);
        let ids = Arc::clone(&ids);
        let mix = mix.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut tally = Tally {
                histogram: Histogram::new_with_bounds(1, 60_000_000, 3)?,
                errors: BTreeMap::new(),
            };
            let mut n = (run_tag as u64) << 32 | (i as u64) << 20;
            // Paced callers start spread over one interval, not all at once.
            let spread = i as f64 / concurrency as f64;
            let mut next = Instant::now() + interval.map_or(Duration::ZERO, |d| d.mul_f64(spread));
            loop {
                if interval.is_some() {
                    tokio::time::sleep_until(next.into()).await;
                }
                let began = if interval.is_some() {
                    next
                } else {
                    Instant::now()
                };
                if began >= end {
                    return Ok::<_, anyhow::Error>(tally);
                }
                n += 1;
                let op = pick(&mix, &mut rng);
                let result = c.call(op, &ids, &mut rng, n).await;
                let done = Instant::now();
                if began >= start {
                    let micros =
                        u64::try_from(done.duration_since(began).as_micros()).unwrap_or(u64::MAX);
                    tally.histogram.saturating_record(micros.max(1));
                    if let Err(code) = result {
                        *tally.errors.entry(format!("{code:?}")).or_default() += 1;
                    }
                }
                if let Some(d) = interval {
                    next += d;
                }
            }
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        let tally = t.await??;
        histogram.add(&tally.histogram)?;
        for (code, count) in tally.errors {
            *errors.entry(code).or_default() += count;
        }
    }
    if let Some(mut child) = echo_child {
        let _ = child.kill();
        let _ = child.wait();
    }
    let secs = args.duration.as_secs_f64();
    let total = histogram.len();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let error_text = if errors.is_empty() {
        "none".to_string()
    } else {
        errors
            .iter()
            .map(|(c, n)| format!("{c}={n}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let target = if args.echo {
        "echo".to_string()
    } else {
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let summary = format!(
        "crm-bench {target} mix={} conc={} conns={} rate={}: {:.0} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {total} calls, errors: {error_text}",
        args.mix,
        args.concurrency,
        args.connections,
        args.rate.map_or("max".into(), |r| format!("{r:.0}")),
        total as f64 / secs,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
    );
    let json = serde_json::json!({
            "target": target, "mix": args.mix, "concurrency": args.concurrency,
            "connections": args.connections, "rate": args.rate, "req_per_sec": total as f64 / secs,
            "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "p999_ms": ms(0.999),
            "calls": total, "errors": errors,
    });
    // A reader that stops early (`| head -n 1`) is not a failure of the run.
    use std::io::Write;
    if let Err(e) = write!(std::io::stdout().lock(), "{summary}\n{json}\n")
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    Ok(())
}

/// Starts `crm-bench --serve-echo 127.0.0.1:0` as a child and reads the address it listens on.
fn start_echo() -> Result<(std::process::Child, SocketAddr)> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["--serve-echo", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .context("no stdout from the echo server")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .context("the echo server did not start")?
        .parse()?;
    Ok((child, addr))
}
