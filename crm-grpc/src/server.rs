//! The server: crm's services, health and reflection on a bound listener, until shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future (as mini-redis does), so the
//! binary binds its configured address and tests bind `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;

use crm_store::Store;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::auth::AuthMode;
use crate::keys::KeyRing;
use crate::layer::CallLayer;
use crate::pb;
use crate::pb::admin_service_server::AdminServiceServer;
use crate::pb::customer_service_server::CustomerServiceServer;
use crate::pb::lifecycle_service_server::LifecycleServiceServer;
use crate::pb::report_service_server::ReportServiceServer;
use crate::pb::segment_service_server::SegmentServiceServer;
use crate::pb::timeline_service_server::TimelineServiceServer;
use crate::services::admin::AdminApi;
use crate::services::customers::CustomerApi;
use crate::services::lifecycle::LifecycleApi;
use crate::services::reports::ReportApi;
use crate::services::segments::SegmentApi;
use crate::services::timeline::TimelineApi;

/// The default largest request message: 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// The default number of calls served at once; more are refused with RESOURCE_EXHAUSTED.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 1024;

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
    /// TLS, when set.
    pub tls: Option<TlsPem>,
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
            tls: None,
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the descriptors.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed (including a bad TLS configuration).
    #[error("transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The final flush of the store failed.
    #[error("final flush failed: {0}")]
    Flush(#[from] crm_store::StoreError),
}

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
/// `ReportService`, `AdminService`,
/// `grpc.health.v1.Health` and server
/// reflection (v1 and v1alpha) on `listener` until `shutdown` resolves; then stops accepting,
/// lets in-flight calls finish, and flushes the store.
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
    let admin = AdminServiceServer::new(AdminApi::new(store.clone(), Arc::clone(&config.keys)))
        .max_decoding_message_size(config.max_message_bytes);
    let timeline = TimelineServiceServer::new(TimelineApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let lifecycle = LifecycleServiceServer::new(LifecycleApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let segments = SegmentServiceServer::new(SegmentApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let reports = ReportServiceServer::new(ReportApi::new(store.clone()))
        .max_decoding_message_size(config.max_message_bytes);

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        let mut tls_config =
            ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key));
        if let Some(ca) = &tls.client_ca {
            tls_config = tls_config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(tls_config)?;
    }
    builder
        .load_shed(true)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            config.max_concurrent_calls.max(1),
        ))
        .layer(tower::util::MapResponseLayer::new(
            oversize_is_resource_exhausted,
        ))
        .layer(CallLayer::new(config.auth, Arc::clone(&config.keys)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(customers)
        .add_service(timeline)
        .add_service(lifecycle)
        .add_service(segments)
        .add_service(reports)
        .add_service(admin)
        .serve_with_incoming_shutdown(no_delay(listener), shutdown)
        .await?;

    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| crm_store::StoreError::Storage(format!("flush task failed: {e}")))??;
    Ok(())
}

/// Accepted connections with Nagle's algorithm off. A unary response goes out as several small
/// writes (headers, message, trailers); with Nagle on, the last one can wait for the client's
/// delayed ACK, adding about 40 ms to a share of the calls. (tonic sets this only for listeners
/// it binds itself.)
pub fn no_delay(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|s| {
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot turn off Nagle's algorithm");
            }
        })
    })
}
