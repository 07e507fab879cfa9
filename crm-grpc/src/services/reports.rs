//! `crm.v1.ReportService`: the portfolio report.

use chrono::Duration;
use crm_core::Violations;
use crm_core::report::ReportParams;
use crm_store::Store;
use tonic::{Request, Response, Status};

use crate::convert::feedback::figures_to_proto;
use crate::convert::{report_to_proto, time_from_proto};

/// Most segments one portfolio report splits feedback and tickets by.
const MAX_REPORT_SEGMENTS: usize = 20;
use crate::pb;
use crate::pb::report_service_server::ReportService;
use crate::services::common::blocking;
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

#[tonic::async_trait]
impl ReportService for ReportApi {
    async fn get_portfolio_report(
        &self,
        request: Request<pb::GetPortfolioReportRequest>,
    ) -> Result<Response<pb::PortfolioReport>, Status> {
        let pb::GetPortfolioReportRequest {
            as_of,
            period,
            period_start,
            currency_code,
            cohort_months,
            segment_ids,
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
        let max = crm_core::report::MAX_COHORT_MONTHS;
        let cohort_months = u32::try_from(cohort_months)
            .ok()
            .filter(|n| *n <= max)
            .unwrap_or_else(|| {
                v.add("cohort_months", format!("must be 0 (24) to {max}"));
                0
            });
        let mut segments = Vec::new();
        if segment_ids.len() > MAX_REPORT_SEGMENTS {
            v.add(
                "segment_ids",
                format!("at most {MAX_REPORT_SEGMENTS} segments"),
            );
        }
        for (i, id) in segment_ids.iter().enumerate() {
            match crate::convert::parse_segment_id(&format!("segment_ids[{i}]"), id) {
                Ok(id) => segments.push(id),
                Err(e) => v.0.extend(e.0),
            }
        }
        v.into_result(()).map_err(invalid)?;
        let params = ReportParams {
            as_of,
            period_start: explicit_start.unwrap_or(as_of - Duration::days(days)),
            currency: currency_code,
            cohort_months,
        };
        let (report, care) = blocking(self.store.clone(), Fields::Request, move |s| {
            let report = s.reports().portfolio(params)?;
            // The report covers what happened by as_of, as_of included.
            let to = report.params.as_of + Duration::microseconds(1);
            let (from, to) = (report.params.period_start, to);
            let care = s.reports().care(from, to, &segments)?;
            Ok((report, care))
        })
        .await?;
        let mut out = report_to_proto(&report);
        out.feedback = Some(figures_to_proto(&care.feedback));
        out.open_tickets = i64::try_from(care.open_tickets).unwrap_or(i64::MAX);
        out.segments = care
            .segments
            .iter()
            .map(|s| pb::PortfolioSegment {
                segment_id: s.id.to_string(),
                name: s.name.clone(),
                members: i64::try_from(s.members).unwrap_or(i64::MAX),
                feedback: Some(figures_to_proto(&s.feedback)),
                open_tickets: i64::try_from(s.open_tickets).unwrap_or(i64::MAX),
            })
            .collect();
        Ok(Response::new(out))
    }
}
