//! Only who holds a key gets in, each only as far as their role; revocation is immediate; every
//! change is audited with the key's name; TLS and mutual TLS work; limits hold.

use std::process::Command;

use crm_grpc::auth::AuthMode;
use crm_grpc::keys::{KeyRing, Role};
use crm_grpc::server::TlsPem;
use crm_tests::*;
use pb::admin_service_client::AdminServiceClient;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn get(id: &str) -> pb::GetCustomerRequest {
    pb::GetCustomerRequest { id: id.into() }
}

fn new_customer(name: &str) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        customer: Some(person(name, "")),
        request_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_and_roles_decide_who_may_do_what_and_revocation_is_immediate() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ring = KeyRing::new(dir.path());
    let reader = ring
        .create("dashboard", Role::Reader)
        .unwrap_or_else(|e| panic!("{e}"));
    let writer = ring
        .create("shop-sync", Role::Writer)
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = ring
        .create("ops", Role::Admin)
        .unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start_with(dir, |c| c.auth = AuthMode::Required).await;
    let mut client = server.client().await;
    let mut admin_client = AdminServiceClient::new(server.channel().await);

    // No key, a wrong key, a malformed header: UNAUTHENTICATED.
    assert_eq!(
        code_of(client.get_customer(get("0000000000000001")).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code_of(
            client
                .get_customer(with_key(get("0000000000000001"), "crm_nope"))
                .await
        ),
        Code::Unauthenticated
    );
    let mut basic = tonic::Request::new(get("0000000000000001"));
    basic
        .metadata_mut()
        .insert("authorization", MetadataValue::from_static("Basic abc"));
    assert_eq!(
        code_of(client.get_customer(basic).await),
        Code::Unauthenticated
    );

    // The writer writes; the reader reads but may not write; neither may administer.
    let created = client
        .create_customer(with_key(new_customer("Ada"), &writer))
        .await;
    let created = created.unwrap_or_else(|s| panic!("{s:?}")).into_inner();
    let read = client
        .get_customer(with_key(get(&created.id), &reader))
        .await;
    assert_eq!(
        read.map(|r| r.into_inner().id).ok(),
        Some(created.id.clone())
    );
    let denied = client
        .create_customer(with_key(new_customer("Eve"), &reader))
        .await;
    let status = denied.err().unwrap_or_else(|| panic!("a reader wrote"));
    assert_eq!(
        (status.code(), reason(&status)),
        (Code::PermissionDenied, "ROLE_TOO_LOW".into())
    );
    let audit = pb::ListAuditEventsRequest::default();
    assert_eq!(
        code_of(
            admin_client
                .list_audit_events(with_key(audit.clone(), &writer))
                .await
        ),
        Code::PermissionDenied
    );

    // The admin sees who did what, by key name.
    let events = admin_client
        .list_audit_events(with_key(audit.clone(), &admin))
        .await;
    let events = events
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .events;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].actor.as_str(), events[0].operation.as_str()),
        ("shop-sync", "CreateCustomer")
    );
    assert_eq!(events[0].customer_id, created.id);
    assert_eq!(events[0].subject, format!("customer {}", created.id));

    // Configuration changes have their trail too: a segment saved by the writer.
    let mut segments =
        pb::segment_service_client::SegmentServiceClient::new(server.channel().await);
    let segment = pb::CreateSegmentRequest {
        segment: Some(pb::Segment {
            name: "VIPs".into(),
            filter: r#"tags:"vip""#.into(),
            ..Default::default()
        }),
    };
    let saved = segments
        .create_segment(with_key(segment, &writer))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let configuration = pb::ListAuditEventsRequest {
        configuration: true,
        ..Default::default()
    };
    let changes = admin_client
        .list_audit_events(with_key(configuration, &admin))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .events;
    let seen: Vec<(&str, &str, &str, &str)> = changes
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.operation.as_str(),
                e.subject.as_str(),
                e.customer_id.as_str(),
            )
        })
        .collect();
    let subject = format!("segment {}", saved.id);
    assert_eq!(seen, [("shop-sync", "CreateSegment", subject.as_str(), "")]);
    assert_eq!(changes[0].fields, ["name", "filter"]);
    let report = admin_client
        .verify_store(with_key(pb::VerifyStoreRequest {}, &admin))
        .await;
    assert!(report.is_ok_and(|r| r.into_inner().clean));

    // Keys made over the API work at once; revoking (here, as the CLI does, from another
    // handle on the file) shuts the door at once for the running server.
    let made = admin_client
        .create_api_key(with_key(
            pb::CreateApiKeyRequest {
                name: "temp".into(),
                role: pb::Role::Reader as i32,
            },
            &admin,
        ))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert!(
        client
            .get_customer(with_key(get(&created.id), &made.secret))
            .await
            .is_ok()
    );
    KeyRing::new(server.data_dir())
        .revoke("temp")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        code_of(
            client
                .get_customer(with_key(get(&created.id), &made.secret))
                .await
        ),
        Code::Unauthenticated
    );
    let duplicate = admin_client
        .create_api_key(with_key(
            pb::CreateApiKeyRequest {
                name: "ops".into(),
                role: pb::Role::Admin as i32,
            },
            &admin,
        ))
        .await;
    assert_eq!(code_of(duplicate), Code::AlreadyExists);
    let listed = admin_client
        .list_api_keys(with_key(pb::ListApiKeysRequest {}, &admin))
        .await;
    let listed = listed.unwrap_or_else(|s| panic!("{s:?}")).into_inner().keys;
    assert_eq!(listed.len(), 4);
    assert!(
        listed
            .iter()
            .any(|k| k.name == "temp" && k.revoke_time.is_some())
    );

    // Health needs no key.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    assert!(
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new()
            })
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_requires_keys_off_loopback_and_refuses_to_run_open_there() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let refused = Command::new(server_binary())
        .args(["--listen", "0.0.0.0:0", "--auth", "disabled", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refusing --auth disabled"));

    // Keys made before the first start: the directory holds no crm data yet, which is refused
    // (a mistyped --data-dir would otherwise be created) unless --create says it is meant.
    let keys_create = |extra: &[&str]| {
        Command::new(server_binary())
            .args(["keys", "create", "--name", "ci", "--role", "writer"])
            .args(extra)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let unsure = keys_create(&[]);
    assert!(!unsure.status.success());
    assert!(String::from_utf8_lossy(&unsure.stderr).contains("holds no crm data"));
    let made = keys_create(&["--create"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key = String::from_utf8_lossy(&made.stdout).trim().to_owned();
    assert!(key.starts_with("crm_"));

    // Bound on every interface, so keys are required by default; the test calls over loopback.
    let server = ServerProcess::start_at(dir.path(), "0.0.0.0:0", &[]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    let mut client = connect(addr).await;
    assert_eq!(
        code_of(client.create_customer(new_customer("Anon")).await),
        Code::Unauthenticated
    );
    assert!(
        client
            .create_customer(with_key(new_customer("Keyed"), &key))
            .await
            .is_ok()
    );

    let revoked = Command::new(server_binary())
        .args(["keys", "revoke", "--name", "ci", "--data-dir"])
        .arg(dir.path())
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(revoked.success());
    assert_eq!(
        code_of(
            client
                .create_customer(with_key(new_customer("Late"), &key))
                .await
        ),
        Code::Unauthenticated
    );
    let listed = Command::new(server_binary())
        .args(["keys", "list", "--data-dir"])
        .arg(dir.path())
        .output();
    let listed = listed.unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("ci\twriter") && text.contains("revoked"),
        "{text}"
    );
    assert!(!text.contains(&key), "secrets are never listed");
    assert!(server.terminate().success());
}

struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Result<Pki, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let server_key = KeyPair::generate()?;
    let server_cert =
        CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&server_key, &ca)?;
    let client_key = KeyPair::generate()?;
    let client_cert =
        CertificateParams::new(vec!["client".to_owned()])?.signed_by(&client_key, &ca)?;
    Ok(Pki {
        ca: ca.pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
    })
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    pki: &Pki,
    with_identity: bool,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    if with_identity {
        tls = tls.identity(Identity::from_pem(&pki.client_cert, &pki.client_key));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .tls_config(tls)?
        .connect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_and_mutual_tls_protect_the_connection() {
    let pki = pki().unwrap_or_else(|e| panic!("{e}"));
    let tls = TlsPem {
        cert: pki.server_cert.clone().into_bytes(),
        key: pki.server_key.clone().into_bytes(),
        client_ca: Some(pki.ca.clone().into_bytes()),
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start_with(dir, |c| c.tls = Some(tls)).await;

    // With a client certificate from the CA: served.
    let channel = tls_channel(server.addr, &pki, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut client = pb::customer_service_client::CustomerServiceClient::new(channel);
    assert!(
        client
            .create_customer(new_customer("Over TLS"))
            .await
            .is_ok()
    );

    // Without one, or in plaintext: no service.
    let anonymous = match tls_channel(server.addr, &pki, false).await {
        Err(_) => true,
        Ok(channel) => pb::customer_service_client::CustomerServiceClient::new(channel)
            .list_customers(pb::ListCustomersRequest::default())
            .await
            .is_err(),
    };
    assert!(anonymous, "a client without a certificate was served");
    let mut plain = pb::customer_service_client::CustomerServiceClient::new(
        Channel::from_shared(format!("http://{}", server.addr))
            .unwrap_or_else(|e| panic!("{e}"))
            .connect_lazy(),
    );
    assert!(
        plain
            .list_customers(pb::ListCustomersRequest::default())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_messages_floods_and_deadlines_are_bounded() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start_with(dir, |c| {
        c.max_message_bytes = 64 * 1024;
        c.max_concurrent_calls = 2;
    })
    .await;
    let mut client = server.client().await;

    // A message over the limit: RESOURCE_EXHAUSTED, nothing written.
    let mut huge = person("Huge", "");
    huge.display_name = "x".repeat(100 * 1024);
    let result = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(huge),
            request_id: String::new(),
        })
        .await;
    assert_eq!(code_of(result), Code::ResourceExhausted);

    for i in 0..600 {
        create(&mut client, person(&format!("Person {i}"), "")).await;
    }
    // A flood of heavy calls beyond the concurrency limit: some are refused at once with
    // RESOURCE_EXHAUSTED, the rest are served; nothing else happens.
    let mut calls = Vec::new();
    for _ in 0..64 {
        let mut c = client.clone();
        calls.push(tokio::spawn(async move {
            c.list_customers(pb::ListCustomersRequest {
                page_size: 600,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().customers.len())
        }));
    }
    let (mut served, mut refused) = (0, 0);
    for call in calls {
        match call.await.unwrap_or_else(|e| panic!("{e}")) {
            Ok(600) => served += 1,
            Err(s) if s.code() == Code::ResourceExhausted => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        served > 0 && refused > 0,
        "served {served}, refused {refused}"
    );

    // A deadline the call cannot meet ends it; the server goes on serving.
    let mut late = tonic::Request::new(pb::ListCustomersRequest {
        page_size: 600,
        ..Default::default()
    });
    late.set_timeout(std::time::Duration::from_micros(1));
    let code = code_of(client.list_customers(late).await);
    assert!(
        matches!(code, Code::Cancelled | Code::DeadlineExceeded),
        "{code:?}"
    );
    assert!(
        client
            .list_customers(pb::ListCustomersRequest::default())
            .await
            .is_ok()
    );
}
