//! `crm-server health`: asks a running server's gRPC health service whether it serves, for a
//! container's health check or a load balancer's probe script. Exit 0 when SERVING, else 1.

use std::time::Duration;

use anyhow::{Context, bail};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Checks `addr` (`http://127.0.0.1:50051`) within `timeout`.
pub fn check(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let endpoint = tonic::transport::Endpoint::from_shared(addr.to_owned())
            .with_context(|| format!("{addr:?} is not an address (http://host:port)"))?
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .with_context(|| format!("{addr} did not answer the health check"))?
            .into_inner();
        match ServingStatus::try_from(answer.status) {
            Ok(ServingStatus::Serving) => {
                println!("SERVING");
                Ok(())
            }
            Ok(other) => bail!("{addr} is {}", other.as_str_name()),
            Err(_) => bail!("{addr} answered an unknown status {}", answer.status),
        }
    })
}
