//! What was acknowledged stays: across a clean restart, and across a `kill -9` of the real
//! `crm-server` binary right after the acknowledgement.

use crm_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn everything_is_still_there_after_a_restart_and_verify_is_clean() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let org = create(&mut client, organization("Initech")).await;
    let mut people = Vec::new();
    for i in 0..50 {
        let mut c = person(&format!("Person {i}"), &format!("p{i}@initech.com"));
        c.organization_id = org.id.clone();
        c.tags = vec![format!("batch-{}", i % 5)];
        people.push(create(&mut client, c).await);
    }
    let updated = client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: people[0].id.clone(),
                owner: "zeynep".into(),
                ..Default::default()
            }),
            update_mask: None,
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    client
        .delete_customer(pb::DeleteCustomerRequest {
            id: people[1].id.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let before = list_all(&mut client, "", "", 0).await;

    let dir = server.stop().await;
    let server = TestServer::start_in(dir).await;
    let mut client = server.client().await;
    let after = list_all(&mut client, "", "", 0).await;
    assert_eq!(after, before);
    assert_eq!(after.len(), 50);
    let got = client
        .get_customer(pb::GetCustomerRequest {
            id: updated.id.clone(),
        })
        .await;
    assert_eq!(got.map(|r| r.into_inner()).ok(), Some(updated));
    assert_eq!(
        list_all(&mut client, r#"tags:"batch-3""#, "", 0)
            .await
            .len(),
        10
    );
    let lookup = client
        .lookup_customer(pb::LookupCustomerRequest {
            key: Some(pb::lookup_customer_request::Key::Email(
                "p7@initech.com".into(),
            )),
        })
        .await;
    assert_eq!(
        lookup.map(|r| r.into_inner().id).ok(),
        Some(people[7].id.clone())
    );
    // New ids keep growing after the restart.
    let newcomer = create(&mut client, person("Newcomer", "")).await;
    assert!(newcomer.id > people[49].id);

    let dir = server.stop().await;
    let report = open_store(dir.path())
        .verify()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.customers, 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_9_right_after_ok_creates_loses_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let server = ServerProcess::start(dir.path(), &[]);
        let mut tasks = Vec::new();
        for w in 0..8 {
            let mut client = connect(server.addr).await;
            tasks.push(tokio::spawn(async move {
                let mut ok = Vec::new();
                for i in 0..15 {
                    let c = person(
                        &format!("r{round} w{w} #{i}"),
                        &format!("r{round}.w{w}.{i}@example.com"),
                    );
                    ok.push(create(&mut client, c).await);
                }
                ok
            }));
        }
        for t in tasks {
            acknowledged.extend(t.await.unwrap_or_else(|e| panic!("{e}")));
        }
        // The very last acknowledgement, then SIGKILL at once: no shutdown, no final flush.
        let mut client = connect(server.addr).await;
        acknowledged.push(create(&mut client, person(&format!("last of round {round}"), "")).await);
        server.kill9();
    }

    let server = ServerProcess::start(dir.path(), &[]);
    let mut client = connect(server.addr).await;
    for c in &acknowledged {
        let got = client
            .get_customer(pb::GetCustomerRequest { id: c.id.clone() })
            .await;
        assert_eq!(
            got.map(|r| r.into_inner()).ok().as_ref(),
            Some(c),
            "acknowledged customer {} lost",
            c.id
        );
    }
    assert_eq!(
        list_all(&mut client, "", "", 0).await.len(),
        acknowledged.len()
    );
    assert!(server.terminate().success());
    let report = open_store(dir.path())
        .verify()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
}
