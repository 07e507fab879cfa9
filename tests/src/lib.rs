//! # crm end-to-end test harness
//!
//! - [`TestServer`]: the real server (`crm_grpc::server::serve`) on `127.0.0.1:0` with a
//!   temporary data directory, in this process; stop it gracefully and start it again on the
//!   same directory.
//! - [`ServerProcess`]: the real `crm-server` binary as a child process, for what only a
//!   process can show (a `kill -9`, an exit code).
//! - Small helpers that keep the stories short: [`person`], [`code_of`], [`violations`].

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub use crm_grpc::pb;
use crm_grpc::server::ServerConfig;
use crm_store::{Store, StoreConfig};
use pb::customer_service_client::CustomerServiceClient;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_types::StatusExt;

mod process;
pub use process::{
    ServerProcess, cli_binary, free_loopback_addr, release_server_binary, scrape_metrics,
    server_binary,
};

/// A gRPC client of the customer service.
pub type Client = CustomerServiceClient<Channel>;

/// The server running in this process.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), crm_grpc::server::ServeError>>,
}

impl TestServer {
    /// Starts a server on a new, empty data directory.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        TestServer::start_in(dir).await
    }

    /// Starts a server on an existing data directory.
    pub async fn start_in(dir: TempDir) -> TestServer {
        TestServer::start_with(dir, |_| {}).await
    }

    /// Starts a server on a data directory with a configuration adjusted by `configure`.
    pub async fn start_with(dir: TempDir, configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let store = open_store(dir.path());
        TestServer::start_on(dir, store, configure).await
    }

    /// Starts a server on a new data directory whose store tells time by `clock`, so a test
    /// can let days pass.
    pub async fn start_with_clock(clock: std::sync::Arc<crm_store::ManualClock>) -> TestServer {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        let store = Store::open_with(StoreConfig::new(dir.path()).clock(clock))
            .unwrap_or_else(|e| panic!("cannot open the store: {e}"));
        TestServer::start_on(dir, store, |_| {}).await
    }

    /// Starts a server on a store the test opened itself (with its own clock or rules).
    pub async fn start_with_store(dir: TempDir, store: Store) -> TestServer {
        TestServer::start_on(dir, store, |_| {}).await
    }

    async fn start_on(
        dir: TempDir,
        store: Store,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = ServerConfig::new(dir.path());
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local addr: {e}"));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(crm_grpc::server::serve(listener, store, config, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            dir,
            stop: Some(stop),
            task,
        }
    }

    /// A connected client.
    pub async fn client(&self) -> Client {
        connect(self.addr).await
    }

    /// A channel to the server, for the other services (health, reflection).
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap_or_else(|e| panic!("bad uri: {e}"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot connect: {e}"))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server gracefully (as SIGTERM does) and returns its data directory.
    pub async fn stop(mut self) -> TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("server stopped with an error: {e}"),
            Err(e) => panic!("server task failed: {e}"),
        }
        self.dir
    }
}

/// Opens a store with the embedded engine its directory holds (sled if new), retrying for a
/// moment while a just-stopped server releases the directory.
pub fn open_store(dir: &Path) -> Store {
    let engine = crm_store::Embedded::found_in(dir).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open_with(StoreConfig::new(dir).engine(engine)) {
            Ok(store) => return store,
            Err(crm_store::StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open the store: {e}"),
        }
    }
}

/// Connects a client to an address, retrying briefly while the server comes up.
pub async fn connect(addr: SocketAddr) -> Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match CustomerServiceClient::connect(format!("http://{addr}")).await {
            Ok(client) => return client,
            Err(e) if Instant::now() > deadline => panic!("cannot connect to {addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A person with a given name and, when not empty, one email.
pub fn person(given_name: &str, email: &str) -> pb::Customer {
    pb::Customer {
        party: Some(pb::customer::Party::Person(pb::Person {
            given_name: given_name.into(),
            ..Default::default()
        })),
        emails: if email.is_empty() {
            Vec::new()
        } else {
            vec![pb::Email {
                address: email.into(),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

/// An organization with a legal name.
pub fn organization(legal_name: &str) -> pb::Customer {
    pb::Customer {
        party: Some(pb::customer::Party::Organization(pb::Organization {
            legal_name: legal_name.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Asks to create a customer: the answer, whatever it is.
pub async fn try_create(
    client: &mut Client,
    customer: pb::Customer,
) -> Result<pb::Customer, tonic::Status> {
    client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Drops a PostgreSQL schema a story made (with `psql`, which comes with PostgreSQL).
pub fn drop_postgres_schema(url: &str, schema: &str) {
    let dropped = Command::new("psql")
        .arg(url)
        .args(["-qc", &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")])
        .status();
    assert!(
        dropped.is_ok_and(|s| s.success()),
        "cannot drop schema {schema}"
    );
}

/// Creates a customer and returns it, failing the test on an error.
pub async fn create(client: &mut Client, customer: pb::Customer) -> pb::Customer {
    client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("create failed: {s:?}"))
        .into_inner()
}

/// A request carrying an API key (`authorization: Bearer KEY`).
pub fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = tonic::metadata::MetadataValue::try_from(format!("Bearer {key}")) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// The code of a failed call, failing the test if the call succeeded.
pub fn code_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Code {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => s.code(),
    }
}

/// The field paths of a status's BadRequest violations.
pub fn violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// The reason of a status's ErrorInfo.
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The refusal of a call that had to be refused with `code` and the `ErrorInfo` reason `why`.
pub fn refused<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    why: &str,
) -> tonic::Status {
    match result {
        Err(status) => {
            assert_eq!(
                (status.code(), reason(&status).as_str()),
                (code, why),
                "{status:?}"
            );
            status
        }
        Ok(answer) => panic!("expected {code:?} {why}, the call was accepted: {answer:?}"),
    }
}

/// A time from its RFC 3339 text.
pub fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Every customer, walking all pages of a list.
pub async fn list_all(
    client: &mut Client,
    filter: &str,
    order_by: &str,
    page_size: i32,
) -> Vec<pb::Customer> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_customers(pb::ListCustomersRequest {
                page_size,
                page_token: page_token.clone(),
                filter: filter.into(),
                order_by: order_by.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("list failed: {s:?}"))
            .into_inner();
        out.extend(page.customers);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// A small, seedable random source (xorshift64*), so a failing run can be replayed.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One raw HTTP/2 connection to `addr` (driven in the background), for what a gRPC client will
/// not do: bodies that never end, streams reset at once.
pub async fn h2_connection(addr: SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}
