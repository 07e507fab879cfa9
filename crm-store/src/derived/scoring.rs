//! The lead-scoring model (stored, versioned, cached in memory) and what is derived about a
//! customer when it is read: summary, relationship status, lead score.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_core::report::{RfmDistribution, rfm_inputs};
use crm_core::{Customer, CustomerId, Filter, Insight, ScoringModel, Summary};

use crate::Store;
use crate::derived::Insights;
use crate::error::Result;
use crate::kv::Kv;
use crate::kv::{codec, keys};
use crate::timeline::Timeline;

/// How long an RFM distribution serves filters before it is computed again.
const RFM_FRESH_FOR: Duration = Duration::from_secs(60);

/// RFM distributions per currency, with when each was computed.
pub(crate) type RfmCache = BTreeMap<String, (Instant, Arc<RfmDistribution>)>;

/// The stored model, or the default one for a store that never replaced it.
pub(crate) fn load_model(engine: &Kv) -> Result<ScoringModel> {
    match engine.get(keys::META_SCORING_MODEL)? {
        Some(bytes) => codec::decode(&bytes, &|| keys::describe(keys::META_SCORING_MODEL)),
        None => Ok(ScoringModel::default()),
    }
}

impl Store {
    /// What a filter needs to know about a customer: its insight, with its RFM group (in its
    /// main currency) when the filter names `rfm_group`.
    pub(crate) fn insight_for(
        &self,
        filter: &Filter,
        customer: &Customer,
        now: DateTime<Utc>,
    ) -> Result<Insight> {
        let summary = self.timeline().summary(customer.id)?;
        self.insight_from(filter, customer, summary, now)
    }

    /// What is derived about a customer from its `summary` (read by the caller, from the
    /// store or a snapshot) at `now`, with its RFM group if `filter` needs one.
    pub(crate) fn insight_from(
        &self,
        filter: &Filter,
        customer: &Customer,
        summary: Summary,
        now: DateTime<Utc>,
    ) -> Result<Insight> {
        let mut insight = self.insight_at(customer, summary, now);
        if filter.uses_rfm()
            && let Some(currency) = insight.main_value().map(|v| v.currency.clone())
        {
            let distribution = self.insights().rfm_distribution(&currency)?;
            insight.rfm_group = rfm_inputs(&insight.summary, &currency, now)
                .map(|inputs| distribution.group(inputs));
        }
        if filter.uses_loyalty() {
            insight.loyalty = Some(self.loyalty().standing(customer.id, now)?);
        }
        Ok(insight)
    }

    pub(crate) fn insight_with(&self, customer: &Customer, summary: Summary) -> Insight {
        self.insight_at(customer, summary, self.now())
    }

    fn insight_at(&self, customer: &Customer, summary: Summary, now: DateTime<Utc>) -> Insight {
        Insight::derive(
            customer,
            summary,
            &self.insights().scoring_model(),
            &self.inner.config.rules,
            &self.insights().value_rules(),
            now,
        )
    }
}

impl Insights<'_> {
    /// The lead-scoring model in force.
    ///
    /// On an engine other processes write to, the model is read from the store on every call
    /// (another replica may have replaced it); a model that cannot be read is the last one
    /// read, and the failure is logged.
    pub fn scoring_model(&self) -> Arc<ScoringModel> {
        if self.inner.engine.engine().shared() {
            match load_model(&self.inner.engine) {
                Ok(model) => {
                    let model = Arc::new(model);
                    let mut cached = self.inner.model.write().unwrap_or_else(|e| e.into_inner());
                    *cached = Arc::clone(&model);
                    return model;
                }
                Err(e) => tracing::error!(error = %e, "cannot read the scoring model"),
            }
        }
        let guard = self.inner.model.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    /// Replaces the lead-scoring model. With `etag` (`v` and the version), only if the model
    /// in force is still that version. The new model gets the next version; every score
    /// follows it from the next read on, without rewriting any customer.
    ///
    /// Errors: [`StoreError::Invalid`] (every bad field), [`StoreError::Aborted`] (stale etag).
    pub fn replace_scoring_model(
        &self,
        mut model: ScoringModel,
        etag: Option<&str>,
    ) -> Result<ScoringModel> {
        model.validate()?;
        let model = self.write(|w| {
            // Read from disk, not the cache: a replacement that just committed may not have
            // reached the cache yet.
            let current: ScoringModel = w
                .read(keys::META_SCORING_MODEL, &|| {
                    keys::describe(keys::META_SCORING_MODEL)
                })?
                .unwrap_or_default();
            crate::customers::check_etag(&format!("v{}", current.version), etag)?;
            let mut model = model.clone();
            model.version = current.version + 1;
            w.put_raw(keys::META_SCORING_MODEL, codec::encode(&model)?);
            let fields = [
                ("fit_rules", current.fit_rules != model.fit_rules),
                (
                    "engagement_points",
                    current.engagement_points != model.engagement_points,
                ),
                (
                    "half_life_days",
                    current.half_life_days != model.half_life_days,
                ),
                (
                    "warm_threshold",
                    current.warm_threshold != model.warm_threshold,
                ),
                (
                    "hot_threshold",
                    current.hot_threshold != model.hot_threshold,
                ),
            ]
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(field, _)| field.to_owned())
            .collect();
            w.log_configuration("UpdateScoringModel", "scoring model".into(), fields)?;
            Ok(model)
        })?;
        Ok(model)
    }

    /// What is derived about a customer now: summary, relationship status, lead score and
    /// state, under the model in force and the store's rules.
    pub fn insight(&self, customer: &Customer) -> Result<Insight> {
        let summary = self.timeline().summary(customer.id)?;
        Ok(self.insight_with(customer, summary))
    }

    /// The portfolio's RFM distribution in `currency`: one pass over the summaries, reused for
    /// a minute (RFM scores are quintiles over the whole portfolio, so one customer's group
    /// needs everyone's figures).
    pub fn rfm_distribution(&self, currency: &str) -> Result<Arc<RfmDistribution>> {
        let cached = {
            let cache = self.inner.rfm.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(currency).cloned()
        };
        if let Some((at, distribution)) = cached
            && at.elapsed() < RFM_FRESH_FOR
        {
            return Ok(distribution);
        }
        let now = self.now();
        let mut inputs = Vec::new();
        for item in self.inner.engine.scan_prefix(&[keys::SUMMARY]) {
            let (key, value) = item?;
            match codec::decode::<Summary>(&value, &|| keys::describe(&key)) {
                Ok(s) => inputs.extend(rfm_inputs(&s, currency, now)),
                Err(e) => tracing::error!(error = %e, "damaged summary left out of RFM"),
            }
        }
        let distribution = Arc::new(RfmDistribution::new(inputs));
        let mut cache = self.inner.rfm.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(
            currency.to_owned(),
            (Instant::now(), Arc::clone(&distribution)),
        );
        Ok(distribution)
    }
}

impl Timeline<'_> {
    /// A customer's summary (empty for a customer with no timeline).
    pub fn summary(&self, id: CustomerId) -> Result<Summary> {
        let key = keys::of_customer(keys::SUMMARY, id);
        let summary = self.inner.engine.get_decoded(key, |bytes| {
            codec::decode(bytes, &|| format!("summary of {id}"))
        })?;
        Ok(summary.unwrap_or_default())
    }
}
