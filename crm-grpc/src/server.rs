//! The server: crm's services, health and reflection on a bound listener, until shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future (as mini-redis does), so the
//! binary binds its configured address and tests bind `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;

use crm_store::Store;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::admission::AdmissionLayer;
use crate::auth::AuthMode;
use crate::keys::KeyRing;
use crate::layer::CallLayer;
use crate::pb;
use crate::pb::admin_service_server::AdminServiceServer;
use crate::pb::automation_service_server::AutomationServiceServer;
use crate::pb::change_feed_service_server::ChangeFeedServiceServer;
use crate::pb::customer_service_server::CustomerServiceServer;
use crate::pb::deal_service_server::DealServiceServer;
use crate::pb::feedback_service_server::FeedbackServiceServer;
use crate::pb::lifecycle_service_server::LifecycleServiceServer;
use crate::pb::loyalty_service_server::LoyaltyServiceServer;
use crate::pb::privacy_service_server::PrivacyServiceServer;
use crate::pb::report_service_server::ReportServiceServer;
use crate::pb::segment_service_server::SegmentServiceServer;
use crate::pb::support_service_server::SupportServiceServer;
use crate::pb::task_service_server::TaskServiceServer;
use crate::pb::timeline_service_server::TimelineServiceServer;
use crate::services::admin::AdminApi;
use crate::services::automation::AutomationApi;
use crate::services::customers::CustomerApi;
use crate::services::deals::DealApi;
use crate::services::feed::{ChangeFeedApi, FeedPump};
use crate::services::feedback::FeedbackApi;
use crate::services::lifecycle::LifecycleApi;
use crate::services::loyalty::LoyaltyApi;
use crate::services::privacy::PrivacyApi;
use crate::services::reports::ReportApi;
use crate::services::segments::SegmentApi;
use crate::services::support::SupportApi;
use crate::services::tasks::TaskApi;
use crate::services::timeline::TimelineApi;

/// The default largest request message: 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// The default number of calls served at once; more are refused with RESOURCE_EXHAUSTED.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 1024;

