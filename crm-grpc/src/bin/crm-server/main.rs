//! `crm-server`: the crm gRPC service on an embedded store.
//!
//! ```text
//! crm-server                                   # 127.0.0.1:50051, data in ./crm-data, no auth
//! crm-server --listen 0.0.0.0:50051 --data-dir /var/lib/crm --tls-cert c.pem --tls-key k.pem
//! crm-server keys create --name ops --role admin   # prints the key once
//! crm-server keys list
//! crm-server keys revoke --name ops
//! crm-server certs --out ./certs --name localhost   # a development CA, server and client pairs
//! crm-server backup --to crm.backup                     # a data directory no server holds
//! crm-server backup --to crm.backup --addr http://127.0.0.1:50051   # through a running server
//! crm-server restore --from crm.backup --data-dir ./restored
//! ```
//! Every flag has a `CRM_*` environment variable. SIGINT or SIGTERM stops accepting calls,
//! finishes those in flight (within --drain-timeout-ms), flushes, and exits 0; whatever is
//! stuck, the process ends within --shutdown-timeout-ms of the signal (then with exit code 1).
//!
//! Exit codes: 0 after a clean shutdown; 1 when the server cannot start (the message says why:
//! a locked or damaged data directory, acknowledged data missing, a bad flag) or did not shut
//! down cleanly; 75 (EX_TEMPFAIL) when the storage engine stopped accepting writes (a failed
//! flush or fsync, a stalled disk): every acknowledged write is on disk, and a supervisor
//! should start the server again, which recovers what reached the disk.

/// mimalloc, not glibc's malloc: a decoded record is a few dozen small blocks, and glibc's
/// malloc took over 60% of a list page allocating and consolidating them (BENCHMARKS.md, "The
/// allocator").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use crm_grpc::auth::AuthMode;
use crm_grpc::server::{ServerConfig, TlsPem};
use crm_store::engine::postgres::{PostgresEngine, PostgresOptions};
use crm_store::{Durability, Store, StoreConfig};

mod backup;
mod certs;
mod health;
mod keys_cli;
mod systemd;
mod telemetry;

use keys_cli::KeysCommand;

