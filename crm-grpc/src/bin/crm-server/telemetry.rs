//! Logging to stderr (`RUST_LOG`, default `info`) and, with `--otlp-endpoint`, the same spans
//! exported as OpenTelemetry traces over OTLP/gRPC: each call's `rpc` span (method, request id)
//! and what it logs. Off by default. The exporter runs on a small runtime of its own, so
//! telemetry never competes with the server's for a worker, and spans are batched; the batch
//! still queued is sent when the process ends cleanly.

use std::io::IsTerminal;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the exporter alive; dropping it sends the spans still queued.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Installs the log (and the OTLP exporter when `otlp_endpoint` is given, such as
/// `http://127.0.0.1:4317`).
pub fn init(otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,fjall=warn,lsm_tree=warn"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let Some(endpoint) = otlp_endpoint else {
        tracing_subscriber::registry().with(filter).with(log).init();
        return Ok(Telemetry {
            provider: None,
            runtime: None,
        });
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("crm-otlp")
        .enable_all()
        .build()
        .context("cannot start the OTLP exporter's runtime")?;
    let exporter = runtime
        .block_on(async {
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
        })
        .with_context(|| format!("--otlp-endpoint {endpoint}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("crm-server").build())
        .build();
    let tracer = provider.tracer("crm-server");
    tracing_subscriber::registry()
        .with(filter)
        .with(log)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .init();
    tracing::info!("exporting traces to {endpoint} (OTLP/gRPC)");
    Ok(Telemetry {
        provider: Some(provider),
        runtime: Some(runtime),
    })
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("crm-server: the last traces were not exported: {e}");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Installs the process's metrics recorder and returns its handle. It is always installed:
/// AdminService.GetServerMetrics (the console's operations page) reads it; with `listen`
/// it is also served over HTTP at `/metrics`. Summaries drain their samples every few seconds.
pub fn install_metrics(
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
    let recorder = match listen {
        Some(addr) => {
            // build() also starts the recorder's upkeep.
            let (recorder, exporter) = builder
                .with_http_listener(addr)
                .build()
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            tokio::spawn(exporter);
            tracing::info!("metrics on http://{addr}/metrics");
            recorder
        }
        None => {
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    handle.run_upkeep();
                }
            });
            recorder
        }
    };
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("cannot install the metrics recorder")?;
    Ok(handle)
}
