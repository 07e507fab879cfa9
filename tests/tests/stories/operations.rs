//! What an operator reads in the log and the metrics of the real binary: who was refused and
//! why, a key that a server without authentication ignores, the request id a call's log line
//! and its audit event share, a TLS handshake that failed, and the cache the server chose.

use std::path::Path;
use std::process::Command;

use crm_grpc::pb;
use crm_tests::*;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn keys_create(dir: &Path, name: &str, role: &str) -> String {
    let made = Command::new(server_binary())
        .args(["keys", "create", "--create", "--name", name, "--role", role])
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    String::from_utf8_lossy(&made.stdout).trim().to_owned()
}

/// The log, once `wanted` has appeared in it (the server writes it after answering).
fn log_with(server: &ServerProcess, wanted: &str) -> String {
    for _ in 0..100 {
        let log = server.log();
        if log.contains(wanted) {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the log never said {wanted:?}:\n{}", server.log());
}

#[tokio::test]
async fn the_startup_line_names_the_cache_an_eighth_of_memory_unless_told() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let chosen = crm_store::config::memory::default_cache_bytes() >> 20;
    let server = ServerProcess::start(dir.path(), &[]);
    let log = log_with(&server, "MiB cache");
    assert!(log.contains(&format!(" {chosen} MiB cache)")), "{log}");
    assert!(server.terminate().success());

    let server = ServerProcess::start(dir.path(), &["--cache-mb", "96"]);
    let log = log_with(&server, "MiB cache");
    assert!(log.contains(" 96 MiB cache)"), "{log}");
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_are_logged_with_the_peer_and_counted_by_method_and_code() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let reader = keys_create(dir.path(), "dashboard", "reader");
    let ops = keys_create(dir.path(), "ops", "admin");
    let metrics = free_loopback_addr();
    let server = ServerProcess::start(
        dir.path(),
        &["--auth", "required", "--metrics-listen", &metrics],
    );
    let mut client = connect(server.addr).await;

    let anonymous = client
        .get_customer(pb::GetCustomerRequest {
            id: "00000000000000ff".into(),
        })
        .await;
    assert_eq!(code_of(anonymous), tonic::Code::Unauthenticated);
    let too_low = client
        .create_customer(with_key(
            pb::CreateCustomerRequest {
                customer: Some(person("Not", "allowed@example.com")),
                request_id: String::new(),
            },
            &reader,
        ))
        .await;
    assert_eq!(code_of(too_low), tonic::Code::PermissionDenied);

    let log = log_with(&server, "code=PermissionDenied");
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("call refused")).collect();
    assert_eq!(refused.len(), 2, "{log}");
    assert!(refused[0].contains(r#"method="GetCustomer""#), "{log}");
    assert!(refused[0].contains("code=Unauthenticated"), "{log}");
    assert!(refused[0].contains(r#"peer="127.0.0.1:"#), "{log}");
    // The message as the client read it, not percent-encoded.
    assert!(
        refused[0].contains("missing API key: send the header"),
        "{log}"
    );
    assert!(
        refused[1].contains(r#"key "dashboard" has the reader role"#),
        "{log}"
    );

    let body = scrape_metrics(&metrics);
    assert!(
        body.contains(r#"crm_rpc_calls_total{method="GetCustomer",code="Unauthenticated"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"crm_rpc_calls_total{method="CreateCustomer",code="PermissionDenied"} 1"#),
        "{body}"
    );

    // The same reading over the API (the console's operations page), for admins only.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut admin = pb::admin_service_client::AdminServiceClient::new(channel);
    let as_reader = admin
        .get_server_metrics(with_key(pb::GetServerMetricsRequest {}, &reader))
        .await;
    assert_eq!(code_of(as_reader), tonic::Code::PermissionDenied);
    let reading = admin
        .get_server_metrics(with_key(pb::GetServerMetricsRequest {}, &ops))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert!(reading.time.is_some());
    assert!(
        reading
            .prometheus_text
            .contains(r#"crm_rpc_calls_total{method="GetCustomer",code="Unauthenticated"} 1"#),
        "{}",
        reading.prometheus_text
    );
    assert!(server.terminate().success());
}

#[tokio::test]
async fn a_library_embedding_without_a_metrics_recorder_is_told_so() {
    let server = TestServer::start().await;
    let mut admin = pb::admin_service_client::AdminServiceClient::new(server.channel().await);
    let refused = admin
        .get_server_metrics(pb::GetServerMetricsRequest {})
        .await;
    let Err(status) = refused else {
        panic!("metrics without a recorder: {refused:?}");
    };
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&status), "NO_METRICS_RECORDER");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_sent_to_a_server_that_checks_none_is_warned_about_once_per_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ops = keys_create(dir.path(), "ops", "admin");
    // On loopback without --auth, keys are not checked.
    let server = ServerProcess::start(dir.path(), &[]);
    let mut client = connect(server.addr).await;
    for key in [ops.as_str(), ops.as_str(), "crm_made_up", "crm_made_up"] {
        let listed = client
            .list_customers(with_key(pb::ListCustomersRequest::default(), key))
            .await;
        assert!(listed.is_ok(), "the call is served, as an anonymous admin");
    }
    let unkeyed = client
        .list_customers(pb::ListCustomersRequest::default())
        .await;
    assert!(unkeyed.is_ok());

    let log = log_with(&server, "a key this server does not know");
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("authentication is disabled"))
        .collect();
    assert_eq!(warnings.len(), 2, "one warning per key:\n{log}");
    assert!(warnings[0].contains(r#"key "ops""#), "{log}");
    assert!(!log.contains(&ops), "the secret is never logged");
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_log_line_names_the_request_id_its_audit_event_records() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start_logging(dir.path(), "info,crm_grpc=debug", &[]);
    let mut client = connect(server.addr).await;

    // The id in the body, no header: the log says the body's id.
    let created = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(person("Idempotent", "idem@example.com")),
            request_id: "import-42".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    let log = log_with(&server, r#"method="CreateCustomer" request_id="import-42""#);
    assert!(!log.contains(r#"request_id="""#), "{log}");
    let trail = client_admin(server.addr)
        .await
        .list_audit_events(pb::ListAuditEventsRequest {
            customer_id: created.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(trail.events.len(), 1);
    assert_eq!(trail.events[0].request_id, "import-42");

    // The x-request-id header, for a call without an id of its own.
    let mut request = tonic::Request::new(pb::GetCustomerRequest { id: created.id });
    request.metadata_mut().insert(
        "x-request-id",
        "dashboard-7".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(client.get_customer(request).await.is_ok());
    log_with(&server, r#"method="GetCustomer" request_id="dashboard-7""#);
    assert!(server.terminate().success());
}

async fn client_admin(
    addr: std::net::SocketAddr,
) -> pb::admin_service_client::AdminServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pb::admin_service_client::AdminServiceClient::new(channel)
}

async fn tls_call(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    pb::customer_service_client::CustomerServiceClient::new(channel)
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_server_certs_serve_mutual_tls_and_a_failed_handshake_is_logged() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let certs = dir.path().join("certs");
    let made = Command::new(server_binary())
        .args([
            "certs",
            "--name",
            "localhost",
            "--client",
            "shop-sync",
            "--out",
        ])
        .arg(&certs)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let read = |name: &str| {
        std::fs::read_to_string(certs.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let (ca, client_cert, client_key) =
        (read("ca.pem"), read("shop-sync.pem"), read("shop-sync.key"));
    // Never overwritten: a second run into the same directory is refused.
    let again = Command::new(server_binary())
        .args(["certs", "--out"])
        .arg(&certs)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!again.status.success());
    assert_eq!(read("ca.pem"), ca);

    let data = dir.path().join("data");
    let (cert_path, key_path, ca_path) = (
        certs.join("server.pem"),
        certs.join("server.key"),
        certs.join("ca.pem"),
    );
    let server = ServerProcess::start(
        &data,
        &[
            "--tls-cert",
            &cert_path.to_string_lossy(),
            "--tls-key",
            &key_path.to_string_lossy(),
            "--tls-client-ca",
            &ca_path.to_string_lossy(),
        ],
    );
    tls_call(server.addr, &ca, Some((&client_cert, &client_key)))
        .await
        .unwrap_or_else(|e| panic!("the client certificate is accepted: {e}"));
    assert!(
        !server.log().contains("TLS handshake failed"),
        "an accepted handshake logs no failure:\n{}",
        server.log()
    );

    // Without a client certificate: refused, and the log says who and why.
    assert!(tls_call(server.addr, &ca, None).await.is_err());
    let log = log_with(&server, "TLS handshake failed");
    let line = log
        .lines()
        .find(|l| l.contains("TLS handshake failed"))
        .unwrap_or_default();
    assert!(line.contains(r#"peer="127.0.0.1:"#), "{line}");
    assert!(line.contains("no certificates"), "{line}");

    // A certificate from the CA but for a server, not a client: refused, and logged.
    let server_cert = read("server.pem");
    let server_key = read("server.key");
    let refused = tls_call(server.addr, &ca, Some((&server_cert, &server_key))).await;
    assert!(refused.is_err());
    let log = log_with(&server, "extended key usage for client authentication");
    // The client may try more than once; every attempt is its own line, with its
    // peer and one of the two reasons, and nothing else failed.
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("TLS handshake failed"))
        .collect();
    assert!(failures.len() >= 2, "{log}");
    for line in failures {
        assert!(line.contains(r#"peer="127.0.0.1:"#), "{line}");
        assert!(
            line.contains("no certificates")
                || line.contains("extended key usage for client authentication"),
            "{line}"
        );
    }
    assert!(server.terminate().success());
}
