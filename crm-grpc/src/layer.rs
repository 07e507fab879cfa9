//! The one layer every call of crm's services goes through: authentication, the role the
//! method needs, the request id, and the call's span, log line and metrics. Handlers read who
//! is calling from [`Call::of`] and never repeat any of it.
//!
//! - The method comes from the path (`/crm.v1.CustomerService/GetCustomer`); calls to other
//!   services (health, reflection) pass through untouched.
//! - The caller comes from `authorization: Bearer KEY` (UNAUTHENTICATED without a valid key,
//!   unless authentication is disabled); a role below the method's is PERMISSION_DENIED
//!   ([`crate::services::required_role`] is the role table).
//! - The request id is the `x-request-id` header, when the client sent one.
//! - A call still running when the client's deadline (`grpc-timeout`) passes is answered
//!   DEADLINE_EXCEEDED (tonic's own timeout would say CANCELLED).
//! - Metrics: `crm_rpc_calls_total` and `crm_rpc_duration_seconds` by method and code.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::Instrument;

use crate::auth::AuthMode;
use crate::keys::{KeyRing, Role};
use crate::status::DOMAIN;

/// Who is calling, as the layer established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's name (the actor in the audit trail), or `anonymous`.
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// Whether the caller sees personal data whole (otherwise masked).
    pub personal_data: bool,
    /// The system the caller says its writes come from (the `x-crm-origin` header), stored
    /// with each write's change-log event.
    pub origin: Option<String>,
}

/// What a handler knows about its call: the caller and the request id.
#[derive(Clone, Debug)]
pub struct Call {
    /// Who is calling.
    pub caller: Caller,
    /// The `x-request-id` header, when the client sent one.
    pub request_id: Option<String>,
}

impl Call {
    /// What the caller may see of personal data.
    pub fn sight(&self) -> crate::convert::Sight {
        if self.caller.personal_data {
            crate::convert::Sight::Whole
        } else {
            crate::convert::Sight::Masked
        }
    }

    /// What the caller of `request` may see of personal data (masked when unknown).
    pub fn sight_of<T>(request: &Request<T>) -> crate::convert::Sight {
        Call::of(request).map_or(crate::convert::Sight::Masked, |c| c.sight())
    }

    /// The call of a request that came through [`CallLayer`].
    pub fn of<T>(request: &Request<T>) -> Result<Call, Status> {
        request
            .extensions()
            .get::<Call>()
            .cloned()
            .ok_or_else(|| unauthenticated("not authenticated"))
    }
}

fn unauthenticated(message: &str) -> Status {
    Status::with_error_details(
        Code::Unauthenticated,
        message,
        ErrorDetails::with_error_info("UNAUTHENTICATED", DOMAIN, HashMap::new()),
    )
}

fn role_too_low(caller: &Caller, role: Role) -> Status {
    Status::with_error_details(
        Code::PermissionDenied,
        format!(
            "key {:?} has the {} role; this call needs {}",
            caller.name,
            caller.role.name(),
            role.name()
        ),
        ErrorDetails::with_error_info(
            "ROLE_TOO_LOW",
            DOMAIN,
            HashMap::from([
                ("role".to_owned(), caller.role.name().to_owned()),
                ("required_role".to_owned(), role.name().to_owned()),
            ]),
        ),
    )
}

/// The `x-crm-origin` header, checked: INVALID_ARGUMENT naming the header when it is not
/// 1 to 128 printable ASCII characters.
fn origin_of(headers: &http::HeaderMap) -> Result<Option<String>, Status> {
    let Some(value) = headers.get("x-crm-origin") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("\u{fffd}");
    crm_store::audit::check_source(text)
        .map_err(|why| crate::status::invalid(crm_core::Violations::one("x-crm-origin", why)))?;
    Ok(Some(text.to_owned()))
}

/// The layer (see the module documentation).
#[derive(Clone, Debug)]
pub struct CallLayer {
    mode: AuthMode,
    ring: Arc<KeyRing>,
}

impl CallLayer {
    /// Authenticates with `ring` when `mode` is [`AuthMode::Required`].
    pub fn new(mode: AuthMode, ring: Arc<KeyRing>) -> Self {
        CallLayer { mode, ring }
    }

