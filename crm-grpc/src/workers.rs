//! The server's background work: the loyalty sweep, the retention job and the automation rule
//! worker.

use std::time::Duration;

use crm_store::Store;
use tokio::sync::watch;

/// How often the background sweep writes due loyalty expiries (balances never wait for it).
const LOYALTY_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Materializes due loyalty expiries and tiers in the background, until shutdown. A failure is
/// logged and tried again next time: reads are exact without the sweep.
pub(crate) async fn loyalty_sweeps(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(LOYALTY_SWEEP_EVERY) => {}
            _ = stop.changed() => return,
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.loyalty().sweep(s.now())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the loyalty sweep failed; it runs again in a minute")
            }
            Err(e) => tracing::warn!(error = %e, "the loyalty sweep's task failed"),
        }
    }
}

/// How often the retention policy is applied.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Applies the retention policy every hour, until shutdown; on a store several servers share,
/// only in the one holding the `retention` lease. A failure is logged and tried again next time.
pub(crate) async fn retention(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RETENTION_EVERY) => {}
            _ = stop.changed() => return,
        }
        let s = store.clone();
        let ran = tokio::task::spawn_blocking(move || {
            if s.shared() && !s.take_lease("retention", RETENTION_EVERY)? {
                return Ok(None);
            }
            s.privacy().apply_retention().map(Some)
        })
        .await;
        match ran {
            Ok(Ok(Some(run))) if run.policy_version > 0 => tracing::info!(
                policy_version = run.policy_version,
                erased = run.done.erase.len(),
                customers_with_interactions_dropped = run.done.drop_interactions.len(),
                "retention policy applied"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "applying the retention policy failed; it runs again in an hour")
            }
            Err(e) => tracing::warn!(error = %e, "the retention job's task failed"),
        }
    }
}

/// The thread that runs the automation rules from the change log.
#[derive(Debug)]
pub(crate) struct RuleWorker {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RuleWorker {
    /// Starts the worker: a pass at once when the log grows, and every 250 ms; on a store
    /// several servers share, only while this server holds the `automation` lease.
    pub(crate) fn start(store: &Store, stop: watch::Receiver<bool>) -> std::io::Result<RuleWorker> {
        let store = store.clone();
        let thread = std::thread::Builder::new()
            .name("crm-rules".into())
            .spawn(move || run(&store, &stop))?;
        Ok(RuleWorker {
            thread: Some(thread),
        })
    }

    /// Waits for the worker to finish its pass (shutdown has been requested), at most 5 s.
    pub(crate) async fn stop(mut self) {
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout(Duration::from_secs(5), joined)
                .await
                .is_err()
            {
                tracing::warn!("the rule worker did not finish its pass within 5 s");
            }
        }
    }
}

fn run(store: &Store, stop: &watch::Receiver<bool>) {
    store.automation().serve(&|| *stop.borrow());
}
