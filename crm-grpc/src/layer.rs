//! The one layer every call of crm's services goes through: authentication, the role the
//! method needs, the request id, and the call's span, log line and metrics. Handlers read who
//! is calling from [`Call::of`] and never repeat any of it.
//!
//! - The method comes from the path (`/crm.v1.CustomerService/GetCustomer`); calls to other
//!   services (health, reflection) pass through untouched.
//! - The caller comes from `authorization: Bearer KEY` (UNAUTHENTICATED without a valid key,
//!   unless authentication is disabled); a role below the method's is PERMISSION_DENIED
//!   ([`crate::services::ROLES`] is the role table).
//! - The request id is the `x-request-id` header, when the client sent one; a handler that finds
//!   one in the request body (`request_id`) records that in the call's span instead, so the log
//!   and the audit trail name the same id ([`record_request_id`]).
//! - A key sent while authentication is disabled is ignored, with one warning per key.
//! - Refusals (UNAUTHENTICATED, PERMISSION_DENIED, ...) are logged at info with the peer's
//!   address; failures at error.
//! - A call still running when the client's deadline (`grpc-timeout`) passes is answered
//!   DEADLINE_EXCEEDED (tonic's own timeout would say CANCELLED).
//! - Metrics: `crm_rpc_calls_total` and `crm_rpc_duration_seconds` by method and code. A
//!   method the contract does not have is labelled `unknown`.
//!
//! An answered call costs the layer no allocation of its own: the method's name and its code's
//! name are static, the metric handles are registered once per method and code
//! ([`CallMetrics`]), and the peer's address and the status message are formatted only for a
//! call that is logged (refused or failed).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::Instrument;

use crate::auth::AuthMode;
use crate::keys::{KeyRing, Role};
use crate::services::{Method, ROLES};
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
    /// Fingerprints of the keys already warned about while authentication is disabled.
    ignored_keys: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    metrics: Arc<CallMetrics>,
}

/// How many ignored keys are remembered (so warned about once each); beyond it, no more
/// warnings: a client sending random keys cannot grow the set or flood the log.
const IGNORED_KEYS_REMEMBERED: usize = 1024;

impl CallLayer {
    /// Authenticates with `ring` when `mode` is [`AuthMode::Required`].
    pub fn new(mode: AuthMode, ring: Arc<KeyRing>) -> Self {
        CallLayer {
            mode,
            ring,
            ignored_keys: Arc::default(),
            metrics: Arc::new(CallMetrics::new()),
        }
    }

    /// A key sent to a server that does not check keys: the client believes it is
    /// authenticating. One warning per key, naming it when the key file knows it.
    fn warn_ignored_key(&self, header: &http::HeaderValue) {
        let Ok(value) = header.to_str() else { return };
        let secret = value.strip_prefix("Bearer ").unwrap_or(value).trim();
        let fingerprint = crate::keys::hash(secret);
        {
            let Ok(mut seen) = self.ignored_keys.lock() else {
                return;
            };
            if seen.len() >= IGNORED_KEYS_REMEMBERED || !seen.insert(fingerprint.clone()) {
                return;
            }
        }
        let name = match self.ring.authenticate(secret) {
            Ok(Some(key)) => format!("key {:?}", key.name),
            _ => "a key this server does not know".to_owned(),
        };
        tracing::warn!(
            key_sha256_prefix = &fingerprint[..12],
            "a call sent {name}, but authentication is disabled (--auth disabled, the default on \
             loopback): the key is not checked and every call runs as an anonymous admin; start \
             the server with --auth required to check keys"
        );
    }

    fn caller(&self, headers: &http::HeaderMap) -> Result<Caller, Status> {
        if self.mode == AuthMode::Disabled {
            if let Some(header) = headers.get("authorization") {
                self.warn_ignored_key(header);
            }
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
        let Some(method) = Method::of(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        let role = method.role;
        let admitted = self.layer.admit(request.headers(), role);
        let span = tracing::info_span!(
            "rpc",
            method = method.name,
            request_id = tracing::field::Empty
        );
        if let Some(id) = admitted.as_ref().ok().and_then(|c| c.request_id.as_deref()) {
            span.record("request_id", id);
        }
        let peer = peer_of(&request);
        let started = Instant::now();
        // The service that was polled ready serves this call; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = Arc::clone(&self.layer.metrics);
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
            record(&metrics, method, started, &response, peer);
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

/// Records the request id a handler found in the request body on the call's span (when the
/// client sent no `x-request-id` header), so the log names the id the audit trail records.
pub fn record_request_id(id: &str) {
    tracing::Span::current().record("request_id", id);
}

/// The client's address, when the connection has one.
fn peer_of<B>(request: &http::Request<B>) -> Option<std::net::SocketAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

/// `grpc-message` as sent: percent-encoded UTF-8 (the gRPC spec), decoded for the log.
fn decoded_message(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The names of the gRPC codes, by number, as the metrics and the log give them.
const CODE_NAMES: [&str; 17] = [
    "Ok",
    "Cancelled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The metric handles of each method and code, registered with the recorder on first use
/// (building a labelled key allocates; a handle is a shared counter).
#[derive(Debug)]
struct CallMetrics {
    /// A row per method of [`ROLES`] and one for unknown methods; a column per code.
    handles: Vec<[OnceLock<(metrics::Counter, metrics::Histogram)>; 17]>,
}

impl CallMetrics {
    fn new() -> Self {
        CallMetrics {
            handles: (0..=ROLES.len())
                .map(|_| std::array::from_fn(|_| OnceLock::new()))
                .collect(),
        }
    }

    fn record(&self, method: Method, code: Code, elapsed: std::time::Duration) {
        let column = (code as usize).min(CODE_NAMES.len() - 1);
        let Some(cell) = self.handles.get(method.index).map(|row| &row[column]) else {
            return;
        };
        let (calls, duration) = cell.get_or_init(|| {
            let labels = [("method", method.name), ("code", CODE_NAMES[column])];
            (
                metrics::counter!("crm_rpc_calls_total", &labels),
                metrics::histogram!("crm_rpc_duration_seconds", &labels),
            )
        });
        calls.increment(1);
        duration.record(elapsed.as_secs_f64());
    }
}

/// The call's metrics and log line, from its status (in the headers for a refused call; a
/// call that answered has its status in the trailers, and counts as OK here).
fn record(
    metrics: &CallMetrics,
    method: Method,
    started: Instant,
    response: &http::Response<Body>,
    peer: Option<std::net::SocketAddr>,
) {
    let elapsed = started.elapsed();
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32);
    metrics.record(method, code, elapsed);
    let latency_us = elapsed.as_micros() as u64;
    if code == Code::Ok {
        tracing::debug!(code = "Ok", latency_us, "call done");
        return;
    }
    let code_name = CODE_NAMES[(code as usize).min(CODE_NAMES.len() - 1)];
    let message = response
        .headers()
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(decoded_message)
        .unwrap_or_default();
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    match code {
        Code::Internal | Code::DataLoss | Code::Unavailable => {
            tracing::error!(code = %code_name, latency_us, peer, message, "call failed");
        }
        _ => tracing::info!(code = %code_name, latency_us, peer, message, "call refused"),
    }
}