    fn caller(&self, headers: &http::HeaderMap) -> Result<Caller, Status> {
        if self.mode == AuthMode::Disabled {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Admin,
                personal_data: true,
                origin: None,
            });
        }
        let header = headers.get("authorization").ok_or_else(|| {
            unauthenticated("missing API key: send the header 'authorization: Bearer KEY'")
        })?;
        let value = header
            .to_str()
            .map_err(|_| unauthenticated("the authorization header is not text"))?;
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("the authorization header must be 'Bearer KEY'"))?
            .trim();
        match self.ring.authenticate(secret) {
            Ok(Some(key)) => Ok(Caller {
                personal_data: key.sees_personal_data(),
                name: key.name,
                role: key.role,
                origin: None,
            }),
            Ok(None) => Err(unauthenticated("unknown or revoked API key")),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the API keys");
                Err(Status::internal("cannot read the API keys"))
            }
        }
    }

    /// The call, or why it is refused, for a method that needs `role`.
    fn admit(&self, headers: &http::HeaderMap, role: Role) -> Result<Call, Status> {
        let mut caller = self.caller(headers)?;
        caller.origin = origin_of(headers)?;
        if caller.role < role {
            return Err(role_too_low(&caller, role));
        }
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(128).collect());
        Ok(Call { caller, request_id })
    }
}

impl<S> tower::Layer<S> for CallLayer {
    type Service = CallService<S>;

    fn layer(&self, inner: S) -> CallService<S> {
        CallService {
            layer: self.clone(),
            inner,
        }
    }
}

/// [`CallLayer`] around a service.
#[derive(Clone, Debug)]
pub struct CallService<S> {
    layer: CallLayer,
    inner: S,
}

type Body = tonic::body::Body;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for CallService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let Some((service, method)) = crate::services::method_of(&path) else {
            return Box::pin(self.inner.call(request));
        };
        let Some(role) = crate::services::required_role(service, method) else {
            return Box::pin(self.inner.call(request));
        };
        let admitted = self.layer.admit(request.headers(), role);
        let request_id = admitted
            .as_ref()
            .ok()
            .and_then(|c| c.request_id.clone())
            .unwrap_or_default();
        let span = tracing::info_span!("rpc", method, request_id);
        let started = Instant::now();
        // The service that was polled ready serves this call; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let method = method.to_owned();
        let deadline = client_deadline(request.headers());
        let future = async move {
            let response = match admitted {
                Ok(call) => {
                    request.extensions_mut().insert(call);
                    match deadline {
                        None => inner.call(request).await?,
                        Some(d) => match tokio::time::timeout(d, inner.call(request)).await {
                            Ok(answered) => answered?,
                            Err(_) => deadline_exceeded().into_http(),
                        },
                    }
                }
                Err(status) => status.into_http(),
            };
            record(&method, started, &response);
            Ok(response)
        };
        Box::pin(future.instrument(span))
    }
}

/// How long before the client's deadline (`grpc-timeout`) the call is answered
/// DEADLINE_EXCEEDED. tonic ends a call whose deadline passed with CANCELLED; answering a tick
/// of the timer earlier (tokio's timers have millisecond ticks) says what happened.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(1);

/// The time the client gave the call (`grpc-timeout`: digits and a unit `H M S m u n`), less
/// [`DEADLINE_MARGIN`].
fn client_deadline(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "H" => std::time::Duration::from_secs(n.saturating_mul(3600)),
        "M" => std::time::Duration::from_secs(n.saturating_mul(60)),
        "S" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_millis(n),
        "u" => std::time::Duration::from_micros(n),
        "n" => std::time::Duration::from_nanos(n),
        _ => return None,
    };
    Some(d.saturating_sub(DEADLINE_MARGIN))
}

fn deadline_exceeded() -> Status {
    Status::with_error_details(
        Code::DeadlineExceeded,
        "the call's deadline (grpc-timeout) passed before it was answered",
        ErrorDetails::with_error_info("DEADLINE_EXCEEDED", DOMAIN, HashMap::new()),
    )
}

/// The call's metrics and log line, from its status (in the headers for a refused call; a
/// call that answered has its status in the trailers, and counts as OK here).
fn record(method: &str, started: Instant, response: &http::Response<Body>) {
    let elapsed = started.elapsed();
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32);
    let message = response
        .headers()
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let code_name = format!("{code:?}");
    let labels = [("method", method.to_owned()), ("code", code_name.clone())];
    metrics::counter!("crm_rpc_calls_total", &labels).increment(1);
    metrics::histogram!("crm_rpc_duration_seconds", &labels).record(elapsed.as_secs_f64());
    let latency_us = elapsed.as_micros() as u64;
    match code {
        Code::Ok => tracing::debug!(code = "Ok", latency_us, "call done"),
        Code::Internal | Code::DataLoss | Code::Unavailable => {
            tracing::error!(code = %code_name, latency_us, message, "call failed");
        }
        _ => tracing::info!(code = %code_name, latency_us, message, "call refused"),
    }
}
