//! What is derived about a customer (summary, status, lead score, value) and the lead-scoring
//! model, between `crm.v1` messages and `crm-core` types.

use std::collections::BTreeMap;

use crm_core::scoring::{FitField, FitRule};
use crm_core::{
    Customer, Insight, LeadStatus, LifespanSource, RelationshipStatus, ScoringModel, Temperature,
    Violations,
};

use super::customer::customer_to_proto;
use super::timeline::{kind_from_proto, kind_to_proto, summary_to_proto};
use crate::pb;

/// A customer with what is derived about it (summary, status, lead score), its personal data
/// masked unless the caller may see it (`sight`).
pub fn customer_view(c: &Customer, i: &Insight, sight: super::Sight) -> pb::Customer {
    let mut out = customer_to_proto(c);
    super::mask_customer(&mut out, sight);
    out.summary = Some(summary_to_proto(&i.summary));
    out.relationship_status = status_to_proto(i.status) as i32;
    out.advocate = i.advocate;
    out.lead_score = i32::from(i.lead.score);
    out.lead_temperature = temperature_to_proto(i.lead.temperature) as i32;
    out.lead_status = match i.lead_status {
        LeadStatus::Open => pb::LeadStatus::Open,
        LeadStatus::Qualified => pb::LeadStatus::Qualified,
        LeadStatus::Disqualified => pb::LeadStatus::Disqualified,
        LeadStatus::Converted => pb::LeadStatus::Converted,
    } as i32;
    out.value = i.value.iter().map(value_to_proto).collect();
    out
}

/// A customer's value in one currency as a message.
pub fn value_to_proto(v: &crm_core::CurrencyValue) -> pb::CustomerValue {
    let money = |amount_minor| {
        Some(pb::Money {
            currency_code: v.currency.clone(),
            amount_minor,
        })
    };
    pb::CustomerValue {
        currency_code: v.currency.clone(),
        historical_value: money(v.historical_minor),
        purchase_count: i64::try_from(v.purchases).unwrap_or(i64::MAX),
        average_sale: money(v.average_sale_minor),
        observed_days: v.observed_days,
        purchases_per_year: v.purchases_per_year_milli as f64 / 1000.0,
        lifespan_years: f64::from(v.lifespan_tenths) / 10.0,
        clv: money(v.clv_minor),
        lifespan_source: match v.lifespan_source {
            LifespanSource::Configured => pb::LifespanSource::Configured,
            LifespanSource::PortfolioChurn { .. } => pb::LifespanSource::PortfolioChurn,
        }
        .into(),
        annual_churn_rate: match v.lifespan_source {
            LifespanSource::Configured => 0.0,
            LifespanSource::PortfolioChurn { annual_churn_milli } => {
                f64::from(annual_churn_milli) / 1000.0
            }
        },
    }
}

fn status_to_proto(s: RelationshipStatus) -> pb::RelationshipStatus {
    match s {
        RelationshipStatus::Prospect => pb::RelationshipStatus::Prospect,
        RelationshipStatus::New => pb::RelationshipStatus::New,
        RelationshipStatus::Active => pb::RelationshipStatus::Active,
        RelationshipStatus::Loyal => pb::RelationshipStatus::Loyal,
        RelationshipStatus::AtRisk => pb::RelationshipStatus::AtRisk,
        RelationshipStatus::Churned => pb::RelationshipStatus::Churned,
    }
}

fn temperature_to_proto(t: Temperature) -> pb::LeadTemperature {
    match t {
        Temperature::Cold => pb::LeadTemperature::Cold,
        Temperature::Warm => pb::LeadTemperature::Warm,
        Temperature::Hot => pb::LeadTemperature::Hot,
    }
}

const FIT_FIELDS: [(FitField, pb::FitField); 6] = [
    (FitField::Kind, pb::FitField::FitKind),
    (FitField::Industry, pb::FitField::FitIndustry),
    (FitField::EmployeeCount, pb::FitField::FitEmployeeCount),
    (FitField::IncomeBand, pb::FitField::FitIncomeBand),
    (FitField::Country, pb::FitField::FitCountry),
    (FitField::Source, pb::FitField::FitSource),
];

