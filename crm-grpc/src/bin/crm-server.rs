//! `crm-server`: the crm gRPC service on an embedded store.
//!
//! ```text
//! crm-server                                   # 127.0.0.1:50051, data in ./crm-data
//! crm-server --listen 0.0.0.0:50051 --data-dir /var/lib/crm --durability relaxed
//! ```
//! Every flag has a `CRM_*` environment variable. SIGINT or SIGTERM stops accepting calls,
//! finishes those in flight, flushes, and exits 0.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use crm_store::{Durability, Store, StoreConfig};
use tracing_subscriber::EnvFilter;

/// The crm customer-management service (gRPC, crm.v1).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Data directory; created if missing.
    #[arg(long, env = "CRM_DATA_DIR", default_value = "./crm-data")]
    data_dir: PathBuf,
    /// durable: a write returns once on disk (concurrent writes share flushes).
    /// relaxed: a write returns once applied; the store flushes every 500 ms.
    #[arg(long, env = "CRM_DURABILITY", value_enum, default_value_t = DurabilityArg::Durable)]
    durability: DurabilityArg,
    /// Page cache of the store, in MiB.
    #[arg(long, env = "CRM_CACHE_MB", default_value_t = 256)]
    cache_mb: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DurabilityArg {
    Durable,
    Relaxed,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("crm-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let durability = match args.durability {
        DurabilityArg::Durable => Durability::Durable,
        DurabilityArg::Relaxed => Durability::Relaxed,
    };
    let config = StoreConfig::new(&args.data_dir)
        .durability(durability)
        .cache_bytes(args.cache_mb * 1024 * 1024);
    let store = Store::open_with(config)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        tracing::info!(
            "crm-server listening on {addr} (data directory {}, {durability:?} writes)",
            args.data_dir.display()
        );
        crm_grpc::server::serve(listener, store, shutdown_signal()).await?;
        tracing::info!("crm-server stopped cleanly");
        Ok(())
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM ({e}); stopping on Ctrl-C only");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested: finishing in-flight calls");
}
