//! The CLV lifespan derived from the portfolio's churn rate (when the configuration asks for
//! it): one over the churn of the year that ends now, measured as the share of the customers
//! at the year's start who are no longer customers at its end (1 - the report's kept rate). That
//! share is always in [0, 1]; the report's classic retention, (end - new) / start, is not, and
//! a negative churn would make no lifespan.
//!
//! Measuring it is a pass over every timeline, so it is not done on a read: the first read
//! that finds no figure, or one older than [`LIFESPAN_FRESH_FOR`], starts the pass on a thread
//! of its own and goes on with the figure it has (the configured lifespan until the first pass
//! ends). Every value says which lifespan it used and where it came from.
//! [`Store::refresh_clv_lifespan`] measures it at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_core::ValueRules;
use crm_core::report::ReportParams;

use crate::Store;
use crate::derived::Insights;
use crate::error::Result;
use crate::kv::keys;

/// How long a derived lifespan serves before it is measured again. The churn of a whole
/// year barely moves in an hour.
pub const LIFESPAN_FRESH_FOR: Duration = Duration::from_secs(3600);

/// A measurement as stored for every process sharing the store (`Mlifespan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Measured {
    /// When it was measured, by the store's clock.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub(crate) at: DateTime<Utc>,
    /// The rules it gave.
    pub(crate) rules: ValueRules,
}

impl crate::kv::codec::Stored for Measured {}

/// The lease name of the measurement: one process measures at a time.
const LEASE: &str = "clv-lifespan";

/// The derived lifespan and the state of its measurement.
#[derive(Debug, Default)]
pub(crate) struct LifespanCache {
    /// The rules last measured, and when (by the host's clock and by the store's).
    measured: Option<(Instant, DateTime<Utc>, ValueRules)>,
    /// A pass is running.
    measuring: bool,
}

impl Store {
    fn measure_lifespan(&self, configured: ValueRules, now: DateTime<Utc>) -> Result<ValueRules> {
        // (A clock at chrono's lower bound has no year before it: then there is nothing to
        // measure.)
        let Some(year_ago) = now.checked_sub_signed(chrono::Duration::days(365)) else {
            return Ok(configured);
        };
        // The report needs a currency for its revenue figures; its churn figure counts
        // customers, whatever they paid in.
        let report = self.portfolio_report_with(
            ReportParams {
                as_of: now,
                period_start: year_ago,
                currency: "USD".into(),
                cohort_months: 0,
            },
            &configured,
        )?;
        let rules = report
            .kept_rate
            .and_then(|kept| configured.with_churn(1.0 - kept))
            .unwrap_or(configured);
        tracing::info!(
            lifespan_tenths = rules.lifespan_tenths,
            source = ?rules.lifespan_source,
            "CLV lifespan measured"
        );
        Ok(rules)
    }
}

impl Insights<'_> {
    /// How CLV is projected now: the configured rules, or, when the configuration derives the
    /// lifespan from churn, the rules last measured (the configured ones until the first
    /// measurement ends). A missing or old measurement starts a new one in the background.
    pub fn value_rules(&self) -> ValueRules {
        let configured = self.inner.config.value_rules;
        if !self.inner.config.lifespan_from_churn {
            return configured;
        }
        let mut cache = self
            .inner
            .lifespan
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let current = cache.measured.map_or(configured, |(_, _, rules)| rules);
        // Old by either clock: the store's may be a test's, or moved by an operator.
        let now = self.now();
        let stale = cache.measured.is_none_or(|(at, store_at, _)| {
            at.elapsed() >= LIFESPAN_FRESH_FOR
                || (now - store_at).abs()
                    >= chrono::Duration::from_std(LIFESPAN_FRESH_FOR).unwrap_or_default()
        });
        if stale && !cache.measuring {
            cache.measuring = true;
            let weak = Arc::downgrade(&self.inner);
            let spawned = std::thread::Builder::new()
                .name("crm-clv-lifespan".into())
                .spawn(move || {
                    // The store may have closed meanwhile: then there is nothing to measure.
                    if let Some(inner) = weak.upgrade() {
                        let store = Store::from_inner(inner);
                        if let Err(e) = store.insights().refresh_or_adopt() {
                            tracing::error!(error = %e, "measuring the CLV lifespan failed");
                        }
                    }
                });
            if let Err(e) = spawned {
                cache.measuring = false;
                tracing::error!(error = %e, "cannot start measuring the CLV lifespan");
            }
        }
        current
    }

    /// Measures the portfolio's churn over the year that ends now and, when the configuration
    /// derives the CLV lifespan from it, uses it from now on. Returns the rules in force
    /// afterwards: the configured ones if the year had no customers at its start, or lost
    /// none of them.
    ///
    /// Errors: as [`Store::portfolio_report`] (reading the store).
    pub fn refresh_clv_lifespan(&self) -> Result<ValueRules> {
        let configured = self.inner.config.value_rules;
        let now = self.now();
        let outcome = self.measure_lifespan(configured, now).and_then(|rules| {
            // Published for every process sharing the store.
            let measured = crate::kv::codec::encode(&Measured { at: now, rules })?;
            self.write_with(false, |w| {
                w.put_raw(keys::META_LIFESPAN, &measured);
                Ok(())
            })?;
            Ok(rules)
        });
        self.adopt(outcome.map(|rules| Measured { at: now, rules }))
    }

    /// The background measurement: this process measures if it takes the lease; otherwise
    /// another one does, and this one adopts what it published (the configured rules until it
    /// has).
    fn refresh_or_adopt(&self) -> Result<ValueRules> {
        let leased = self.take_lease(LEASE, LIFESPAN_FRESH_FOR);
        match leased {
            Ok(true) => self.refresh_clv_lifespan(),
            Ok(false) => {
                let published = self
                    .inner
                    .engine
                    .get(keys::META_LIFESPAN)
                    .and_then(|v| match v {
                        Some(bytes) => crate::kv::codec::decode::<Measured>(&bytes, &|| {
                            keys::describe(keys::META_LIFESPAN)
                        })
                        .map(Some),
                        None => Ok(None),
                    });
                match published {
                    Ok(Some(measured)) => self.adopt(Ok(measured)),
                    // Nothing published yet: try again at the next read.
                    Ok(None) => self.adopt(Err(crate::StoreError::Storage(
                        "the CLV lifespan is being measured by another process".into(),
                    ))),
                    Err(e) => self.adopt(Err(e)),
                }
            }
            Err(e) => self.adopt(Err(e)),
        }
    }

    /// Ends a measurement: keeps its result (when the configuration derives the lifespan).
    fn adopt(&self, outcome: Result<Measured>) -> Result<ValueRules> {
        let configured = self.inner.config.value_rules;
        let mut cache = self
            .inner
            .lifespan
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache.measuring = false;
        let measured = outcome?;
        if self.inner.config.lifespan_from_churn {
            cache.measured = Some((Instant::now(), measured.at, measured.rules));
            Ok(measured.rules)
        } else {
            Ok(configured)
        }
    }
}
