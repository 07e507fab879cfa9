//! `crm-supportbench`: support tickets through the library, at a size.
//!
//! ```text
//! crm-supportbench --tickets 100000 --customers 20000 --threads 8 --dir /tmp/support
//! ```
//!
//! 1. **Creating tickets**: `--threads` writers open `--tickets` tickets (durable writes, group
//!    commit), opened over the past four weeks, under the Istanbul calendar and a policy with
//!    targets for every priority. Beside it, the raw engine: one 200-byte value per ticket put
//!    into a bare sled tree, one durable flush per `--threads` puts (the ceiling of any store on
//!    this engine).
//! 2. **The `sla.status = "BREACHED"` page**: the clock moves a week on, so most tickets'
//!    instants pass at once; the first query sweeps them (timed apart), then the first page
//!    and a walk of every page, served by the index. Beside it, the same listing as a scan
//!    (`sla.status = "BREACHED" OR priority < "LOW"`, which no index answers).
//! 3. **The support report** over the four weeks. Beside it, the raw scan of the ticket records
//!    (decoding each), the floor of any report that reads every ticket.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use crm_core::CustomerData;
use crm_core::support::holidays::istanbul_office;
use crm_core::support::{Priority, PriorityTargets, SlaPolicy, TicketData, TicketStatus};
use crm_store::support::TicketQuery;
use crm_store::{Durability, ManualClock, Store, StoreConfig};

#[derive(Debug, Parser)]
#[command(name = "crm-supportbench", about)]
struct Args {
    /// Tickets to open.
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Customers they belong to.
    #[arg(long, default_value_t = 20_000)]
    customers: u64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 8)]
    threads: u64,
    /// A new directory for the store (and `raw/` for the engine peer).
    #[arg(long)]
    dir: std::path::PathBuf,
}

fn policy() -> SlaPolicy {
    let t = |priority, first, resolution| PriorityTargets {
        priority,
        first_response_minutes: first,
        resolution_minutes: resolution,
    };
    SlaPolicy {
        targets: vec![
            t(Priority::Low, 1440, 7200),
            t(Priority::Normal, 240, 1440),
            t(Priority::High, 60, 480),
            t(Priority::Urgent, 30, 240),
        ],
        at_risk_percent: 25,
    }
}

