//! With `--otlp-endpoint`, each call's span reaches an OpenTelemetry collector: the test runs
//! one (the OTLP/gRPC trace service, from opentelemetry-proto) and reads what the real binary
//! sends it.

use crm_grpc::pb;
use crm_tests::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::sync::mpsc;

struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_calls_span_reaches_the_collector_with_its_method_and_request_id() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let collector_addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (sent, mut received) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(sent)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let endpoint = format!("http://{collector_addr}");
    let server = ServerProcess::start(dir.path(), &["--otlp-endpoint", &endpoint]);
    let mut client = connect(server.addr).await;
    let created = client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(person("Traced", "traced@example.com")),
            request_id: "otel-1".into(),
        })
        .await;
    assert!(created.is_ok());
    // A clean stop sends the spans still queued (waited for off the runtime, which serves the
    // collector meanwhile).
    let stopped = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stopped.success());

    let mut spans = Vec::new();
    let mut services = Vec::new();
    while let Ok(export) = received.try_recv() {
        for resource_spans in export.resource_spans {
            if let Some(resource) = &resource_spans.resource {
                services.extend(text(&resource.attributes, "service.name"));
            }
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    assert!(
        services.iter().all(|s| s == "crm-server") && !services.is_empty(),
        "{services:?}"
    );
    let call = spans
        .iter()
        .find(|s| {
            s.name == "rpc" && text(&s.attributes, "method").as_deref() == Some("CreateCustomer")
        })
        .unwrap_or_else(|| {
            panic!(
                "no rpc span for CreateCustomer among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        text(&call.attributes, "request_id").as_deref(),
        Some("otel-1")
    );
    assert!(call.end_time_unix_nano >= call.start_time_unix_nano);
}
