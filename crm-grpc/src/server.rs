//! The server: crm's services, health and reflection on a bound listener, until shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future (as mini-redis does), so the
//! binary binds its configured address and tests bind `127.0.0.1:0`.

use std::future::Future;

use crm_store::Store;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::customer_service::CustomerApi;
use crate::pb;
use crate::pb::customer_service_server::CustomerServiceServer;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the descriptors.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The final flush of the store failed.
    #[error("final flush failed: {0}")]
    Flush(#[from] crm_store::StoreError),
}

/// Serves `crm.v1.CustomerService`, `grpc.health.v1.Health` and server reflection (v1 and
/// v1alpha) on `listener` until `shutdown` resolves; then stops accepting, lets in-flight calls
/// finish, and flushes the store.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<CustomerServiceServer<CustomerApi>>()
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

    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(CustomerServiceServer::new(CustomerApi::new(store.clone())))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;

    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| crm_store::StoreError::Storage(format!("flush task failed: {e}")))??;
    Ok(())
}
