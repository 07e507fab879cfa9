//! Admission: a call of crm's services takes one of the server's call slots only once its whole
//! request has arrived, and only for as long as it is being served.
//!
//! A client that opens requests and never finishes their bodies would otherwise hold slots
//! while sending nothing, and with enough of them lock every other client out. Here:
//! - the body is read first, within `body_timeout` (DEADLINE_EXCEEDED, `REQUEST_BODY_TIMEOUT`,
//!   when it does not arrive in time) and up to the message limit (RESOURCE_EXHAUSTED beyond);
//! - then a slot is taken at once, or the call is refused with RESOURCE_EXHAUSTED
//!   (`TOO_MANY_CALLS`): calls never queue without bound;
//! - the slot is released when the handler answers (a streamed answer does not hold it).
//!
//! A method whose request is a stream (ImportCustomers, [`crate::services::STREAMED_REQUESTS`])
//! cannot be read first: it takes its slot at once, its messages are limited one by one
//! (tonic's message limit), and its handler stops a stream that goes quiet.
//!
//! A stuck body costs a stream on its own connection (bounded by the per-connection stream
//! limit) and the bytes it sent, never a slot. Calls to other services (health, reflection,
//! whose streams stay open by design) pass through untouched.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::Semaphore;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::status::DOMAIN;

type Body = tonic::body::Body;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Room above the message limit for the gRPC frame header (5 bytes): a body just over the
/// limit still reaches tonic, which answers it the usual way.
const FRAME_SLACK: usize = 1024;

/// The layer (see the module documentation).
#[derive(Clone, Debug)]
pub struct AdmissionLayer {
    slots: Arc<Semaphore>,
    capacity: usize,
    body_timeout: Duration,
    max_body_bytes: usize,
}

impl AdmissionLayer {
    /// `calls` slots over all connections; bodies within `body_timeout` and
    /// `max_message_bytes`.
    pub fn new(calls: usize, body_timeout: Duration, max_message_bytes: usize) -> Self {
        let capacity = calls.max(1);
        AdmissionLayer {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            body_timeout,
            max_body_bytes: max_message_bytes.saturating_add(FRAME_SLACK),
        }
    }
}

impl AdmissionLayer {
    /// RESOURCE_EXHAUSTED `TOO_MANY_CALLS`: every slot is taken.
    fn busy(&self) -> http::Response<Body> {
        metrics::counter!("crm_calls_refused_busy_total").increment(1);
        refusal(
            Code::ResourceExhausted,
            format!(
                "the server is serving its limit of {} calls; try again shortly",
                self.capacity
            ),
            "TOO_MANY_CALLS",
            HashMap::from([("limit".to_owned(), self.capacity.to_string())]),
        )
    }
}

impl<S> tower::Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            layer: self.clone(),
            inner,
        }
    }
}

/// [`AdmissionLayer`] around a service.
#[derive(Clone, Debug)]
pub struct Admission<S> {
    layer: AdmissionLayer,
    inner: S,
}

fn refusal(
    code: Code,
    message: String,
    reason: &str,
    about: HashMap<String, String>,
) -> http::Response<Body> {
    tonic::Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, about),
    )
    .into_http()
}

impl<S> tower::Service<http::Request<Body>> for Admission<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path();
        if crate::services::Method::of(path).is_none() {
            return Box::pin(self.inner.call(request));
        }
        let streamed = crate::services::method_of(path)
            .is_some_and(|m| crate::services::STREAMED_REQUESTS.contains(&m));
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        if streamed {
            return Box::pin(async move {
                let Ok(_slot) = Arc::clone(&layer.slots).try_acquire_owned() else {
                    return Ok(layer.busy());
                };
                inner.call(request).await
            });
        }
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let limited = Limited::new(body, layer.max_body_bytes);
            let bytes = match tokio::time::timeout(layer.body_timeout, limited.collect()).await {
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(e))
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    return Ok(refusal(
                        Code::ResourceExhausted,
                        format!(
                            "the request is larger than the server's limit of {} bytes",
                            layer.max_body_bytes - FRAME_SLACK
                        ),
                        "MESSAGE_TOO_LARGE",
                        HashMap::new(),
                    ));
                }
                Ok(Err(e)) => {
                    return Ok(refusal(
                        Code::Cancelled,
                        format!("the request's body could not be read: {e}"),
                        "REQUEST_BODY_FAILED",
                        HashMap::new(),
                    ));
                }
                Err(_) => {
                    metrics::counter!("crm_request_body_timeouts_total").increment(1);
                    return Ok(refusal(
                        Code::DeadlineExceeded,
                        format!(
                            "the request's body did not arrive within {} ms",
                            layer.body_timeout.as_millis()
                        ),
                        "REQUEST_BODY_TIMEOUT",
                        HashMap::new(),
                    ));
                }
            };
            let Ok(_slot) = Arc::clone(&layer.slots).try_acquire_owned() else {
                return Ok(layer.busy());
            };
            let request = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
            inner.call(request).await
        })
    }
}
