//! Cancelled calls are part of normal traffic: a client that cancels many calls (short
//! deadlines) keeps its connection and its other calls, a call whose deadline passes is
//! answered DEADLINE_EXCEEDED, and a rapid-reset flood (CVE-2023-44487) does not take the server
//! from other clients.

#![allow(clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use crm_tests::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_calls_with_one_millisecond_deadlines_leave_the_connection_and_its_other_calls_alone()
 {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut seed = client.clone();
    for i in 0..300 {
        create(&mut seed, person(&format!("Person {i}"), "")).await;
    }
    // Slow calls in flight on the same connection (one channel), with 200 impatient ones.
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut c = client.clone();
        slow.push(tokio::spawn(async move {
            c.list_customers(pb::ListCustomersRequest {
                page_size: 300,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().customers.len())
        }));
    }
    let mut impatient = Vec::new();
    for _ in 0..200 {
        let mut c = client.clone();
        impatient.push(tokio::spawn(async move {
            let mut request = tonic::Request::new(pb::ListCustomersRequest {
                page_size: 300,
                ..Default::default()
            });
            request.set_timeout(Duration::from_millis(1));
            c.list_customers(request).await.map(|_| ())
        }));
    }
    for call in impatient {
        let result = call.await.unwrap_or_else(|e| panic!("{e}"));
        if let Err(s) = result {
            assert!(
                matches!(s.code(), Code::DeadlineExceeded | Code::Cancelled),
                "an impatient call ended with {s:?}"
            );
        }
    }
    for call in slow {
        let served = call.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            served.unwrap_or_else(|s| panic!("a call in flight was ended: {s:?}")),
            300
        );
    }
    // The connection is still good.
    let mut c = client.clone();
    assert!(
        c.list_customers(pb::ListCustomersRequest::default())
            .await
            .is_ok()
    );
}

fn create_request(addr: std::net::SocketAddr, timeout: Option<&str>) -> http::Request<()> {
    let mut request = http::Request::post(format!(
        "http://{addr}/crm.v1.CustomerService/CreateCustomer"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers");
    if let Some(t) = timeout {
        request = request.header("grpc-timeout", t);
    }
    request.body(()).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_whose_deadline_passes_is_answered_deadline_exceeded() {
    let server = TestServer::start().await;
    let client = h2_connection(server.addr).await;
    let mut client = client.ready().await.unwrap_or_else(|e| panic!("{e}"));
    // A request whose body never finishes, with a 200 ms deadline.
    let (response, mut body) = client
        .send_request(create_request(server.addr, Some("200m")), false)
        .unwrap_or_else(|e| panic!("{e}"));
    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 100, 0x0a]), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let answered = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .unwrap_or_else(|_| panic!("no answer after the deadline"))
        .unwrap_or_else(|e| panic!("{e}"));
    let status = answered
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(status.as_deref(), Some("4"), "{:?}", answered.headers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rapid_reset_flood_does_not_take_the_server_from_other_clients() {
    let server = TestServer::start().await;
    let mut polite = server.client().await;
    let addr = server.addr;
    let flood = tokio::spawn(async move {
        let mut client = h2_connection(addr).await;
        let mut sent = 0u32;
        for _ in 0..20_000 {
            client = match client.ready().await {
                Ok(c) => c,
                Err(_) => break, // the server closed the connection: contained
            };
            match client.send_request(create_request(addr, None), false) {
                Ok((_, mut body)) => {
                    body.send_reset(h2::Reason::CANCEL);
                    sent += 1;
                }
                Err(_) => break,
            }
        }
        sent
    });
    // Meanwhile, and after, another client is served.
    for i in 0..20 {
        let call = polite.create_customer(pb::CreateCustomerRequest {
            customer: Some(person(&format!("Polite {i}"), "")),
            request_id: String::new(),
        });
        let created = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .unwrap_or_else(|_| panic!("a polite call got no answer during the flood"));
        assert!(created.is_ok(), "{created:?}");
    }
    let sent = flood.await.unwrap_or_else(|e| panic!("{e}"));
    eprintln!("rapid reset: {sent} streams opened and reset");
    assert!(
        polite
            .list_customers(pb::ListCustomersRequest::default())
            .await
            .is_ok()
    );
}
