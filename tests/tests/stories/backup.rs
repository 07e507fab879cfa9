//! An operator backs up a running server while writers go on, restores the backup elsewhere,
//! and finds exactly the state at the backup's cursor; damaged backups and occupied directories
//! are refused and leave nothing behind; a store migrated from sled to fjall serves the same
//! customers.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crm_tests::*;
use pb::admin_service_client::AdminServiceClient;
use pb::change_feed_service_client::ChangeFeedServiceClient;

/// Every event of the live server's feed up to `cursor`.
async fn events_until(server: &TestServer, cursor: u64) -> Vec<pb::ChangeEvent> {
    let mut feed = ChangeFeedServiceClient::new(server.channel().await);
    let mut stream = feed
        .watch_changes(pb::WatchChangesRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut out = Vec::new();
    while out
        .last()
        .is_none_or(|e: &pb::ChangeEvent| e.cursor < cursor)
    {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap_or_else(|_| panic!("the feed stalled"))
            .unwrap_or_else(|s| panic!("{s:?}"))
            .unwrap_or_else(|| panic!("the feed ended"));
        out.extend(message.event);
    }
    out
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_to_the_state_at_one_cursor() {
    let server = TestServer::start().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Writers create, update and delete the whole time.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, stop) = (server.addr, std::sync::Arc::clone(&stop));
            tokio::spawn(async move {
                let mut client = connect(addr).await;
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let c = create(&mut client, person(&format!("W{w} {i}"), "")).await;
                    let mut patch = c.clone();
                    patch.tags = vec!["touched".into()];
                    client
                        .update_customer(pb::UpdateCustomerRequest {
                            customer: Some(patch),
                            update_mask: Some(prost_types::FieldMask {
                                paths: vec!["tags".into()],
                            }),
                            ..Default::default()
                        })
                        .await
                        .unwrap_or_else(|s| panic!("{s:?}"));
                    if i % 3 == 0 {
                        client
                            .delete_customer(pb::DeleteCustomerRequest {
                                id: c.id,
                                etag: String::new(),
                            })
                            .await
                            .unwrap_or_else(|s| panic!("{s:?}"));
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let mut people = server.client().await;
    while list_all(&mut people, "", "", 500).await.len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut admin = AdminServiceClient::new(server.channel().await);
    let mut stream = admin
        .backup(pb::BackupRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut bytes = Vec::new();
    let summary = loop {
        let message = stream
            .message()
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .unwrap_or_else(|| panic!("the backup ended without its summary"));
        bytes.extend_from_slice(&message.data);
        if let Some(summary) = message.summary {
            break summary;
        }
    };
    // Writes went on after the snapshot.
    let after_backup = list_all(&mut people, "", "", 500).await.len();
    while list_all(&mut people, "", "", 500).await.len() < after_backup + 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(summary.bytes, bytes.len() as u64);
    assert!(summary.cursor > 0);

    // What the live store's log says each customer was at the cursor.
    let mut expected: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for e in events_until(&server, summary.cursor).await {
        if e.cursor > summary.cursor {
            break;
        }
        let alive = e.operation != pb::ChangeOperation::Deleted as i32;
        expected.insert(e.customer_id.clone(), alive.then_some(e.version));
    }
    let expected: BTreeMap<String, u64> = expected
        .into_iter()
        .filter_map(|(id, v)| Some((id, v?)))
        .collect();
    let live_now = list_all(&mut people, "", "", 500).await.len();
    assert!(
        live_now > expected.len(),
        "the writers went on past the backup"
    );

    let target = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = target.path().join("restored");
    let (restored, info) =
        crm_store::restore(bytes.as_slice(), &dir, crm_store::StoreConfig::new(&dir))
            .unwrap_or_else(|e| panic!("restore failed: {e}"));
    assert_eq!(info.cursor, summary.cursor);
    let report = restored.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    let mut found = BTreeMap::new();
    let mut token = String::new();
    loop {
        let page = restored
            .customers()
            .list(&crm_store::ListQuery {
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        for c in &page.customers {
            found.insert(c.id.to_string(), c.version);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        found, expected,
        "the restored store is not the state at the cursor"
    );
    assert_eq!(
        restored
            .audit()
            .last_change_seq()
            .unwrap_or_else(|e| panic!("{e}")),
        summary.cursor
    );
    server.stop().await;
}

fn crm_server(args: &[&str]) -> std::process::Output {
    Command::new(server_binary())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run crm-server: {e}"))
}

#[tokio::test]
async fn damaged_backups_and_occupied_directories_are_refused_and_leave_nothing() {
    let server = TestServer::start().await;
    let mut people = server.client().await;
    for i in 0..30 {
        create(
            &mut people,
            person(&format!("P{i}"), &format!("p{i}@example.com")),
        )
        .await;
    }
    let data = server.stop().await;
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = work.path().join("crm.backup");
    let file_s = file.to_string_lossy().into_owned();
    let data_s = data.path().to_string_lossy().into_owned();

    let taken = crm_server(&["backup", "--to", &file_s, "--data-dir", &data_s]);
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let whole = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));

    // A good backup restores, and verify is clean.
    let good = work.path().join("good");
    let restored = crm_server(&[
        "restore",
        "--from",
        &file_s,
        "--data-dir",
        &good.to_string_lossy(),
    ]);
    let said = String::from_utf8_lossy(&restored.stderr).into_owned();
    assert!(restored.status.success(), "{said}");
    assert!(said.contains("verify is clean (30 customers)"), "{said}");

    // Again into the same directory: refused, and the directory is untouched.
    let again = crm_server(&[
        "restore",
        "--from",
        &file_s,
        "--data-dir",
        &good.to_string_lossy(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    let reopened = open_store(&good);
    assert_eq!(reopened.verify().map(|r| r.customers).ok(), Some(30));
    drop(reopened);

    // Truncated anywhere, or with one byte changed: refused, and nothing is left.
    let damaged = [
        ("truncated in the header", whole[..12].to_vec()),
        ("truncated in an entry", whole[..whole.len() / 2].to_vec()),
        ("without its checksum", whole[..whole.len() - 32].to_vec()),
        ("with one byte changed", {
            let mut b = whole.clone();
            let at = b.len() / 3;
            b[at] ^= 0x40;
            b
        }),
        ("not a backup", b"hello, world".to_vec()),
    ];
    for (what, bytes) in damaged {
        let bad = work.path().join("bad.backup");
        std::fs::write(&bad, bytes).unwrap_or_else(|e| panic!("{e}"));
        let target = work.path().join("target");
        let out = crm_server(&[
            "restore",
            "--from",
            &bad.to_string_lossy(),
            "--data-dir",
            &target.to_string_lossy(),
        ]);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{what}: {said}");
        assert!(said.contains("bad backup"), "{what}: {said}");
        assert!(
            !target.exists(),
            "{what}: a restore left {}",
            target.display()
        );
        let leftovers: Vec<_> = std::fs::read_dir(work.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("restoring"))
            .collect();
        assert!(leftovers.is_empty(), "{what}: left {leftovers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_migrated_to_fjall_serves_the_same_customers_and_remembers_its_engine() {
    let server = TestServer::start().await;
    let mut people = server.client().await;
    let mut made = Vec::new();
    for i in 0..20 {
        made.push(
            create(
                &mut people,
                person(&format!("M{i}"), &format!("m{i}@example.com")),
            )
            .await,
        );
    }
    let data = server.stop().await;
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let copy = work.path().join("on-fjall");
    let (data_s, copy_s) = (
        data.path().to_string_lossy().into_owned(),
        copy.to_string_lossy().into_owned(),
    );

    let migrated = crm_server(&[
        "migrate", "--from", &data_s, "--to", &copy_s, "--engine", "fjall",
    ]);
    let said = String::from_utf8_lossy(&migrated.stderr);
    assert!(migrated.status.success(), "{said}");
    assert!(said.contains("(sled) into"), "{said}");
    assert!(said.contains("verify is clean (20 customers)"), "{said}");
    // Into a directory that holds something: refused.
    let again = crm_server(&[
        "migrate", "--from", &data_s, "--to", &copy_s, "--engine", "fjall",
    ]);
    assert!(!again.status.success());

    // The copy opened with sled is refused, naming both engines; with fjall it serves.
    let wrong = crm_server(&["--data-dir", &copy_s, "--listen", "127.0.0.1:0"]);
    let why = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(why.contains("holds a fjall store, not a sled one"), "{why}");
    assert!(why.contains("--engine fjall"), "{why}");

    let on_fjall = ServerProcess::start(&copy, &["--engine", "fjall"]);
    let mut client = connect(on_fjall.addr).await;
    for customer in &made {
        let read = client
            .get_customer(pb::GetCustomerRequest {
                id: customer.id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", customer.id))
            .into_inner();
        assert_eq!(read.etag, customer.etag);
        assert_eq!(read.display_name, customer.display_name);
    }
    // Writes go on there, and outlive a restart.
    let later = create(&mut client, person("After", "after@example.com")).await;
    assert!(on_fjall.terminate().success());
    let again = ServerProcess::start(&copy, &["--engine", "fjall"]);
    let mut client = connect(again.addr).await;
    let read = client
        .get_customer(pb::GetCustomerRequest { id: later.id })
        .await;
    assert!(read.is_ok(), "{read:?}");
    assert!(again.terminate().success());
}
