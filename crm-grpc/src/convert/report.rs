//! The portfolio report as a `crm.v1` message.

use crm_core::RelationshipStatus;
use crm_core::report::PortfolioReport;

use super::customer::stage_to_proto;
use super::time_to_proto;
use crate::pb;

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

/// A portfolio report as a message.
pub fn report_to_proto(r: &PortfolioReport) -> pb::PortfolioReport {
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
        customers_kept: int(r.customers_kept),
        kept_rate: r.kept_rate,
        // Filled by the service from the feedback and support domains.
        feedback: None,
        open_tickets: 0,
        segments: Vec::new(),
        revenue: money(Some(r.revenue_minor)),
        paying_customers: int(r.paying_customers),
        top20_revenue_share: r.top20_revenue_share,
        clv_mean: money(r.clv_mean_minor),
        clv_median: money(r.clv_median_minor),
        clv_p90: money(r.clv_p90_minor),
        revenue_concentration: r.revenue_concentration.clone(),
        clv_deciles: r
            .clv_deciles_minor
            .iter()
            .filter_map(|&m| money(Some(m)))
            .collect(),
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