/// The crm customer-management service (gRPC, crm.v1).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Data directory; created if missing.
    #[arg(
        long,
        env = "CRM_DATA_DIR",
        default_value = "./crm-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// durable: a write returns once on disk (concurrent writes share flushes).
    /// relaxed: a write returns once applied; the store flushes every 500 ms.
    #[arg(long, env = "CRM_DURABILITY", value_enum, default_value_t = DurabilityArg::Durable)]
    durability: DurabilityArg,
    /// Page cache of the store, in MiB. Default: an eighth of the memory this process may use
    /// (the machine's, or its control group's limit), between 64 MiB and 8 GiB.
    #[arg(long, env = "CRM_CACHE_MB")]
    cache_mb: Option<u64>,
    /// This many purchases within --loyalty-window-days make a customer LOYAL and move it to the
    /// LOYALTY stage (2 to 32).
    #[arg(long, env = "CRM_LOYALTY_PURCHASES", default_value_t = 4)]
    loyalty_purchases: usize,
    /// See --loyalty-purchases.
    #[arg(long, env = "CRM_LOYALTY_WINDOW_DAYS", default_value_t = 365)]
    loyalty_window_days: i64,
    /// A first purchase this recent makes a customer NEW.
    #[arg(long, env = "CRM_NEW_DAYS", default_value_t = 90)]
    new_days: i64,
    /// No purchase for this long makes a customer AT_RISK.
    #[arg(long, env = "CRM_AT_RISK_DAYS", default_value_t = 180)]
    at_risk_days: i64,
    /// No purchase for this long makes a customer CHURNED.
    #[arg(long, env = "CRM_CHURN_DAYS", default_value_t = 365)]
    churn_days: i64,
    /// A feedback risk signal (a detractor NPS answer, a CSAT of 2 or less) makes a buying
    /// customer AT_RISK for this long.
    #[arg(long, env = "CRM_FEEDBACK_RISK_DAYS", default_value_t = 90)]
    feedback_risk_days: i64,
    /// A solved ticket may be reopened for this long after it was solved.
    #[arg(long, env = "CRM_TICKET_REOPEN_DAYS", default_value_t = 7)]
    ticket_reopen_days: i64,
    /// The automation worker handles a change this long after it is committed, so a burst of
    /// changes to one entity within it fires a rule once (milliseconds, 0 to 60,000).
    #[arg(long, env = "CRM_RULE_COALESCE_MS", default_value_t = 1000)]
    rule_coalesce_ms: u32,
    /// The expected customer lifespan in CLV, in years (0.1 to 100, one decimal).
    #[arg(long, env = "CRM_CLV_LIFESPAN_YEARS", default_value_t = 3.0)]
    clv_lifespan_years: f64,
    /// Derive the CLV lifespan from the portfolio's churn: one over the churn rate of the
    /// year to now, measured in the background at most hourly (--clv-lifespan-years stands in
    /// until the first measurement, and when churn says nothing).
    #[arg(long, env = "CRM_CLV_LIFESPAN_FROM_CHURN")]
    clv_lifespan_from_churn: bool,
    /// Whether calls need an API key. Default: required, except on a loopback address.
    /// `disabled` is refused on a non-loopback address.
    #[arg(long, env = "CRM_AUTH", value_enum)]
    auth: Option<AuthMode>,
    /// TLS certificate chain (PEM). With --tls-key, serves TLS only.
    #[arg(long, env = "CRM_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CRM_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA certificate (PEM) that client certificates must be signed by (mutual TLS).
    #[arg(long, env = "CRM_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Export traces (each call's span, with its method and request id) over OTLP/gRPC to this
    /// collector (`http://127.0.0.1:4317`). Off by default.
    #[arg(long, env = "CRM_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// A web origin (`https://console.example.com`) whose pages may call the server with
    /// gRPC-Web (CORS); repeat it for several. Without it only pages of the server's own origin
    /// may: a page on any other site cannot reach a server that checks no keys.
    #[arg(long = "cors-origin", env = "CRM_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Largest request message in bytes; larger ones get RESOURCE_EXHAUSTED.
    #[arg(long, env = "CRM_MAX_MESSAGE_BYTES", default_value_t = crm_grpc::server::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// Calls served at once; more get RESOURCE_EXHAUSTED instead of queueing.
    #[arg(long, env = "CRM_MAX_CONCURRENT_CALLS", default_value_t = crm_grpc::server::DEFAULT_MAX_CONCURRENT_CALLS)]
    max_concurrent_calls: usize,
    /// Where the data lives: `sled` (embedded, in --data-dir; one server), `fjall` (embedded,
    /// an LSM tree: faster writes; a directory keeps the engine it was made with) or
    /// `postgres` (a database several servers share; see --postgres-url).
    #[arg(long, env = "CRM_ENGINE", value_enum, default_value_t = EngineArg::Sled)]
    engine: EngineArg,
    /// With --engine postgres: the database (`postgres://user:password@host:5432/db`).
    #[arg(long, env = "CRM_POSTGRES_URL", required_if_eq("engine", "postgres"))]
    postgres_url: Option<String>,
    /// With --engine postgres: the schema of crm's tables (created if missing).
    #[arg(long, env = "CRM_POSTGRES_SCHEMA", default_value = "crm")]
    postgres_schema: String,
    /// With --engine postgres: connections this server keeps open at most.
    #[arg(long, env = "CRM_POSTGRES_POOL", default_value_t = 16)]
    postgres_pool: u32,
    /// With --engine postgres: seconds a statement may run before it is cancelled (0: none).
    #[arg(long, env = "CRM_POSTGRES_STATEMENT_TIMEOUT", default_value_t = 30)]
    postgres_statement_timeout: u64,
    /// Free disk space in MiB that writes never take: a write that would go below it fails at
    /// once with RESOURCE_EXHAUSTED (DISK_FULL), reads go on, and writes succeed again once
    /// space is freed (sled engine; 0: no check).
    #[arg(long, env = "CRM_DISK_RESERVE_MB", default_value_t = 64)]
    disk_reserve_mb: u64,
    /// Seconds the storage engine may stay inside one write or flush before it is declared
    /// stalled: writes are then refused and the server exits with code 75.
    #[arg(long, env = "CRM_STALL_SECS", default_value_t = 20)]
    stall_secs: u64,
    /// Open a data directory whose engine files hold less than the store acknowledged
    /// (damaged or replaced), to read what is left: every write is refused, and VerifyStore
    /// reports the loss. Without it, such a directory is refused.
    #[arg(long, env = "CRM_ACCEPT_DATA_LOSS")]
    accept_data_loss: bool,
    /// HTTP/2 streams one connection may open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, env = "CRM_MAX_STREAMS_PER_CONNECTION", default_value_t = crm_grpc::server::DEFAULT_MAX_STREAMS_PER_CONNECTION)]
    max_streams_per_connection: u32,
    /// Calls one connection may have in service at once; its others wait on it.
    #[arg(long, env = "CRM_MAX_CALLS_PER_CONNECTION", default_value_t = crm_grpc::server::DEFAULT_MAX_CALLS_PER_CONNECTION)]
    max_calls_per_connection: usize,
    /// Milliseconds a request's body has to arrive; slower ones get DEADLINE_EXCEEDED and
    /// never hold a call slot while they wait.
    #[arg(long, env = "CRM_REQUEST_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    request_body_timeout_ms: u64,
    /// Seconds between keepalive pings on a connection; a ping unanswered for
    /// --keepalive-timeout-secs drops it.
    #[arg(long, env = "CRM_KEEPALIVE_SECS", default_value_t = 30)]
    keepalive_secs: u64,
    /// Seconds a keepalive ping has to be answered.
    #[arg(long, env = "CRM_KEEPALIVE_TIMEOUT_SECS", default_value_t = 10)]
    keepalive_timeout_secs: u64,
    /// Streams a client may reset before the server accepted them, per connection, before the
    /// connection is closed (ENHANCE_YOUR_CALM): cancelled calls are served, a rapid-reset
    /// flood (CVE-2023-44487) is ended.
    #[arg(long, env = "CRM_MAX_PENDING_RESETS", default_value_t = crm_grpc::server::DEFAULT_MAX_PENDING_RESETS)]
    max_pending_resets: usize,
    /// After SIGTERM, milliseconds in-flight calls have to finish before their connections
    /// close.
    #[arg(long, env = "CRM_DRAIN_TIMEOUT_MS", default_value_t = 5_000)]
    drain_timeout_ms: u64,
    /// After SIGTERM, milliseconds until the process ends whatever is still running.
    #[arg(long, env = "CRM_SHUTDOWN_TIMEOUT_MS", default_value_t = 9_000)]
    shutdown_timeout_ms: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, env = "CRM_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Serve the web console at `/` (`--console`, `--console off`); by default it is served
    /// on loopback addresses only.
    #[arg(long, env = "CRM_CONSOLE", value_enum, num_args = 0..=1,
          default_value_t = ConsoleArg::Auto, default_missing_value = "on")]
    console: ConsoleArg,
}

