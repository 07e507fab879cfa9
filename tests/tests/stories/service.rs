//! The service as an operator and a tool see it: reflection, health, clean shutdown, and clear
//! failures at start-up.

use std::process::Command;

use crm_tests::*;
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reflection_v1_and_v1alpha_list_the_service_and_health_says_serving() {
    let server = TestServer::start().await;
    let channel = server.channel().await;

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no v1 reflection response")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"crm.v1.CustomerService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );

    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaRequest::FileContainingSymbol(
            "crm.v1.CustomerService".into(),
        )),
    };
    let mut responses = AlphaClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no v1alpha reflection response")
    };
    assert!(
        matches!(response.message_response, Some(AlphaResponse::FileDescriptorResponse(f)) if !f.file_descriptor_proto.is_empty())
    );

    let mut health = HealthClient::new(channel);
    for service in ["", "crm.v1.CustomerService"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[test]
fn sigterm_finishes_cleanly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &["--durability", "relaxed"]);
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let created = runtime.block_on(async {
        let mut client = connect(server.addr).await;
        create(&mut client, person("Flushed on exit", "")).await
    });
    assert!(server.terminate().success());
    // Even in relaxed mode, a clean shutdown flushed the write.
    let store = open_store(dir.path());
    let id = created.id.parse().unwrap_or_else(|e| panic!("{e}"));
    assert!(store.customers().get(id).is_ok());
}

#[test]
fn a_data_directory_in_use_or_unusable_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = ServerProcess::start(dir.path(), &[]);
    let second = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(first.terminate().success());

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap_or_else(|e| panic!("{e}"));
    let bad = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("cannot open the data directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_metrics_count_calls_by_method_and_code() {
    let metrics_addr = free_loopback_addr();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &["--metrics-listen", &metrics_addr]);
    let mut client = connect(server.addr).await;
    create(&mut client, person("Counted", "")).await;
    let missing = client
        .get_customer(pb::GetCustomerRequest {
            id: "00000000000000ff".into(),
        })
        .await;
    assert!(missing.is_err());

    let body = scrape_metrics(&metrics_addr);
    assert!(
        body.contains(r#"crm_rpc_calls_total{method="CreateCustomer",code="Ok"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"crm_rpc_calls_total{method="GetCustomer",code="NotFound"} 1"#),
        "{body}"
    );
    assert!(body.contains("crm_rpc_duration_seconds"), "{body}");
    assert!(body.contains("crm_flush_duration_seconds"), "{body}");
    assert!(server.terminate().success());
}
