//! Many clients at once: uniqueness holds and every acknowledged write is there.

use crm_tests::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_32_concurrent_creates_with_one_email_exactly_one_succeeds() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let mut client = server.client().await;
        tasks.push(tokio::spawn(async move {
            let email = if i % 2 == 0 {
                "Same@Example.com"
            } else {
                "same@example.COM"
            };
            client
                .create_customer(pb::CreateCustomerRequest {
                    customer: Some(person(&format!("Racer {i}"), email)),
                    request_id: String::new(),
                })
                .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.unwrap_or_else(|e| panic!("{e}")) {
            Ok(_) => winners += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
                assert_eq!(violations(&status), ["customer.emails[0].address"]);
            }
        }
    }
    assert_eq!(winners, 1);
    let mut client = server.client().await;
    assert_eq!(list_all(&mut client, "", "", 0).await.len(), 1);
    let dir = server.stop().await;
    assert!(open_store(dir.path()).verify().is_ok_and(|r| r.is_clean()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_etags_never_lose_an_update() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let counter = create(&mut client, person("Counter", "")).await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let mut client = server.client().await;
        let id = counter.id.clone();
        tasks.push(tokio::spawn(async move {
            let mut applied = 0;
            while applied < 5 {
                let current = client
                    .get_customer(pb::GetCustomerRequest { id: id.clone() })
                    .await;
                let current = current.unwrap_or_else(|s| panic!("{s:?}")).into_inner();
                let n: u32 = current
                    .attributes
                    .get("n")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut patch = pb::Customer {
                    id: id.clone(),
                    ..Default::default()
                };
                patch.attributes.insert("n".into(), (n + 1).to_string());
                patch.attributes.insert(format!("w{w}"), "x".into());
                let result = client
                    .update_customer(pb::UpdateCustomerRequest {
                        customer: Some(patch),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["attributes.n".into()],
                        }),
                        etag: current.etag,
                    })
                    .await;
                match result {
                    Ok(_) => applied += 1,
                    Err(s) if s.code() == Code::Aborted => {}
                    Err(s) => panic!("{s:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let last = client
        .get_customer(pb::GetCustomerRequest { id: counter.id })
        .await;
    let last = last.unwrap_or_else(|s| panic!("{s:?}")).into_inner();
    assert_eq!(
        last.attributes.get("n").map(String::as_str),
        Some("40"),
        "8 writers x 5 increments"
    );
    assert_eq!(last.etag, "v41");
}
