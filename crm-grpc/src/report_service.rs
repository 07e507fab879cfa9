//! `crm.v1.ReportService`: the portfolio report.

use chrono::Duration;
use crm_core::report::{PortfolioReport, ReportParams};
use crm_core::{RelationshipStatus, Violations};
use crm_store::Store;
use tonic::{Request, Response, Status};

use crate::auth::require;
use crate::call::{observe, request_id};
use crate::convert::{stage_to_proto, time_from_proto, time_to_proto};
use crate::customer_service::blocking;
use crate::keys::Role;
use crate::pb;
use crate::pb::report_service_server::ReportService;
use crate::status::{Fields, invalid};

/// The report service over a store.
#[derive(Clone, Debug)]
pub struct ReportApi {
    store: Store,
}

impl ReportApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        ReportApi { store }
    }
}

fn counts<K>(
    map: &std::collections::BTreeMap<K, u64>,
    name: impl Fn(&K) -> String,
) -> Vec<pb::NamedCount> {
    map.iter()
        .map(|(k, n)| pb::NamedCount {
            name: name(k),
            count: i64::try_from(*n).unwrap_or(i64::MAX),
        })
        .collect()
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn report_to_proto(r: &PortfolioReport) -> pb::PortfolioReport {
    let currency = &r.params.currency;
    let money = |minor: Option<i64>| {
        minor.map(|amount_minor| pb::Money {
            currency_code: currency.clone(),
            amount_minor,
        })
    };
    pb::PortfolioReport {
        as_of: Some(time_to_proto(r.params.as_of)),
        period_start: Some(time_to_proto(r.params.period_start)),
        currency_code: currency.clone(),
        customers: int(r.customers),
        by_kind: counts(&r.by_kind, |k| k.name().to_owned()),
        by_stage: counts(&r.by_stage, |s| s.name().to_owned()),
        by_status: counts(&r.by_status, |s: &RelationshipStatus| s.name().to_owned()),
        by_temperature: counts(&r.by_temperature, |t| t.name().to_owned()),
        funnel: r
            .funnel
            .iter()
            .map(|s| pb::FunnelStep {
                stage: stage_to_proto(s.stage) as i32,
                reached: int(s.reached),
                conversion_to_next: s.conversion_to_next,
                median_days_to_next: s.median_days_to_next,
            })
            .collect(),
        customers_at_start: int(r.customers_at_start),
        customers_at_end: int(r.customers_at_end),
        new_in_period: int(r.new_in_period),
        retention_rate: r.retention_rate,
        churn_rate: r.churn_rate,
        revenue: money(Some(r.revenue_minor)),
        paying_customers: int(r.paying_customers),
        top20_revenue_share: r.top20_revenue_share,
        clv_mean: money(r.clv_mean_minor),
        clv_median: money(r.clv_median_minor),
        clv_p90: money(r.clv_p90_minor),
        rfm_groups: counts(&r.rfm_groups, |g| (*g).to_owned()),
        cohorts: r
            .cohorts
            .iter()
            .map(|c| pb::Cohort {
                month: c.month.clone(),
                customers: int(c.customers),
                retention: c.retention.clone(),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    async fn get_portfolio_report(
        &self,
        request: Request<pb::GetPortfolioReportRequest>,
    ) -> Result<Response<pb::PortfolioReport>, Status> {
        observe(
            "GetPortfolioReport",
            request_id(&request).as_deref(),
            async {
                require(&request, Role::Reader)?;
                let pb::GetPortfolioReportRequest {
                    as_of,
                    period,
                    period_start,
                    currency_code,
                } = request.into_inner();
                let mut v = Violations::default();
                // Report times are kept between 1970 and 9999, so the period and window
                // arithmetic can never leave chrono's range.
                let mut time = |t: Option<prost_types::Timestamp>, field: &str| {
                    t.and_then(|t| {
                        time_from_proto(&t)
                            .filter(|t| (0..=253_402_300_799).contains(&t.timestamp()))
                            .or_else(|| {
                                v.add(field, "must be a time from 1970 to 9999");
                                None
                            })
                    })
                };
                // "Now" is the store's clock, as for every time the store assigns.
                let as_of = time(as_of, "as_of").unwrap_or_else(|| self.store.config().clock.now());
                let explicit_start = time(period_start, "period_start");
                let days = match pb::ReportPeriod::try_from(period) {
                    Ok(pb::ReportPeriod::PeriodMonth) => 30,
                    Ok(pb::ReportPeriod::PeriodQuarter) => 91,
                    Ok(pb::ReportPeriod::PeriodYear | pb::ReportPeriod::Unspecified) => 365,
                    Err(_) => {
                        v.add(
                            "period",
                            "must be PERIOD_MONTH, PERIOD_QUARTER or PERIOD_YEAR",
                        );
                        365
                    }
                };
                v.into_result(()).map_err(invalid)?;
                let params = ReportParams {
                    as_of,
                    period_start: explicit_start.unwrap_or(as_of - Duration::days(days)),
                    currency: currency_code,
                };
                let report = blocking(self.store.clone(), Fields::Request, move |s| {
                    s.portfolio_report(params)
                })
                .await?;
                Ok(Response::new(report_to_proto(&report)))
            },
        )
        .await
    }
}
