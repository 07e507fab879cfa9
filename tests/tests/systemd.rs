//! The server under systemd (`deploy/crm-server.service`, `Type=notify`, `WatchdogSec=`): it
//! says READY=1 once it serves, pings the watchdog at half its interval, and says STOPPING=1
//! when asked to stop. The test plays the service manager: it owns the notify socket.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crm_tests::server_binary;

fn next_message(socket: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 4096];
    socket
        .recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn under_systemd_the_server_reports_ready_pings_the_watchdog_and_reports_stopping() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap_or_else(|e| panic!("{e}"));
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));

    // systemd names the watched process in WATCHDOG_PID: the shell that execs the server has
    // its pid.
    let mut child = Command::new("sh")
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\""])
        .arg(server_binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "300000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));

    let ready = next_message(&socket).unwrap_or_default();
    assert!(ready.contains("READY=1"), "{ready:?}");
    assert!(ready.contains("STATUS=serving on 127.0.0.1:"), "{ready:?}");

    // WatchdogSec=300ms: a ping at least every 150 ms while it runs.
    let started = Instant::now();
    let mut pings = 0;
    while pings < 4 {
        let message = next_message(&socket).unwrap_or_default();
        assert_eq!(message.trim_end(), "WATCHDOG=1");
        pings += 1;
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "four pings took {:?}",
        started.elapsed()
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success())
    );
    let stopping = loop {
        let message = next_message(&socket).unwrap_or_default();
        if message.trim_end() != "WATCHDOG=1" {
            break message;
        }
    };
    assert!(stopping.contains("STOPPING=1"), "{stopping:?}");
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "{status}");
}
