//! The real binaries as child processes: where cargo built them, [`ServerProcess`] (start,
//! read its log, SIGTERM, `kill -9`), and the metrics endpoint.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `cargo build --quiet`, in the environment `cargo test` itself ran in.
///
/// cargo gives a test process its package's variables (CARGO_MANIFEST_DIR, CARGO_PKG_*, ..).
/// Some build scripts watch them (ring's do): passed on, cargo would rerun those scripts and
/// rebuild everything above them.
fn cargo_build() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet"]);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*name,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            )
        {
            build.env_remove(&*name);
        }
    }
    build
}

/// The directory of this build's `crm-server` and `crm`, built first if needed.
///
/// They are built with the selection `cargo test --workspace` makes (every member, test targets
/// included), so that cargo resolves the dependencies' features as it did for the running
/// tests and finds everything already built, in the environment that `cargo test` itself had.
/// Built with `-p crm-grpc`, fewer features are resolved: cargo rebuilt shared dependencies over
/// the test build's, then every test binary on the next `cargo test`.
fn built_binaries() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Test executables live in target/<profile>/deps; binaries in target/<profile>.
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or_else(|| panic!("odd test path"));
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = cargo_build();
        build.args([
            "--workspace",
            "--tests",
            "--bin",
            "crm-server",
            "--bin",
            "crm",
        ]);
        if release {
            build.arg("--release");
        }
        let status = build
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        assert!(status.success(), "building crm-server and crm failed");
        profile_dir.to_path_buf()
    })
    .clone()
}

/// The path of the `crm-server` binary of this build, built first if needed
/// (`CRM_SERVER_BIN` names another).
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CRM_SERVER_BIN") {
        return PathBuf::from(path);
    }
    built_binaries().join(format!("crm-server{}", std::env::consts::EXE_SUFFIX))
}

/// The path of the `crm` command line of this build, built first if needed.
pub fn cli_binary() -> PathBuf {
    built_binaries().join(format!("crm{}", std::env::consts::EXE_SUFFIX))
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
            let status = cargo_build()
                .args(["--release", "-p", "crm-grpc", "--bin", "crm-server"])
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
    log: std::sync::Arc<std::sync::Mutex<String>>,
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
        ServerProcess::spawn(release_server_binary(), data_dir, None, extra, "info").unwrap_or_else(
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
        ServerProcess::spawn(server_binary(), data_dir, nofile, args, "info")
    }

    /// Starts `crm-server` with `RUST_LOG=rust_log`; [`ServerProcess::log`] reads what it wrote.
    pub fn start_logging(data_dir: &Path, rust_log: &str, args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(server_binary(), data_dir, None, args, rust_log).unwrap_or_else(
            |(status, log)| panic!("crm-server exited before listening ({status}):\n{log}"),
        )
    }

    /// Everything the server has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn spawn(
        binary: PathBuf,
        data_dir: &Path,
        nofile: Option<u32>,
        args: &[&str],
        rust_log: &str,
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
            .env("RUST_LOG", rust_log)
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
        // Keep draining its log so it never blocks on a full pipe, and keep it for the test.
        let kept = std::sync::Arc::new(std::sync::Mutex::new(log));
        let writer = std::sync::Arc::clone(&kept);
        std::thread::spawn(move || {
            for line in lines.by_ref().map_while(Result::ok) {
                if let Ok(mut log) = writer.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        Ok(ServerProcess {
            addr,
            child,
            log: kept,
        })
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

    /// Sends SIGTERM and returns the exit status with everything the server logged.
    pub fn terminate_logged(self) -> (std::process::ExitStatus, String) {
        let log = std::sync::Arc::clone(&self.log);
        let status = self.terminate();
        // The log reader ends with the process's stderr.
        std::thread::sleep(Duration::from_millis(50));
        let text = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (status, text)
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

/// A free port on loopback, as `127.0.0.1:PORT` (for a flag such as --metrics-listen).
pub fn free_loopback_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    format!("127.0.0.1:{port}")
}

/// The Prometheus text a server's `--metrics-listen` address serves at `/metrics`.
pub fn scrape_metrics(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}
