//! A browser's view: gRPC-Web requests over HTTP/1.1 on the server's own port, framed as the
//! grpc-web JavaScript client frames them, and the CORS answer a page of another origin gets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crm_grpc::pb;
use crm_tests::*;
use prost::Message;

/// An HTTP/1.1 request on a new connection; the raw response (headers and decoded body).
fn http(addr: SocketAddr, request_head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "{request_head}Host: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers: {}", String::from_utf8_lossy(&raw)));
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (headers, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16)
            .unwrap_or_else(|e| panic!("bad chunk size: {e}"));
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// A gRPC-Web call: one length-prefixed message in, the frames out (messages, then the
/// status: from the trailer frame, or from the headers of a trailers-only answer).
fn grpc_web<M: Message>(addr: SocketAddr, method: &str, message: &M) -> (Vec<Vec<u8>>, String) {
    let encoded = message.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(encoded.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&encoded);
    let (headers, mut rest) = http(
        addr,
        &format!(
            "POST /crm.v1.{method} HTTP/1.1\r\nContent-Type: application/grpc-web+proto\r\n\
             X-Grpc-Web: 1\r\nAccept: application/grpc-web+proto\r\n"
        ),
        &body,
    );
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("content-type: application/grpc-web+proto"),
        "{headers}"
    );
    let (mut messages, mut trailers) = (Vec::new(), String::new());
    if headers.contains("\r\ngrpc-status:") {
        trailers = headers.replace(": ", ":");
    }
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let frame = rest[5..5 + len].to_vec();
        if flag & 0x80 != 0 {
            trailers = String::from_utf8_lossy(&frame).to_lowercase();
        } else {
            messages.push(frame);
        }
        rest.drain(..5 + len);
    }
    (messages, trailers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_page_creates_and_reads_a_customer_with_grpc_web() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let created = tokio::task::spawn_blocking(move || {
        let (messages, trailers) = grpc_web(
            addr,
            "CustomerService/CreateCustomer",
            &pb::CreateCustomerRequest {
                customer: Some(person("Web", "Web@Example.com")),
                request_id: String::new(),
            },
        );
        assert!(trailers.contains("grpc-status:0"), "{trailers}");
        assert_eq!(messages.len(), 1);
        pb::Customer::decode(messages[0].as_slice()).unwrap_or_else(|e| panic!("{e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.emails[0].address, "web@example.com");

    // The same customer over HTTP/2 gRPC: one store behind both.
    let mut client = server.client().await;
    let read = client
        .get_customer(pb::GetCustomerRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(read.display_name, created.display_name);

    // Bad input: the status and the field violation reach the page.
    let (messages, trailers) = tokio::task::spawn_blocking(move || {
        grpc_web(
            addr,
            "CustomerService/CreateCustomer",
            &pb::CreateCustomerRequest {
                customer: Some(person("Bad", "not-an-email")),
                request_id: String::new(),
            },
        )
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(messages.is_empty());
    assert!(trailers.contains("grpc-status:3"), "{trailers}");
    assert!(trailers.contains("grpc-status-details-bin:"), "{trailers}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_configured_origins_get_cors_for_grpc_web() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start_with(dir, |c| {
        c.cors_origins = vec!["https://console.example.com".into()];
    })
    .await;
    let addr = server.addr;
    let preflight = move |origin: &'static str| {
        http(
            addr,
            &format!(
                "OPTIONS /crm.v1.CustomerService/ListCustomers HTTP/1.1\r\nOrigin: {origin}\r\n\
                 Access-Control-Request-Method: POST\r\n\
                 Access-Control-Request-Headers: content-type,x-grpc-web,authorization\r\n"
            ),
            b"",
        )
        .0
    };
    let (allowed, other) = tokio::task::spawn_blocking(move || {
        (
            preflight("https://console.example.com"),
            preflight("https://evil.example"),
        )
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        allowed.contains("access-control-allow-origin: https://console.example.com"),
        "{allowed}"
    );
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(!other.contains("access-control-allow-origin"), "{other}");
    server.stop().await;
}
