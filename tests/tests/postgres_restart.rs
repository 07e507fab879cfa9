//! A PostgreSQL restart in the middle of a load: the writes in flight get UNAVAILABLE (never a
//! panic, never INTERNAL), and the service comes back by itself when the database is back,
//! with every acknowledged write there.
//!
//! It restarts the database, so it runs only where `CRM_TEST_POSTGRES_RESTART` gives the
//! command that does it (CI sets it, with `CRM_TEST_POSTGRES_URL`); without them it says so.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crm_tests::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_is_unavailable_then_service_resumes_by_itself() {
    let (Ok(url), Ok(restart)) = (
        std::env::var("CRM_TEST_POSTGRES_URL"),
        std::env::var("CRM_TEST_POSTGRES_RESTART"),
    ) else {
        eprintln!(
            "CRM_TEST_POSTGRES_URL and CRM_TEST_POSTGRES_RESTART are not both set: the restart story did not run"
        );
        return;
    };
    let schema = format!("e2e_restart_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(
        dir.path(),
        &[
            "--engine",
            "postgres",
            "--postgres-url",
            &url,
            "--postgres-schema",
            &schema,
        ],
    );
    let addr = server.addr;

    let stop_at = Instant::now() + Duration::from_secs(6);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            tokio::spawn(async move {
                let mut client = connect(addr).await;
                let (mut acked, mut codes) = (Vec::new(), BTreeMap::<String, u32>::new());
                let mut n = 0;
                while Instant::now() < stop_at {
                    n += 1;
                    match try_create(&mut client, person(&format!("R{w}-{n}"), "")).await {
                        Ok(c) => acked.push(c.id),
                        Err(s) => {
                            *codes.entry(format!("{:?}", s.code())).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                (acked, codes)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &restart])
            .status()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        restarted.is_ok_and(|s| s.success()),
        "the restart command failed"
    );

    let (mut acked, mut codes) = (Vec::new(), BTreeMap::<String, u32>::new());
    for w in writers {
        let (a, c) = w.await.unwrap_or_else(|e| panic!("{e}"));
        acked.extend(a);
        for (code, n) in c {
            *codes.entry(code).or_default() += n;
        }
    }
    eprintln!(
        "during the restart: {} writes acknowledged, refused: {codes:?}",
        acked.len()
    );
    assert!(
        codes
            .keys()
            .all(|c| c == &format!("{:?}", Code::Unavailable)),
        "writes during the restart got {codes:?}"
    );
    assert!(
        codes.contains_key(&format!("{:?}", Code::Unavailable)),
        "no write met the restart: {codes:?}"
    );
    assert!(!acked.is_empty());

    // Back by itself: a write succeeds again without restarting crm.
    let mut client = connect(addr).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sent = try_create(&mut client, person("After the restart", "")).await;
        match sent {
            Ok(_) => break,
            Err(s) if Instant::now() < deadline && s.code() == Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => panic!("the service did not come back: {s:?}"),
        }
    }
    for id in &acked {
        client
            .get_customer(pb::GetCustomerRequest { id: id.clone() })
            .await
            .unwrap_or_else(|s| panic!("acknowledged customer {id} is gone: {s:?}"));
    }
    assert!(server.terminate().success());
    drop_postgres_schema(&url, &schema);
}
