//! The fault harness: the real `crm-server` binary against a disk that fills up, damaged data
//! files, clients that never finish their requests, and connection floods at the descriptor
//! limit.
//!
//! - `CRM_FAULTS_TRIALS`: disk-full trials (default 2: one with small records, one with large)
//!   and rounds of random damage (default 1). The acceptance run is `CRM_FAULTS_TRIALS=20`.
//! - The disk-full trials need a small file system: they mount a tmpfs, which takes root. Run
//!   as another user, they are skipped with the reason printed.

#![allow(clippy::panic)]

mod clients;
mod damage;
mod disk_full;

use std::collections::BTreeMap;
use std::time::Duration;

use crm_tests::*;

/// How many trials a fault runs (`CRM_FAULTS_TRIALS`), at least `min`.
fn trials(default: u32) -> u32 {
    std::env::var("CRM_FAULTS_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

/// A random source seeded by `CRM_FAULTS_SEED`, or the clock (printed, so a run can be replayed).
fn seeded() -> Rng {
    let seed = std::env::var("CRM_FAULTS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        })
        | 1;
    eprintln!("faults: CRM_FAULTS_SEED={seed}");
    Rng(seed)
}

/// A customer whose attributes take about `bytes` bytes (values of 1,000 bytes at most).
fn customer_of_size(name: &str, bytes: usize) -> pb::Customer {
    let mut c = person(name, "");
    let mut left = bytes;
    let mut i = 0;
    while left > 0 {
        let n = left.min(1000);
        c.attributes.insert(
            format!("part_{i}"),
            char::from(b'a' + (i % 26) as u8).to_string().repeat(n),
        );
        left -= n;
        i += 1;
    }
    c
}

/// What the clients were told: each acknowledged customer's id and etag.
type Acked = BTreeMap<String, String>;

/// A call with a deadline: a server that hangs fails the test instead of hanging it.
async fn within<T>(what: &str, limit: Duration, call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {limit:?}: the server hangs"))
}

/// Reads every acknowledged customer back: each must be there at the etag it was acknowledged
/// with, or be reported as damaged (DATA_LOSS). Never missing, never older.
async fn check_acked(client: &mut Client, acked: &Acked) -> usize {
    let mut damaged = 0;
    for (id, etag) in acked {
        let got = within(
            "GetCustomer",
            Duration::from_secs(10),
            client.get_customer(pb::GetCustomerRequest { id: id.clone() }),
        )
        .await;
        match got {
            Ok(c) => assert_eq!(
                &c.into_inner().etag,
                etag,
                "customer {id} is served at an older state than was acknowledged"
            ),
            Err(s) if s.code() == tonic::Code::DataLoss => damaged += 1,
            Err(s) => panic!("acknowledged customer {id} is not served: {s:?}"),
        }
    }
    damaged
}

/// The server's resident memory, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// CPU time the process has used, in clock ticks (user + system).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which is in parentheses): state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}
