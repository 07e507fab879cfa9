//! The systemd notify protocol (`Type=notify`): READY=1 once the server listens, STOPPING=1
//! when shutdown starts, and, when the unit sets `WatchdogSec=`, WATCHDOG=1 at half the
//! interval for as long as the runtime runs and the storage engine accepts writes, so a hung
//! process or a failed engine is restarted. Without `NOTIFY_SOCKET` (not run by systemd) each
//! call does nothing.

use std::time::Duration;

use crm_store::Store;
use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// The server is serving: `status` is what `systemctl status` shows.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Shutdown has started.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
}

/// Pings the watchdog at half its interval while the engine accepts writes (a failed engine
/// makes the server exit anyway; the missing pings cover a process that hangs instead).
pub async fn watchdog(store: Store) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2).max(Duration::from_millis(10));
    tracing::info!("systemd watchdog: pinging every {} ms", every.as_millis());
    loop {
        if store.failure().is_some() {
            return;
        }
        send(&[NotifyState::Watchdog]);
        tokio::time::sleep(every).await;
    }
}