/// A scoring model as a message.
pub fn model_to_proto(m: &ScoringModel) -> pb::ScoringModel {
    pb::ScoringModel {
        version: i64::try_from(m.version).unwrap_or(i64::MAX),
        etag: format!("v{}", m.version),
        fit_rules: m
            .fit_rules
            .iter()
            .map(|r| pb::FitRule {
                field: FIT_FIELDS
                    .iter()
                    .find(|(f, _)| *f == r.field)
                    .map_or(0, |(_, p)| *p as i32),
                values: r.values.clone(),
                min: r.min.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
                max: r.max.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
                points: r.points,
            })
            .collect(),
        engagement_points: m
            .engagement_points
            .iter()
            .map(|(k, p)| pb::EngagementPoints {
                kind: kind_to_proto(*k) as i32,
                points: i32::try_from(*p).unwrap_or(i32::MAX),
            })
            .collect(),
        half_life_days: i32::try_from(m.half_life_days).unwrap_or(i32::MAX),
        warm_threshold: i32::from(m.warm_threshold),
        hot_threshold: i32::from(m.hot_threshold),
    }
}

/// A scoring model from its message (checked by [`ScoringModel::validate`] afterwards).
pub fn model_from_proto(m: pb::ScoringModel) -> Result<ScoringModel, Violations> {
    let pb::ScoringModel {
        version: _,
        etag: _,
        fit_rules,
        engagement_points,
        half_life_days,
        warm_threshold,
        hot_threshold,
    } = m;
    let mut v = Violations::default();
    let mut rules = Vec::new();
    for (
        n,
        pb::FitRule {
            field,
            values,
            min,
            max,
            points,
        },
    ) in fit_rules.into_iter().enumerate()
    {
        let Some((field, _)) = FIT_FIELDS.iter().find(|(_, p)| *p as i32 == field) else {
            v.add(
                format!("fit_rules[{n}].field"),
                "set the field the rule looks at",
            );
            continue;
        };
        let mut count = |x: Option<i32>, name: &str| {
            x.and_then(|x| {
                u32::try_from(x).ok().or_else(|| {
                    v.add(format!("fit_rules[{n}].{name}"), "must not be negative");
                    None
                })
            })
        };
        let (min, max) = (count(min, "min"), count(max, "max"));
        rules.push(FitRule {
            field: *field,
            values,
            min,
            max,
            points,
        });
    }
    let mut points = BTreeMap::new();
    for (n, e) in engagement_points.into_iter().enumerate() {
        match (kind_from_proto(e.kind), u32::try_from(e.points)) {
            (Some(_), Ok(p)) if p > 100 => {
                v.add(format!("engagement_points[{n}].points"), "must be 0 to 100");
            }
            (Some(kind), Ok(p)) => {
                if points.insert(kind, p).is_some() {
                    v.add(format!("engagement_points[{n}].kind"), "is listed twice");
                }
            }
            (None, _) => v.add(
                format!("engagement_points[{n}].kind"),
                "set an interaction kind",
            ),
            (_, Err(_)) => v.add(format!("engagement_points[{n}].points"), "must be 0 to 100"),
        }
    }
    let small = |x: i32, name: &str, v: &mut Violations| {
        u8::try_from(x).unwrap_or_else(|_| {
            v.add(name, "must be 1 to 100");
            0
        })
    };
    let warm_threshold = small(warm_threshold, "warm_threshold", &mut v);
    let hot_threshold = small(hot_threshold, "hot_threshold", &mut v);
    let half_life_days = u32::try_from(half_life_days).unwrap_or(0);
    v.into_result(ScoringModel {
        version: 0,
        fit_rules: rules,
        engagement_points: points,
        half_life_days,
        warm_threshold,
        hot_threshold,
    })
}
