//! Three crm-server processes on one PostgreSQL database, as a team runs them behind a load
//! balancer: they agree on uniqueness and etags, the change log read through any of them misses
//! nothing, and killing one loses no acknowledged write while the others keep serving. Runs when
//! `CRM_TEST_POSTGRES_URL` names a database (CI sets it); without it, it says so.

use std::collections::BTreeSet;
use std::process::Command;

use crm_tests::*;
use pb::admin_service_client::AdminServiceClient;
use tonic::Code;

fn database() -> Option<String> {
    let url = std::env::var("CRM_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        eprintln!("CRM_TEST_POSTGRES_URL is not set: the replica stories did not run");
    }
    url
}

/// Starts a replica on `url`, in `schema`.
fn replica(dir: &std::path::Path, url: &str, schema: &str) -> ServerProcess {
    ServerProcess::start(
        dir,
        &[
            "--engine",
            "postgres",
            "--postgres-url",
            url,
            "--postgres-schema",
            schema,
            "--postgres-pool",
            "8",
        ],
    )
}

/// Every customer id of a Created event in the change log, read through one replica.
async fn logged_creates(addr: std::net::SocketAddr) -> (Vec<u64>, BTreeSet<String>) {
    let mut admin = AdminServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut seqs, mut ids, mut token) = (Vec::new(), BTreeSet::new(), String::new());
    loop {
        let page = admin
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner();
        for e in page.events {
            seqs.push(e.seq);
            if e.operation == "CreateCustomer" {
                ids.insert(e.customer_id);
            }
        }
        if page.next_page_token.is_empty() {
            return (seqs, ids);
        }
        token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_one_database_serve_one_consistent_store() {
    let Some(url) = database() else { return };
    let schema = format!("e2e_replicas_{}", std::process::id());
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut servers: Vec<ServerProcess> = dirs
        .iter()
        .map(|d| replica(d.path(), &url, &schema))
        .collect();
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();

    // 24 clients, through the three replicas: each creates 5 customers, and all race for one
    // email. Exactly one wins it.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let addr = addrs[i % 3];
            tokio::spawn(async move {
                let mut client = connect(addr).await;
                let mut mine = Vec::new();
                for j in 0..5 {
                    mine.push(
                        create(&mut client, person(&format!("C{i}-{j}"), ""))
                            .await
                            .id,
                    );
                }
                let race = try_create(
                    &mut client,
                    person(&format!("Racer {i}"), "race@example.com"),
                )
                .await;
                (mine, race.map(|r| r.id))
            })
        })
        .collect();
    let mut created = BTreeSet::new();
    let mut race = Vec::new();
    for t in tasks {
        let (mine, outcome) = t.await.unwrap_or_else(|e| panic!("{e}"));
        created.extend(mine);
        race.push(outcome);
    }
    assert_eq!(created.len(), 120);
    let winners: Vec<_> = race.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{race:?}");
    assert!(
        race.iter()
            .filter_map(|r| r.as_ref().err())
            .all(|s| s.code() == Code::AlreadyExists),
        "{race:?}"
    );
    created.insert(winners[0].clone());

    // One etag, one update from each replica at once: one wins, the others are ABORTED.
    let target = winners[0].clone();
    let etag = connect(addrs[0])
        .await
        .get_customer(pb::GetCustomerRequest { id: target.clone() })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .etag;
    let updates: Vec<_> = (0..9)
        .map(|i| {
            let (addr, id, etag) = (addrs[i % 3], target.clone(), etag.clone());
            tokio::spawn(async move {
                let mut client = connect(addr).await;
                client
                    .update_customer(pb::UpdateCustomerRequest {
                        customer: Some(pb::Customer {
                            id,
                            owner: format!("owner{i}"),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["owner".into()],
                        }),
                        etag,
                    })
                    .await
                    .map(drop)
            })
        })
        .collect();
    let mut codes = Vec::new();
    for u in updates {
        codes.push(match u.await.unwrap_or_else(|e| panic!("{e}")) {
            Ok(()) => Code::Ok,
            Err(s) => s.code(),
        });
    }
    assert_eq!(
        codes.iter().filter(|c| **c == Code::Ok).count(),
        1,
        "{codes:?}"
    );
    assert!(
        codes.iter().all(|c| matches!(c, Code::Ok | Code::Aborted)),
        "{codes:?}"
    );

    // The change log, read through each replica, is gap-free and has every create once.
    for addr in &addrs {
        let (seqs, ids) = logged_creates(*addr).await;
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "a gap in the log"
        );
        assert!(created.is_subset(&ids), "a create is missing from the log");
    }

    // Kill one replica while clients write through it and through the others: nothing that was
    // acknowledged is lost, and the other two keep serving.
    let victim = servers.remove(0);
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let addr = addrs[i % 3];
            tokio::spawn(async move {
                let mut client = connect(addr).await;
                let mut acked = Vec::new();
                for j in 0..30 {
                    let sent = try_create(&mut client, person(&format!("K{i}-{j}"), "")).await;
                    if let Ok(c) = sent {
                        acked.push(c.id);
                    }
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    victim.kill9();
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap_or_else(|e| panic!("{e}")));
    }
    let mut survivor = connect(addrs[1]).await;
    for id in &acked {
        survivor
            .get_customer(pb::GetCustomerRequest { id: id.clone() })
            .await
            .unwrap_or_else(|s| panic!("acknowledged customer {id} is gone: {s:?}"));
    }
    let after = create(&mut connect(addrs[2]).await, person("After", "")).await;
    assert!(!after.id.is_empty());

    for server in servers {
        let (status, log) = server.terminate_logged();
        assert!(status.success(), "{status}:\n{log}");
    }
    drop_postgres_schema(&url, &schema);
}

#[test]
fn a_wrong_password_or_an_unreachable_database_is_a_clear_error_and_a_non_zero_exit() {
    let Some(url) = database() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // postgres://USER:PASSWORD@HOST...: the same URL with another password.
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("not a URL: {url}"));
    let (credentials, host) = rest
        .split_once('@')
        .unwrap_or_else(|| panic!("no user: {url}"));
    let user = credentials.split(':').next().unwrap_or_default();
    let wrong_password = format!("{scheme}://{user}:not-the-password@{host}");
    let unreachable = "postgres://crm:crm@127.0.0.1:1/crm_test".to_string();
    for (bad, says) in [(wrong_password, "password"), (unreachable, "PostgreSQL")] {
        let out = Command::new(server_binary())
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(["--engine", "postgres", "--postgres-url", &bad])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started on {bad}: {stderr}");
        assert!(stderr.contains(says), "{bad}: {stderr}");
    }
}