/// Whether the web console is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ConsoleArg {
    /// On loopback addresses, off elsewhere.
    Auto,
    /// Served.
    On,
    /// Not served: `/` is 404.
    Off,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage API keys in --data-dir (works while a server runs: changes take effect at once).
    Keys {
        /// Make the data directory if it holds no crm data yet (a PostgreSQL replica's, or
        /// keys made before the first start); without it, such a directory is an error.
        #[arg(long, global = true)]
        create: bool,
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Ask a running server's health service whether it serves: exit 0 when SERVING, else 1
    /// (a container's HEALTHCHECK, a probe script).
    Health {
        /// The server's address.
        #[arg(long, env = "CRM_ADDR", default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// How long to wait for the answer, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// Write a development CA, a server certificate for --name and client certificates, for
    /// TLS and mutual TLS (ca.pem, ca.key, server.pem, server.key, CLIENT.pem, CLIENT.key).
    Certs {
        /// The directory to write into (created; existing files are never overwritten).
        #[arg(long, default_value = "./certs")]
        out: PathBuf,
        /// A DNS name or IP address the server certificate is valid for (repeat it).
        #[arg(long = "name", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
        names: Vec<String>,
        /// A client to issue a certificate for, by name (repeat it).
        #[arg(long = "client", default_values_t = ["client".to_owned()])]
        clients: Vec<String>,
    },
    /// Write a backup of the store: from one consistent snapshot, while writes go on. Through
    /// a running server with --addr (an admin key with --api-key), else from --data-dir.
    Backup {
        /// The backup file to write (replaced only once the backup is complete).
        #[arg(long)]
        to: PathBuf,
        /// A running server's address (`http://127.0.0.1:50051`).
        #[arg(long, env = "CRM_ADDR")]
        addr: Option<String>,
        /// An API key with the admin role, for a server that needs one.
        #[arg(long, env = "CRM_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
    /// Rewrite --data-dir with only its live data, so erased personal data leaves the files
    /// (sled keeps overwritten values in its log until it rewrites them). Run it with the
    /// server stopped; it refuses a directory a server holds.
    Compact,
    /// Restore a backup into --data-dir, which must be empty or not exist, and verify it.
    /// Nothing is left behind when the file is truncated or damaged.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// Copy the store in --from (sled or fjall, no server running on it) into --to (empty or
    /// missing) on --engine, and verify the copy. --from is only read.
    Migrate {
        /// The data directory to copy.
        #[arg(long)]
        from: PathBuf,
        /// The new data directory.
        #[arg(long)]
        to: PathBuf,
        /// The engine of the copy.
        #[arg(long, value_enum)]
        engine: EmbeddedArg,
    },
}

/// An embedded engine, for `migrate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EmbeddedArg {
    Sled,
    Fjall,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    Sled,
    Fjall,
    Postgres,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DurabilityArg {
    Durable,
    Relaxed,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let telemetry = match telemetry::init(args.serve.otlp_endpoint.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("crm-server: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match args.command {
        Some(Command::Keys { create, action }) => {
            keys_cli::run(&args.data_dir, create, action).map(|()| Stopped::Cleanly)
        }
        Some(Command::Health { addr, timeout_ms }) => {
            health::check(&addr, Duration::from_millis(timeout_ms)).map(|()| Stopped::Cleanly)
        }
        Some(Command::Certs {
            out,
            names,
            clients,
        }) => certs::write(&certs::Request {
            out,
            names,
            clients,
        })
        .map(|files| {
            for file in files {
                println!("{}", file.display());
            }
            Stopped::Cleanly
        }),
        Some(Command::Backup { to, addr, api_key }) => {
            let source = match addr {
                Some(addr) => backup::Source::Server { addr, api_key },
                None => backup::Source::Directory(args.data_dir.clone()),
            };
            backup::backup(source, &to).map(|()| Stopped::Cleanly)
        }
        Some(Command::Compact) => compact(&args.data_dir).map(|()| Stopped::Cleanly),
        Some(Command::Restore { from }) => {
            backup::restore(&from, &args.data_dir).map(|()| Stopped::Cleanly)
        }
        Some(Command::Migrate { from, to, engine }) => {
            let engine = match engine {
                EmbeddedArg::Sled => crm_store::Embedded::Sled,
                EmbeddedArg::Fjall => crm_store::Embedded::Fjall,
            };
            backup::migrate(&from, &to, engine).map(|()| Stopped::Cleanly)
        }
        None => serve(args.data_dir, args.serve),
    };
    drop(telemetry);
    match result {
        Ok(Stopped::Cleanly) => std::process::ExitCode::SUCCESS,
        Ok(Stopped::EngineFailed(why)) => {
            eprintln!(
                "crm-server: the storage engine stopped accepting writes ({why}); exiting so a \
                 supervisor restarts the server. Every acknowledged write is on disk."
            );
            std::process::ExitCode::from(EX_TEMPFAIL)
        }
        Err(e) => {
            eprintln!("crm-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The exit code after the engine stopped accepting writes: start the server again.
const EX_TEMPFAIL: u8 = 75;

/// How serving ended.
enum Stopped {
    /// On a signal, with everything flushed.
    Cleanly,
    /// Because the engine stopped accepting writes.
    EngineFailed(String),
}

fn read(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn serve(data_dir: PathBuf, args: ServeArgs) -> anyhow::Result<Stopped> {
    let loopback = args.listen.ip().is_loopback();
    let auth = match (args.auth, loopback) {
        (Some(AuthMode::Disabled), false) => {
            bail!(
                "refusing --auth disabled on {}: a non-loopback address needs API keys",
                args.listen
            )
        }
        (Some(mode), _) => mode,
        (None, true) => AuthMode::Disabled,
        (None, false) => AuthMode::Required,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsPem {
            cert: read(cert)?,
            key: read(key)?,
            client_ca: args.tls_client_ca.as_deref().map(read).transpose()?,
        }),
        _ => None,
    };
    let durability = match args.durability {
        DurabilityArg::Durable => Durability::Durable,
        DurabilityArg::Relaxed => Durability::Relaxed,
    };
    let days = |flag: &str, n: i64| {
        chrono::Duration::try_days(n).with_context(|| format!("--{flag} {n} is out of range"))
    };
    let rules = crm_core::RelationshipRules {
        new_within: days("new-days", args.new_days)?,
        at_risk_after: days("at-risk-days", args.at_risk_days)?,
        churn_after: days("churn-days", args.churn_days)?,
        loyalty_purchases: args.loyalty_purchases,
        loyalty_window: days("loyalty-window-days", args.loyalty_window_days)?,
        feedback_risk_window: days("feedback-risk-days", args.feedback_risk_days)?,
        ..crm_core::RelationshipRules::default()
    };
    if let Err(v) = rules.validate() {
        bail!("the relationship windows do not fit together: {v}");
    }
    let lifespan_tenths = (args.clv_lifespan_years * 10.0).round();
    if !(1.0..=1000.0).contains(&lifespan_tenths) {
        bail!("--clv-lifespan-years must be 0.1 to 100");
    }
    let mut store_config = StoreConfig::new(&data_dir).durability(durability);
    if let Some(mb) = args.cache_mb {
        store_config = store_config.cache_bytes(mb.saturating_mul(1024 * 1024));
    }
    let store_config = store_config
        .rules(rules)
        .value_rules(crm_core::ValueRules {
            lifespan_tenths: lifespan_tenths as u32,
            ..crm_core::ValueRules::default()
        })
        .clv_lifespan_from_churn(args.clv_lifespan_from_churn)
        .reserve_bytes(args.disk_reserve_mb.saturating_mul(1024 * 1024))
        .stall_after(Duration::from_secs(args.stall_secs.max(1)))
        .accept_data_loss(args.accept_data_loss)
        .ticket_reopen_within(days("ticket-reopen-days", args.ticket_reopen_days.max(0))?)
        .rule_coalesce_window(chrono::Duration::milliseconds(i64::from(
            args.rule_coalesce_ms.min(60_000),
        )));
    let cache_mib = store_config.cache_bytes >> 20;
    let store = match args.engine {
        EngineArg::Sled | EngineArg::Fjall => {
            let engine = if args.engine == EngineArg::Fjall {
                crm_store::Embedded::Fjall
            } else {
                crm_store::Embedded::Sled
            };
            Store::open_with(store_config.engine(engine))
                .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?
        }
        EngineArg::Postgres => {
            let url = args
                .postgres_url
                .clone()
                .context("--engine postgres needs --postgres-url (or CRM_POSTGRES_URL)")?;
            let mut options = PostgresOptions::new(url);
            options.schema = args.postgres_schema.clone();
            options.pool_size = args.postgres_pool;
            options.statement_timeout = Duration::from_secs(args.postgres_statement_timeout);
            let engine = PostgresEngine::open(&options).with_context(|| {
                format!(
                    "cannot open the PostgreSQL database (schema {})",
                    options.schema
                )
            })?;
            Store::open_on(Arc::new(engine), store_config)
                .context("cannot open the store on PostgreSQL")?
        }
    };
    let mut config = ServerConfig::new(&data_dir);
    config.auth = auth;
    config.tls = tls;
    config.cors_origins = args.cors_origins.clone();
    config.console = match args.console {
        ConsoleArg::Auto => loopback,
        ConsoleArg::On => true,
        ConsoleArg::Off => false,
    };
    config.max_message_bytes = args.max_message_bytes;
    config.max_concurrent_calls = args.max_concurrent_calls;
    config.max_streams_per_connection = args.max_streams_per_connection;
    config.max_calls_per_connection = args.max_calls_per_connection;
    config.request_body_timeout = Duration::from_millis(args.request_body_timeout_ms.max(1));
    config.keepalive_interval = Duration::from_secs(args.keepalive_secs.max(1));
    config.keepalive_timeout = Duration::from_secs(args.keepalive_timeout_secs.max(1));
    config.drain_timeout = Duration::from_millis(args.drain_timeout_ms);
    config.max_pending_resets = args.max_pending_resets;
    let shutdown_timeout = Duration::from_millis(args.shutdown_timeout_ms);
    if let Some(loss) = store.data_loss() {
        tracing::error!("serving reads only: this store holds less than it acknowledged ({loss})");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let engine_failed = Arc::new(std::sync::OnceLock::<String>::new());
    let failed = Arc::clone(&engine_failed);
    let watched = store.clone();
    let stopped = runtime.block_on(async move {
        let signal = shutdown_signal()?;
        // Ends serving on a signal, or when the engine stops accepting writes; either way the
        // process ends within `shutdown_timeout`, whatever is stuck.
        let shutdown = async move {
            tokio::select! {
                () = signal => systemd::stopping(),
                why = engine_failure(watched) => {
                    let _ = failed.set(why);
                }
            }
            let failed = failed.get().is_some();
            force_exit_after(shutdown_timeout, failed);
        };
        config.metrics = Some(telemetry::install_metrics(args.metrics_listen)?);
        if args.metrics_listen.is_some() {
            tokio::spawn(report_store_size(store.clone()));
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr().context("cannot read the bound address")?;
        let scheme = if config.tls.is_some() { "TLS" } else { "plaintext" };
        tracing::info!(
            "crm-server listening on {addr} ({scheme}, auth {auth:?}, data directory {}, {durability:?} writes, {cache_mib} MiB cache)",
            data_dir.display()
        );
        systemd::ready(&format!("serving on {addr}"));
        tokio::spawn(systemd::watchdog(store.clone()));
        crm_grpc::server::serve(listener, store, config, shutdown).await?;
        anyhow::Ok(())
    });
    // Blocking work still running (a stalled disk) must not hold the process.
    runtime.shutdown_timeout(Duration::from_millis(500));
    // After an engine failure the final flush fails too: the failure is the news.
    if let Some(why) = engine_failed.get() {
        return Ok(Stopped::EngineFailed(why.clone()));
    }
    stopped?;
    tracing::info!("crm-server stopped cleanly");
    Ok(Stopped::Cleanly)
}

/// Resolves with the reason once the store's engine stops accepting writes.
async fn engine_failure(store: Store) -> String {
    loop {
        if let Some(why) = store.failure() {
            tracing::error!(reason = %why, "the storage engine stopped accepting writes: shutting down");
            return why;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Ends the process `after` from now if it has not ended by itself: a stalled disk or a
/// stuck client cannot keep it running past its shutdown deadline. Every acknowledged write
/// was fsynced before it was acknowledged, so nothing acknowledged is lost.
fn force_exit_after(after: Duration, engine_failed: bool) {
    let spawned = std::thread::Builder::new()
        .name("crm-shutdown-deadline".into())
        .spawn(move || {
            std::thread::sleep(after);
            eprintln!(
                "crm-server: shutdown did not finish within {} ms; exiting now (every \
                 acknowledged write is already on disk)",
                after.as_millis()
            );
            std::process::exit(if engine_failed {
                i32::from(EX_TEMPFAIL)
            } else {
                1
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot arm the shutdown deadline");
    }
}

/// Publishes the store's size on disk every 10 seconds.
async fn report_store_size(store: Store) {
    loop {
        let s = store.clone();
        if let Ok(Ok(bytes)) = tokio::task::spawn_blocking(move || s.size_on_disk()).await {
            metrics::gauge!("crm_store_disk_bytes").set(bytes as f64);
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// Starts listening for SIGINT (Ctrl-C) and SIGTERM now, so a signal that arrives while the
/// server is still starting is not lost (or fatal), and returns a future that resolves on either.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown requested: finishing in-flight calls");
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: finishing in-flight calls");
    })
}

/// `crm-server compact`: the data directory rewritten with only its live keys.
fn compact(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let info = crm_store::privacy::compact(StoreConfig::new(data_dir))?;
    eprintln!(
        "compacted {}: {} keys, {} bytes before, {} after",
        data_dir.display(),
        info.keys,
        info.bytes_before,
        info.bytes_after
    );
    Ok(())
}