/// The default number of HTTP/2 streams one connection may have open at once.
pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 128;
/// The default number of calls one connection may have in service at once (the rest of its
/// calls wait their turn on that connection).
pub const DEFAULT_MAX_CALLS_PER_CONNECTION: usize = 64;
/// The default time a request's body has to arrive.
pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The default interval of HTTP/2 keepalive pings.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// The default time a keepalive ping has to be answered before the connection is dropped.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The default number of streams a client may reset before the server accepted them, per
/// connection, before the connection is closed (ENHANCE_YOUR_CALM): high enough for clients
/// that cancel many calls (short deadlines), low enough to end a rapid-reset flood
/// (CVE-2023-44487). hyper's own default is 20.
pub const DEFAULT_MAX_PENDING_RESETS: usize = 1024;
/// The default time in-flight calls have to finish after shutdown is requested.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// PEM files for TLS.
#[derive(Clone, Debug)]
pub struct TlsPem {
    /// The server's certificate chain.
    pub cert: Vec<u8>,
    /// The server's private key.
    pub key: Vec<u8>,
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    pub client_ca: Option<Vec<u8>>,
}

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Whether calls need an API key.
    pub auth: AuthMode,
    /// The API keys.
    pub keys: Arc<KeyRing>,
    /// The largest request message accepted; larger ones get RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
    /// Calls served at once, over all connections; more get RESOURCE_EXHAUSTED at once instead
    /// of queueing without bound.
    pub max_concurrent_calls: usize,
    /// HTTP/2 streams one connection may open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_streams_per_connection: u32,
    /// Calls one connection may have in service at once; its other calls wait on their
    /// connection, so one connection cannot take every call slot.
    pub max_calls_per_connection: usize,
    /// Time a request's body has to arrive; a call whose body is slower is answered
    /// DEADLINE_EXCEEDED and never holds a call slot while it waits.
    pub request_body_timeout: Duration,
    /// Interval of HTTP/2 keepalive pings (and TCP keepalive) on idle connections.
    pub keepalive_interval: Duration,
    /// A ping not answered within this drops the connection (a dead peer).
    pub keepalive_timeout: Duration,
    /// After shutdown is requested, how long calls in flight have to finish before their
    /// connections are closed.
    pub drain_timeout: Duration,
    /// Streams a client may reset before they were accepted, per connection.
    pub max_pending_resets: usize,
    /// TLS, when set.
    pub tls: Option<TlsPem>,
    /// Web origins whose pages may call with gRPC-Web across origins (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Whether the web console is served at `/` (off by default here; the binary turns it on
    /// for loopback addresses).
    pub console: bool,
    /// The process's metrics recorder, which AdminService.GetServerMetrics reads.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl ServerConfig {
    /// Defaults for a data directory: no authentication (for loopback), 4 MiB messages,
    /// 1024 concurrent calls, no TLS.
    pub fn new(data_dir: &std::path::Path) -> Self {
        ServerConfig {
            auth: AuthMode::Disabled,
            keys: Arc::new(KeyRing::new(data_dir)),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            max_streams_per_connection: DEFAULT_MAX_STREAMS_PER_CONNECTION,
            max_calls_per_connection: DEFAULT_MAX_CALLS_PER_CONNECTION,
            request_body_timeout: DEFAULT_REQUEST_BODY_TIMEOUT,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_pending_resets: DEFAULT_MAX_PENDING_RESETS,
            tls: None,
            cors_origins: Vec::new(),
            console: false,
            metrics: None,
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the descriptors.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A --cors-origin that is not a header value.
    #[error("--cors-origin {0:?} is not an origin such as https://console.example.com")]
    Cors(String),
    /// The TLS certificate, key or client CA cannot serve.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The final flush of the store failed.
    #[error("final flush failed: {0}")]
    Flush(#[from] crm_store::StoreError),
    /// A thread the server needs could not start.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// The final flush did not finish in time (a stalled disk).
    #[error("the final flush did not finish within {0:?}")]
    FlushTimeout(Duration),
}

/// CORS for gRPC-Web pages of `origins`: the headers a gRPC-Web client sends and reads.
/// None when no origin is given (same-origin pages need no CORS).
fn cors_layer(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>, ServeError> {
    use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
    if origins.is_empty() {
        return Ok(None);
    }
    let allowed = origins
        .iter()
        .map(|o| {
            http::HeaderValue::from_str(o.trim_end_matches('/'))
                .map_err(|_| ServeError::Cors(o.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let name = HeaderName::from_static;
    Ok(Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([http::Method::POST])
            .allow_headers([
                CONTENT_TYPE,
                AUTHORIZATION,
                name("x-grpc-web"),
                name("x-user-agent"),
                name("grpc-timeout"),
                name("x-request-id"),
                name("x-crm-origin"),
            ])
            .expose_headers([
                name("grpc-status"),
                name("grpc-message"),
                name("grpc-status-details-bin"),
            ])
            .max_age(Duration::from_secs(3600)),
    ))
}

/// How long the final flush may take before [`serve`] gives up on it.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// tonic reports a request over the size limit as OUT_OF_RANGE; the contract says
/// RESOURCE_EXHAUSTED (the client sent more than the server accepts).
fn oversize_is_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers();
    let out_of_range = headers.get("grpc-status").is_some_and(|v| v == "11");
    let oversize = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .is_some_and(|m| {
            m.contains("message length too large") || m.contains("message%20length%20too%20large")
        });
    if out_of_range && oversize {
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    response
}

/// Serves `crm.v1.CustomerService`, `TimelineService`, `LifecycleService`, `SegmentService`,
/// `ReportService`, `AdminService`, `ChangeFeedService`,
/// `grpc.health.v1.Health` and server
/// reflection (v1 and v1alpha) on `listener` until `shutdown` resolves; then stops accepting,
/// lets in-flight calls finish (within `drain_timeout`), and flushes the store (within a few
/// seconds: a stalled disk cannot keep the process from ending).
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<CustomerServiceServer<CustomerApi>>()
        .await;
    health.set_serving::<AdminServiceServer<AdminApi>>().await;
    health
        .set_serving::<TimelineServiceServer<TimelineApi>>()
        .await;
    health
        .set_serving::<LifecycleServiceServer<LifecycleApi>>()
        .await;
    health
        .set_serving::<SegmentServiceServer<SegmentApi>>()
        .await;
    health.set_serving::<ReportServiceServer<ReportApi>>().await;
    health
        .set_serving::<ChangeFeedServiceServer<ChangeFeedApi>>()
        .await;
    health
        .set_serving::<FeedbackServiceServer<FeedbackApi>>()
        .await;
    health
        .set_serving::<SupportServiceServer<SupportApi>>()
        .await;
    health
        .set_serving::<LoyaltyServiceServer<LoyaltyApi>>()
        .await;
    health.set_serving::<DealServiceServer<DealApi>>().await;
    health.set_serving::<TaskServiceServer<TaskApi>>().await;
    health
        .set_serving::<PrivacyServiceServer<PrivacyApi>>()
        .await;
    health
        .set_serving::<AutomationServiceServer<AutomationApi>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so reflection clients (grpcurl) can print them.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
            .include_reflection_service(false)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let customers = CustomerServiceServer::new(CustomerApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let admin = AdminServiceServer::new(
        AdminApi::new(store.clone(), Arc::clone(&config.keys)).with_metrics(config.metrics.clone()),
    )
    .max_decoding_message_size(config.max_message_bytes);
    let timeline = TimelineServiceServer::new(TimelineApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let lifecycle = LifecycleServiceServer::new(LifecycleApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let segments = SegmentServiceServer::new(SegmentApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let reports = ReportServiceServer::new(ReportApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let feedback = FeedbackServiceServer::new(FeedbackApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let support = SupportServiceServer::new(SupportApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let loyalty = LoyaltyServiceServer::new(LoyaltyApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let deals = DealServiceServer::new(DealApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let tasks = TaskServiceServer::new(TaskApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let automation = AutomationServiceServer::new(AutomationApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let privacy = PrivacyServiceServer::new(PrivacyApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    // Streams (the change feed) end when shutdown is requested, instead of holding the drain.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let pump = FeedPump::start(&store, stop.clone()).map_err(ServeError::Thread)?;
    tokio::spawn(crate::workers::loyalty_sweeps(store.clone(), stop.clone()));
    tokio::spawn(crate::workers::retention(store.clone(), stop.clone()));
    let rules =
        crate::workers::RuleWorker::start(&store, stop.clone()).map_err(ServeError::Thread)?;
    let feed = ChangeFeedServiceServer::new(ChangeFeedApi::new(store.clone(), pump, stop))
        .max_decoding_message_size(config.max_message_bytes);

    let acceptor = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    let builder = tonic::transport::Server::builder();
    let (drain, drained) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        stopping.send_replace(true);
        let _ = drain.send(());
    };
    let cors = cors_layer(&config.cors_origins)?;
    let router = builder
        .accept_http1(true)
        .max_concurrent_streams(config.max_streams_per_connection.max(1))
        .concurrency_limit_per_connection(config.max_calls_per_connection.max(1))
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .http2_max_pending_accept_reset_streams(Some(config.max_pending_resets.max(1)))
        .layer(crate::console::ConsoleLayer::new(
            config.console,
            config.auth == AuthMode::Disabled,
        ))
        .layer(tower::util::option_layer(cors))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(tower::util::MapResponseLayer::new(
            oversize_is_resource_exhausted,
        ))
        .layer(CallLayer::new(config.auth, Arc::clone(&config.keys)))
        .layer(AdmissionLayer::new(
            config.max_concurrent_calls,
            config.request_body_timeout,
            config.max_message_bytes,
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(customers)
        .add_service(timeline)
        .add_service(lifecycle)
        .add_service(segments)
        .add_service(reports)
        .add_service(admin)
        .add_service(feed)
        .add_service(feedback)
        .add_service(support)
        .add_service(loyalty)
        .add_service(deals)
        .add_service(tasks)
        .add_service(automation)
        .add_service(privacy);
    let incoming =
        crate::incoming::Incoming::new(listener).tcp_keepalive(config.keepalive_interval);
    let server: std::pin::Pin<
        Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>,
    > = match acceptor {
        Some(acceptor) => Box::pin(router.serve_with_incoming_shutdown(
            crate::tls::TlsIncoming::new(incoming, acceptor),
            shutdown,
        )),
        None => Box::pin(router.serve_with_incoming_shutdown(incoming, shutdown)),
    };
    let drain_timeout = config.drain_timeout;
    tokio::select! {
        served = server => served?,
        () = async move {
            if drained.await.is_ok() {
                tokio::time::sleep(drain_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(
                "calls still in flight {} ms after shutdown was requested: closing their connections",
                drain_timeout.as_millis()
            );
        }
    }

    rules.stop().await;
    let flush = tokio::task::spawn_blocking(move || store.flush());
    match tokio::time::timeout(FLUSH_TIMEOUT, flush).await {
        Ok(joined) => joined
            .map_err(|e| crm_store::StoreError::Storage(format!("flush task failed: {e}")))??,
        Err(_) => return Err(ServeError::FlushTimeout(FLUSH_TIMEOUT)),
    }
    Ok(())
}