fn rate(n: u64, seconds: f64) -> String {
    format!("{:.0}/s", n as f64 / seconds.max(1e-9))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.tickets > 0 && args.customers > 0 && args.threads > 0);
    let start: DateTime<Utc> = "2026-11-02T06:00:00Z".parse().context("start")?;
    let clock = ManualClock::new(start + Duration::days(28));
    let config = StoreConfig::new(args.dir.join("store"))
        .durability(Durability::Durable)
        .clock(clock.clone());
    let store = Store::open_with(config).context("open the store")?;
    store
        .support()
        .update_business_calendar(istanbul_office(), None)?;
    store.support().update_sla_policy(policy(), None)?;
    let customers: Vec<_> = (0..args.customers)
        .map(|i| {
            store
                .customers()
                .create(CustomerData::person(format!("Customer {i}")), None)
                .map(|c| c.id)
        })
        .collect::<Result<_, _>>()?;
    let customers = Arc::new(customers);

    // 1. Creating tickets.
    let began = Instant::now();
    let writers: Vec<_> = (0..args.threads)
        .map(|w| {
            let (store, customers) = (store.clone(), Arc::clone(&customers));
            let (n, threads) = (args.tickets, args.threads);
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut i = w;
                while i < n {
                    let data = TicketData {
                        customer_id: customers[(i % customers.len() as u64) as usize],
                        order_ref: None,
                        subject: format!("Ticket {i}"),
                        channel: "email".into(),
                        priority: Priority::ALL[(i % 4) as usize],
                        assignee: Some(format!("agent{}", i % 12)),
                        tags: vec![],
                    };
                    let minutes = i64::try_from((i * 7919) % (28 * 24 * 60)).unwrap_or(0);
                    let opened = start + Duration::minutes(minutes);
                    store.support().create_ticket(data, Some(opened), None)?;
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
    let created = began.elapsed().as_secs_f64();
    let raw = raw_engine_peer(&args)?;
    println!(
        "create: {} tickets by {} threads in {created:.1} s = {}; raw sled, a 200-byte value each, one flush per {} puts: {}",
        args.tickets,
        args.threads,
        rate(args.tickets, created),
        args.threads,
        rate(args.tickets, raw)
    );

    // Half the tickets got a first reply (backdated: within ten business-ish hours of
    // opening); then a third are solved, a sixth wait on the customer.
    let ids: Vec<_> = walk(&store, "")?;
    let began = Instant::now();
    let mut replies = 0;
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let t = store.support().get_ticket(*id)?;
        let at = t.opened_at + Duration::minutes(i64::try_from(i % 600).unwrap_or(0));
        let message = crm_store::support::NewMessage {
            author: "agent".into(),
            public: true,
            body: "We are on it.".into(),
            at: Some(at.min(store.now())),
            ..Default::default()
        };
        store.support().add_message(*id, message)?;
        replies += 1;
    }
    let replied = began.elapsed().as_secs_f64();
    println!(
        "reply: {replies} first replies, one thread at a time, in {replied:.1} s = {}",
        rate(replies, replied)
    );
    for (i, id) in ids.iter().enumerate() {
        let to = match i % 6 {
            0 | 1 => TicketStatus::Solved,
            2 => TicketStatus::Pending,
            _ => continue,
        };
        store.support().move_ticket(*id, to, None, None)?;
    }

    // 2. The BREACHED page, a week later.
    clock.advance(Duration::days(7));
    let began = Instant::now();
    store.support().sla_index_at(store.now())?;
    let sweep = began.elapsed().as_secs_f64();
    let began = Instant::now();
    let first = store.support().list_tickets(&TicketQuery {
        filter: r#"sla.status = "BREACHED""#.into(),
        ..TicketQuery::default()
    })?;
    let first_page = began.elapsed().as_secs_f64();
    let began = Instant::now();
    let breached = walk(&store, r#"sla.status = "BREACHED""#)?.len();
    let indexed = began.elapsed().as_secs_f64();
    let began = Instant::now();
    let scanned = walk(&store, r#"sla.status = "BREACHED" OR priority < "LOW""#)?.len();
    let scan = began.elapsed().as_secs_f64();
    anyhow::ensure!(breached == scanned, "index {breached} != scan {scanned}");
    // A selective status: the tickets at risk now.
    let began = Instant::now();
    let at_risk = walk(&store, r#"sla.status = "AT_RISK""#)?.len();
    let risk_indexed = began.elapsed().as_secs_f64();
    let began = Instant::now();
    let risk_scanned = walk(&store, r#"sla.status = "AT_RISK" OR priority < "LOW""#)?.len();
    let risk_scan = began.elapsed().as_secs_f64();
    anyhow::ensure!(
        at_risk == risk_scanned,
        "index {at_risk} != scan {risk_scanned}"
    );
    println!(
        "breached: sweep after a week {:.0} ms; first page ({} tickets) {:.1} ms; all {breached} by the index {:.0} ms, by a scan {:.0} ms",
        sweep * 1e3,
        first.tickets.len(),
        first_page * 1e3,
        indexed * 1e3,
        scan * 1e3
    );
    println!(
        "at risk: all {at_risk} by the index {:.1} ms, by a scan {:.0} ms",
        risk_indexed * 1e3,
        risk_scan * 1e3
    );

    // 3. The support report.
    let began = Instant::now();
    let report = store.support().report(start, start + Duration::days(28))?;
    let reported = began.elapsed().as_secs_f64();
    let began = Instant::now();
    let decoded = store.support().list_tickets(&TicketQuery {
        filter: "priority < \"LOW\"".into(),
        page_size: 1000,
        ..TicketQuery::default()
    })?;
    let floor = began.elapsed().as_secs_f64();
    anyhow::ensure!(decoded.tickets.is_empty());
    println!(
        "report: {} tickets ({} answered), first response median {:.1} h, p90 {:.1} h, SLA attainment {:.1}% in {:.0} ms; a scan decoding every ticket {:.0} ms",
        report.opened,
        report.first_response.count,
        report.first_response.median_hours,
        report.first_response.p90_hours,
        report.sla_attainment_percent().unwrap_or(0.0),
        reported * 1e3,
        floor * 1e3
    );
    let verify = store.verify()?;
    anyhow::ensure!(verify.is_clean(), "{:?}", verify.problems);
    Ok(())
}

/// Every ticket a filter lists, page by page.
fn walk(store: &Store, filter: &str) -> anyhow::Result<Vec<crm_core::support::TicketId>> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = store.support().list_tickets(&TicketQuery {
            filter: filter.into(),
            page_size: 1000,
            page_token: token,
            newest_first: false,
        })?;
        out.extend(page.tickets.iter().map(|t| t.id));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

/// The raw engine: one 200-byte value per ticket (about a ticket record; a ticket write also
/// writes its index entries, timeline entry, summary and change log) put into a bare sled tree,
/// a durable flush per
/// `threads` puts (what group commit shares at best). Seconds taken.
fn raw_engine_peer(args: &Args) -> anyhow::Result<f64> {
    let db = sled::open(args.dir.join("raw"))?;
    let value = vec![7u8; 200];
    let began = Instant::now();
    for i in 0..args.tickets {
        db.insert(i.to_be_bytes(), value.as_slice())?;
        if (i + 1) % args.threads == 0 {
            db.flush()?;
        }
    }
    db.flush()?;
    Ok(began.elapsed().as_secs_f64())
}
