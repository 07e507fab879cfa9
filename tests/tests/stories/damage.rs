//! Damaged data on disk is reported precisely and never crashes the server.

use std::process::Command;

use crm_tests::*;
use tonic::Code;

/// Overwrites a customer's stored bytes (key layout from crm-store/DESIGN.md: 'C' + id).
fn damage_record(dir: &std::path::Path, id: &str) {
    let id = u64::from_str_radix(id, 16).unwrap_or_else(|e| panic!("{e}"));
    use crm_store::engine::sled::{SledEngine, SledOptions};
    use crm_store::engine::{Engine, EngineError, transact};
    let engine = SledEngine::open(&SledOptions {
        path: dir.to_path_buf(),
        cache_bytes: 1 << 20,
        flush_every_ms: None,
        ..SledOptions::new("")
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut key = vec![b'C'];
    key.extend_from_slice(&id.to_be_bytes());
    transact(&engine, |tx| {
        tx.put(&key, &[1u8, 0xff, 0xfe, 0xfd, 0x00]);
        Ok::<_, EngineError>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    engine.sync().unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_record_is_data_loss_for_its_reads_and_the_rest_is_still_served() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let ada = create(&mut client, person("Ada", "ada@example.com")).await;
    let grace = create(&mut client, person("Grace", "grace@example.com")).await;
    let dir = server.stop().await;
    damage_record(dir.path(), &ada.id);

    let server = TestServer::start_in(dir).await;
    let mut client = server.client().await;
    let status = client
        .get_customer(pb::GetCustomerRequest { id: ada.id.clone() })
        .await
        .err();
    let status = status.unwrap_or_else(|| panic!("a damaged record was served"));
    assert_eq!(
        (status.code(), reason(&status)),
        (Code::DataLoss, "DATA_CORRUPTED".into())
    );
    let lookup = client
        .lookup_customer(pb::LookupCustomerRequest {
            key: Some(pb::lookup_customer_request::Key::Email(
                "ada@example.com".into(),
            )),
        })
        .await;
    assert_eq!(code_of(lookup), Code::DataLoss);
    // Everything else is served as before, and new writes work.
    let got = client
        .get_customer(pb::GetCustomerRequest {
            id: grace.id.clone(),
        })
        .await;
    assert_eq!(got.map(|r| r.into_inner()).ok().as_ref(), Some(&grace));
    assert_eq!(list_all(&mut client, "", "", 0).await, vec![grace]);
    create(&mut client, person("Hedy", "hedy@example.com")).await;

    let mut admin = pb::admin_service_client::AdminServiceClient::new(server.channel().await);
    let report = admin
        .verify_store(pb::VerifyStoreRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert!(!report.clean);
    assert!(
        report.problems.iter().any(|p| p.contains(&ada.id)),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_damaged_or_foreign_data_directory_is_a_clear_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &[]);
    assert!(server.terminate().success());
    let db = dir.path().join("db");
    let len = std::fs::metadata(&db)
        .map(|m| m.len())
        .unwrap_or(0)
        .max(4096);
    std::fs::write(
        &db,
        (0..len).map(|i| (i * 31 % 253) as u8).collect::<Vec<u8>>(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_of_a_badly_damaged_store_answers_within_bounds() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut ids = Vec::new();
    for i in 0..1_100 {
        ids.push(create(&mut client, person(&format!("P{i}"), "")).await.id);
    }
    let dir = server.stop().await;
    {
        use crm_store::engine::sled::{SledEngine, SledOptions};
        use crm_store::engine::{Engine, EngineError, transact};
        let engine =
            SledEngine::open(&SledOptions::new(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        transact(&engine, |tx| {
            for id in &ids {
                let id = u64::from_str_radix(id, 16).unwrap_or_default();
                let mut key = vec![b'C'];
                key.extend_from_slice(&id.to_be_bytes());
                tx.put(&key, &[1u8, 0xff, 0xfe, 0xfd, 0x00]);
            }
            Ok::<_, EngineError>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        engine.sync().unwrap_or_else(|e| panic!("{e}"));
    }
    let server = TestServer::start_in(dir).await;
    let mut admin = pb::admin_service_client::AdminServiceClient::new(server.channel().await);
    let report = admin
        .verify_store(pb::VerifyStoreRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert!(!report.clean);
    assert_eq!(
        report.problems.len(),
        1_001,
        "the first 1,000 and a count of the rest"
    );
    let last = report.problems.last().cloned().unwrap_or_default();
    assert!(last.contains("more problems"), "{last}");
}
