//! Stuck and greedy clients: requests whose bodies never finish hold no call slots, a
//! well-behaved client on another connection is served, memory stays bounded, and a flood of
//! connections at the descriptor limit does not spin the accept loop.

use std::time::{Duration, Instant};

use bytes::Bytes;
use crm_tests::*;

use super::{cpu_ticks, rss_bytes, within};

/// Opens `streams` CreateCustomer requests on a new HTTP/2 connection, each sending the first
/// bytes of a message and never the rest. Returns what keeps them open, and the responses.
async fn stuck_requests(
    addr: std::net::SocketAddr,
    streams: usize,
) -> (Vec<h2::SendStream<Bytes>>, Vec<h2::client::ResponseFuture>) {
    let mut client = h2_connection(addr).await;
    let mut bodies = Vec::new();
    let mut responses = Vec::new();
    for _ in 0..streams {
        client = client.ready().await.unwrap_or_else(|e| panic!("{e}"));
        let request = http::Request::post(format!(
            "http://{addr}/crm.v1.CustomerService/CreateCustomer"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap_or_else(|e| panic!("{e}"));
        let (response, mut body) = client
            .send_request(request, false)
            .unwrap_or_else(|e| panic!("{e}"));
        // A gRPC frame that announces 1,000 bytes, and 10 of them.
        let mut partial = vec![0u8, 0, 0, 0x03, 0xe8];
        partial.extend_from_slice(&[0x0a; 10]);
        body.send_data(Bytes::from(partial), false)
            .unwrap_or_else(|e| panic!("{e}"));
        bodies.push(body);
        responses.push(response);
    }
    (bodies, responses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stuck_request_bodies_hold_no_slots_and_a_polite_client_is_served() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &["--request-body-timeout-ms", "8000"]);
    let mut polite = connect(server.addr).await;
    create(&mut polite, person("Before", "")).await;
    let rss_before = rss_bytes(server.pid());

    // 1,100 requests that never finish, on 11 connections (100 streams each, under the
    // per-connection limit of 128): more than the server's 1,024 call slots.
    let opened = Instant::now();
    let mut held = Vec::new();
    for _ in 0..11 {
        held.push(stuck_requests(server.addr, 100).await);
    }
    eprintln!("1,100 stuck requests opened in {:?}", opened.elapsed());

    // A well-behaved client on another connection is answered, at once and repeatedly.
    for i in 0..20 {
        let call = polite.create_customer(pb::CreateCustomerRequest {
            customer: Some(person(&format!("Polite {i}"), "")),
            request_id: String::new(),
        });
        let created = within("CreateCustomer", Duration::from_secs(5), call).await;
        let created = created.unwrap_or_else(|s| panic!("a polite client was refused: {s:?}"));
        let id = created.into_inner().id;
        let got = within(
            "GetCustomer",
            Duration::from_secs(5),
            polite.get_customer(pb::GetCustomerRequest { id }),
        )
        .await;
        assert!(got.is_ok(), "{got:?}");
    }
    let rss_during = rss_bytes(server.pid());
    let grown = rss_during.saturating_sub(rss_before);
    eprintln!(
        "server RSS {} MiB before, {} MiB with 1,100 stuck requests",
        rss_before >> 20,
        rss_during >> 20
    );
    assert!(
        grown < 128 << 20,
        "1,100 stuck requests grew the server by {} MiB",
        grown >> 20
    );

    // The stuck requests are answered DEADLINE_EXCEEDED once their body time is up.
    let (_bodies, responses) = held.swap_remove(0);
    for response in responses.into_iter().take(5) {
        let answered = within("a stuck request", Duration::from_secs(20), response).await;
        let answered = answered.unwrap_or_else(|e| panic!("{e}"));
        let status = answered
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(status.as_deref(), Some("4"), "{:?}", answered.headers());
    }
    drop(held);
    let status = server.terminate_within(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_flood_at_the_descriptor_limit_pauses_the_accept_loop_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start_limited(dir.path(), 64, &[]);
    let mut polite = connect(server.addr).await;
    create(&mut polite, person("Before", "")).await;

    // More connections than the server has descriptors for, held open.
    let mut flood = Vec::new();
    for _ in 0..150 {
        if let Ok(conn) = tokio::net::TcpStream::connect(server.addr).await {
            flood.push(conn);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(server.pid());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(server.pid()) - before;
    eprintln!("at the descriptor limit: {used} clock ticks of CPU in 2 s");
    // A spinning accept loop burns a whole core: about 200 ticks in 2 s.
    assert!(
        used < 60,
        "the server used {used} ticks of CPU in 2 s while at its descriptor limit"
    );

    // The connection that was already open is still served; once the flood ends, new
    // connections are accepted again.
    let got = within(
        "CreateCustomer",
        Duration::from_secs(5),
        polite.create_customer(pb::CreateCustomerRequest {
            customer: Some(person("During", "")),
            request_id: String::new(),
        }),
    )
    .await;
    assert!(got.is_ok(), "{got:?}");
    drop(flood);
    let mut fresh = within("connecting", Duration::from_secs(10), connect(server.addr)).await;
    let got = within(
        "CreateCustomer",
        Duration::from_secs(5),
        fresh.create_customer(pb::CreateCustomerRequest {
            customer: Some(person("After", "")),
            request_id: String::new(),
        }),
    )
    .await;
    assert!(got.is_ok(), "{got:?}");
    let status = server.terminate_within(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}
