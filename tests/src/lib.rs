//! # crm end-to-end test harness
//!
//! - [`TestServer`]: the real server (`crm_grpc::server::serve`) on `127.0.0.1:0` with a
//!   temporary data directory, in this process; stop it gracefully and start it again on the
//!   same directory.
//! - [`ServerProcess`]: the real `crm-server` binary as a child process, for what only a
//!   process can show (a `kill -9`, an exit code).
//! - Small helpers that keep the stories short: [`person`], [`code_of`], [`violations`].

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
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

/// Opens a store, retrying for a moment while a just-stopped server releases the directory.
pub fn open_store(dir: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open_with(StoreConfig::new(dir)) {
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

/// The path of the `crm-server` binary of this build, built first if needed.
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("CRM_SERVER_BIN") {
                return PathBuf::from(path);
            }
            // Test executables live in target/<profile>/deps; binaries in target/<profile>.
            let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .unwrap_or_else(|| panic!("odd test path"));
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "--quiet", "-p", "crm-grpc", "--bin", "crm-server"]);
            if release {
                build.arg("--release");
            }
            let status = build
                .status()
                .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
            assert!(status.success(), "building crm-server failed");
            profile_dir.join(format!("crm-server{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// The path of the `crm` command line of this build, built first if needed.
pub fn cli_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let server = server_binary();
            let dir = server.parent().unwrap_or_else(|| panic!("odd binary path"));
            let release = dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "--quiet", "-p", "crm-cli", "--bin", "crm"]);
            if release {
                build.arg("--release");
            }
            let status = build
                .status()
                .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
            assert!(status.success(), "building crm failed");
            dir.join(format!("crm{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// The path of an optimized `crm-server` (`cargo build --release`), built first if needed: for
/// the stories that move hundreds of thousands of rows, which a debug build would take many
/// minutes over. `CRM_SERVER_RELEASE_BIN` names one already built.
pub fn release_server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("CRM_SERVER_RELEASE_BIN") {
                return PathBuf::from(path);
            }
            let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
            let target = exe
                .parent()
                .and_then(Path::parent)
                .and_then(Path::parent)
                .unwrap_or_else(|| panic!("odd test path"));
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "--release",
                    "-p",
                    "crm-grpc",
                    "--bin",
                    "crm-server",
                ])
                .status()
                .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
            assert!(status.success(), "building crm-server --release failed");
            target
                .join("release")
                .join(format!("crm-server{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// The `crm-server` binary running as a child process.
#[derive(Debug)]
pub struct ServerProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
}

impl ServerProcess {
    /// Starts `crm-server` on `127.0.0.1:0` over `data_dir` with extra flags, and waits until it
    /// says where it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        ServerProcess::start_at(data_dir, "127.0.0.1:0", extra)
    }

    /// Starts `crm-server` listening on `listen` over `data_dir`.
    pub fn start_at(data_dir: &Path, listen: &str, extra: &[&str]) -> ServerProcess {
        let mut args = vec!["--listen", listen];
        args.extend_from_slice(extra);
        ServerProcess::try_start(data_dir, None, &args).unwrap_or_else(|(status, log)| {
            panic!("crm-server exited before listening ({status}):\n{log}")
        })
    }

    /// Starts the optimized `crm-server` ([`release_server_binary`]) on `127.0.0.1:0`.
    pub fn start_release(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        ServerProcess::spawn(release_server_binary(), data_dir, None, extra).unwrap_or_else(
            |(status, log)| panic!("crm-server exited before listening ({status}):\n{log}"),
        )
    }

    /// Starts `crm-server` on `127.0.0.1:0` with at most `nofile` open file descriptors.
    pub fn start_limited(data_dir: &Path, nofile: u32, extra: &[&str]) -> ServerProcess {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        ServerProcess::try_start(data_dir, Some(nofile), &args).unwrap_or_else(|(status, log)| {
            panic!("crm-server exited before listening ({status}):\n{log}")
        })
    }

    /// Starts `crm-server` over `data_dir` (on `127.0.0.1:0` unless `args` say otherwise):
    /// the running server, or how it exited and everything it wrote to stderr.
    pub fn try_start(
        data_dir: &Path,
        nofile: Option<u32>,
        args: &[&str],
    ) -> Result<ServerProcess, (std::process::ExitStatus, String)> {
        ServerProcess::spawn(server_binary(), data_dir, nofile, args)
    }

    fn spawn(
        binary: PathBuf,
        data_dir: &Path,
        nofile: Option<u32>,
        args: &[&str],
    ) -> Result<ServerProcess, (std::process::ExitStatus, String)> {
        let mut command = match nofile {
            // The limit is set by the shell that then becomes the server.
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\"")])
                    .arg(binary);
                c
            }
            None => Command::new(binary),
        };
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = command
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start crm-server: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let mut lines = BufReader::new(stderr).lines();
        let mut log = String::new();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    log.push_str(&line);
                    log.push('\n');
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        break addr
                            .parse()
                            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
                    }
                }
                _ => {
                    let status = child.wait().unwrap_or_else(|e| panic!("cannot wait: {e}"));
                    return Err((status, log));
                }
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Ok(ServerProcess { addr, child })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits at most `within` for the process to end: its exit status, or
    /// `None` when it was still running then (it is then killed).
    pub fn terminate_within(mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "cannot send SIGTERM");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Whether the process has ended, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process with SIGKILL: no shutdown, no flush.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "cannot send SIGTERM");
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("cannot wait: {e}"))
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
