//! The portfolio report: the counts the store keeps (when it is asked about the present) and
//! one streaming pass over the customers in id order, each with its
//! timeline (one customer's entries in memory at a time), fed to `crm_core::report`. Nothing
//! but the per-customer figures the report ranks (revenue, CLV, RFM inputs: three numbers a
//! customer) is kept across customers.

mod segments;

pub use segments::{CareFigures, SegmentFigures};

use crm_core::report::{PortfolioReport, ReportBuilder, ReportParams};
use crm_core::{Customer, ValueRules, Violations};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::kv::{codec, keys};

crate::store::handle!(
    /// Reports over the whole portfolio.
    Reports,
    reports
);

impl Store {
    /// [`Store::portfolio_report`] with CLVs projected by `value_rules`.
    pub(crate) fn portfolio_report_with(
        &self,
        mut params: ReportParams,
        value_rules: &ValueRules,
    ) -> Result<PortfolioReport> {
        let mut v = Violations::default();
        match crm_core::money::normalize_currency(&params.currency) {
            Ok(code) => params.currency = code,
            Err(why) => v.add("currency_code", why),
        }
        if params.period_start > params.as_of {
            v.add("period_start", "must not be after as_of");
        }
        v.into_result(())?;
        let model = self.insights().scoring_model();
        let config = &self.inner.config;
        let mut builder = ReportBuilder::new(params, &config.rules, &model, value_rules);
        for item in self.inner.engine.scan_prefix(&[keys::CUSTOMER]) {
            let (key, value) = item?;
            let customer: Customer = match codec::decode(&value, &|| keys::describe(&key)) {
                Ok(c) => c,
                Err(e) => {
                    skipped(&e);
                    continue;
                }
            };
            let timeline = match self.timeline().entries(customer.id) {
                Ok(entries) => entries,
                Err(e @ StoreError::Corrupt { .. }) => {
                    skipped(&e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            builder.add(&customer, &timeline);
        }
        if !builder.revenue_fits() {
            return Err(Violations::one(
                "period_start",
                "the period's revenue passes 9,223,372,036,854,775,807 minor units, more than a \
                 report's amount carries: ask for a shorter period",
            )
            .into());
        }
        let mut report = builder.finish();
        // At the present (no write since `as_of`, which is not in the future), the counts by
        // kind, stage, status and temperature are the ones the store keeps (in the write
        // batch and the derived index); a past or future `as_of` needs the pass's own, which
        // replay stage changes.
        if let Some(counts) = self.counts_as_of(report.params.as_of)? {
            report.by_kind = counts.by_kind();
            report.by_stage = counts.by_stage();
            report.by_status = counts.by_status;
            report.by_temperature = counts.by_temperature;
        }
        Ok(report)
    }
}

fn skipped(e: &StoreError) {
    tracing::error!(error = %e, "damaged data left out of a portfolio report");
    metrics::counter!("crm_damaged_records_skipped_total").increment(1);
}

impl Reports<'_> {
    /// The portfolio as of `params.as_of`, over the period from `params.period_start`.
    ///
    /// Errors: [`StoreError::Invalid`] (a period that ends before it starts, a currency that is
    /// not ISO 4217). A damaged record or entry is left out, logged and counted, like in a
    /// listing; `verify()` names it.
    pub fn portfolio(&self, params: ReportParams) -> Result<PortfolioReport> {
        self.portfolio_report_with(params, &self.insights().value_rules())
    }
}
