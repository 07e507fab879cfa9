//! Every RPC runs through [`observe`]: a tracing span (method, request id), a log line with the
//! outcome and latency, and the metrics `crm_rpc_calls_total` and `crm_rpc_duration_seconds` by
//! method and code.

use std::future::Future;
use std::time::Instant;

use tonic::{Request, Response, Status};
use tracing::Instrument;

/// The request id of a call: the `x-request-id` header, when the client sent one.
pub fn request_id<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(128).collect())
}

/// Runs one RPC's handler inside its span and records its outcome.
pub async fn observe<T>(
    method: &'static str,
    request_id: Option<&str>,
    handler: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<Response<T>, Status> {
    let span = tracing::info_span!("rpc", method, request_id = request_id.unwrap_or(""));
    let started = Instant::now();
    let result = handler.instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let code = match &result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    let code_name = format!("{code:?}");
    metrics::counter!("crm_rpc_calls_total", "method" => method, "code" => code_name.clone())
        .increment(1);
    metrics::histogram!("crm_rpc_duration_seconds", "method" => method, "code" => code_name.clone())
        .record(elapsed.as_secs_f64());
    span.in_scope(|| match &result {
        Err(status) if matches!(code, tonic::Code::Internal | tonic::Code::DataLoss | tonic::Code::Unavailable) => {
            tracing::error!(code = %code_name, latency_us = elapsed.as_micros() as u64, message = status.message(), "call failed");
        }
        Err(status) => {
            tracing::info!(code = %code_name, latency_us = elapsed.as_micros() as u64, message = status.message(), "call refused");
        }
        Ok(_) => tracing::debug!(code = "Ok", latency_us = elapsed.as_micros() as u64, "call done"),
    });
    result
}
