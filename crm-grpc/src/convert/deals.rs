//! Deals between `crm.v1` messages and `crm-core` types: pipelines, deals and their history,
//! the forecast.

use chrono::{DateTime, NaiveDate, Utc};
use crm_core::Violations;
use crm_core::deals::{
    AgeBand, Deal, DealData, DealId, DealStatus, Forecast, ForecastCategory, LineItem, Pipeline,
    PipelineData, PipelineId, Probability, Snapshot, Stage,
};

use super::timeline::{money_from_proto, money_to_proto};
use super::{parse_id, time_to_proto};
use crate::pb;

/// Parses a 16-hex-digit id (a deal's, a pipeline's, a task's, a rule's), naming `field`.
pub fn hex_id<T: std::str::FromStr<Err = String>>(
    field: &str,
    text: &str,
) -> Result<T, Violations> {
    text.trim()
        .parse()
        .map_err(|e: String| Violations::one(field, e))
}

/// A forecast category from its contract value.
pub fn category_from_proto(c: i32) -> Option<ForecastCategory> {
    use pb::ForecastCategory as C;
    Some(match C::try_from(c).ok()? {
        C::Unspecified => return None,
        C::ForecastPipeline => ForecastCategory::Pipeline,
        C::ForecastBestCase => ForecastCategory::BestCase,
        C::ForecastCommit => ForecastCategory::Commit,
        C::ForecastClosed => ForecastCategory::Closed,
        C::ForecastOmitted => ForecastCategory::Omitted,
    })
}

fn category_to_proto(c: ForecastCategory) -> pb::ForecastCategory {
    use pb::ForecastCategory as C;
    match c {
        ForecastCategory::Pipeline => C::ForecastPipeline,
        ForecastCategory::BestCase => C::ForecastBestCase,
        ForecastCategory::Commit => C::ForecastCommit,
        ForecastCategory::Closed => C::ForecastClosed,
        ForecastCategory::Omitted => C::ForecastOmitted,
    }
}

fn status_to_proto(s: DealStatus) -> pb::DealStatus {
    match s {
        DealStatus::Open => pb::DealStatus::DealOpen,
        DealStatus::Won => pb::DealStatus::DealWon,
        DealStatus::Lost => pb::DealStatus::DealLost,
    }
}

fn probability_in(v: &mut Violations, field: &str, p: f64) -> Probability {
    Probability::from_fraction(p).unwrap_or_else(|| {
        v.add(
            field,
            format!("{p} is not a probability: it must be within [0, 1]"),
        );
        Probability(0)
    })
}

/// A date `YYYY-MM-DD`, naming `field` when it is not one.
pub fn date_in(v: &mut Violations, field: &str, text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
        v.add(
            field,
            format!(
                "{:?} is not a date like 2027-03-31",
                text.chars().take(40).collect::<String>()
            ),
        );
        NaiveDate::default()
    })
}

/// A pipeline's content from its message.
pub fn pipeline_from_proto(p: pb::Pipeline) -> Result<PipelineData, Violations> {
    let pb::Pipeline {
        id: _,
        name,
        stages,
        create_time: _,
        update_time: _,
        etag: _,
    } = p;
    let mut v = Violations::default();
    let stages = stages
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let pb::PipelineStage {
                key,
                name,
                probability,
                forecast_category,
                rotting_days,
            } = s;
            let category = category_from_proto(forecast_category).unwrap_or_else(|| {
                v.add(
                    format!("stages[{i}].forecast_category"),
                    "is required: FORECAST_PIPELINE, FORECAST_BEST_CASE, FORECAST_COMMIT, FORECAST_CLOSED or FORECAST_OMITTED",
                );
                ForecastCategory::Pipeline
            });
            Stage {
                key,
                name,
                probability: probability_in(&mut v, &format!("stages[{i}].probability"), probability),
                category,
                rotting_days,
            }
        })
        .collect();
    v.into_result(PipelineData { name, stages })
}

/// A pipeline as a message.
pub fn pipeline_to_proto(p: &Pipeline) -> pb::Pipeline {
    pb::Pipeline {
        id: p.id.to_string(),
        name: p.data.name.clone(),
        stages: p
            .data
            .stages
            .iter()
            .map(|s| pb::PipelineStage {
                key: s.key.clone(),
                name: s.name.clone(),
                probability: s.probability.fraction(),
                forecast_category: category_to_proto(s.category).into(),
                rotting_days: s.rotting_days,
            })
            .collect(),
        create_time: Some(time_to_proto(p.create_time)),
        update_time: Some(time_to_proto(p.update_time)),
        etag: crm_store::deals::pipelines::etag_of(p),
    }
}

/// A deal's data from its message. With `only`, just the fields it names are read (an
/// update's mask); the others keep defaults the store ignores.
pub fn deal_from_proto(d: pb::Deal, only: Option<&[String]>) -> Result<DealData, Violations> {
    let pb::Deal {
        id: _,
        customer_id,
        contact_ids,
        name,
        amount,
        close_date,
        owner,
        pipeline_id,
        stage,
        probability,
        line_items,
        status: _,
        outcome_reason: _,
        effective_probability: _,
        forecast_category: _,
        stage_enter_time: _,
        rot_time: _,
        rotting: _,
        history: _,
        create_time: _,
        update_time: _,
        etag: _,
    } = d;
    let wanted = |f: &str| only.is_none_or(|m| m.iter().any(|x| x == f));
    let mut v = Violations::default();
    fn merge<T>(v: &mut Violations, r: Result<T, Violations>) -> Option<T> {
        match r {
            Ok(x) => Some(x),
            Err(e) => {
                v.0.extend(e.0);
                None
            }
        }
    }
    let customer_id = if only.is_none() {
        merge(&mut v, parse_id("customer_id", &customer_id))
    } else {
        None
    };
    let pipeline_id = if only.is_none() {
        merge(&mut v, hex_id::<PipelineId>("pipeline_id", &pipeline_id))
    } else {
        None
    };
    let contacts = if wanted("contacts") {
        contact_ids
            .iter()
            .enumerate()
            .filter_map(|(i, c)| merge(&mut v, parse_id(&format!("contact_ids[{i}]"), c)))
            .collect()
    } else {
        Vec::new()
    };
    let amount = if wanted("amount") || wanted("line_items") {
        money_from_proto(amount, "amount", &mut v)
    } else {
        crm_core::Money::new("", 0)
    };
    let close_date = if wanted("close_date") {
        date_in(&mut v, "close_date", &close_date)
    } else {
        NaiveDate::default()
    };
    let probability = match probability {
        Some(p) if wanted("probability") => Some(probability_in(&mut v, "probability", p)),
        _ => None,
    };
    let data = DealData {
        customer_id: customer_id.unwrap_or(crm_core::CustomerId(0)),
        contacts,
        name,
        amount,
        close_date,
        owner: Some(owner).filter(|o| !o.trim().is_empty()),
        pipeline_id: pipeline_id.unwrap_or(PipelineId(0)),
        stage,
        probability,
        line_items: line_items
            .into_iter()
            .map(|l| LineItem {
                name: l.name,
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect(),
    };
    v.into_result(data)
}

fn snapshot_to_proto(s: &Snapshot) -> pb::DealSnapshot {
    pb::DealSnapshot {
        time: Some(time_to_proto(s.at)),
        stage: s.stage.clone(),
        status: status_to_proto(s.status).into(),
        amount: Some(money_to_proto(&s.amount)),
        close_date: s.close_date.to_string(),
        owner: s.owner.clone().unwrap_or_default(),
        probability: s.probability.fraction(),
        forecast_category: category_to_proto(s.category).into(),
    }
}

/// A deal as a message, `rotting` as of `now`.
pub fn deal_to_proto(d: &Deal, now: DateTime<Utc>) -> pb::Deal {
    let last = d.history.last();
    pb::Deal {
        id: d.id.to_string(),
        customer_id: d.data.customer_id.to_string(),
        contact_ids: d.data.contacts.iter().map(ToString::to_string).collect(),
        name: d.data.name.clone(),
        amount: Some(money_to_proto(&d.data.amount)),
        close_date: d.data.close_date.to_string(),
        owner: d.data.owner.clone().unwrap_or_default(),
        pipeline_id: d.data.pipeline_id.to_string(),
        stage: d.data.stage.clone(),
        probability: d.data.probability.map(Probability::fraction),
        line_items: d
            .data
            .line_items
            .iter()
            .map(|l| pb::DealLineItem {
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect(),
        status: status_to_proto(d.status).into(),
        outcome_reason: d.outcome_reason.clone().unwrap_or_default(),
        effective_probability: last.map_or(0.0, |s| s.probability.fraction()),
        forecast_category: last
            .map_or(pb::ForecastCategory::Unspecified, |s| {
                category_to_proto(s.category)
            })
            .into(),
        stage_enter_time: Some(time_to_proto(d.stage_entered_at)),
        rot_time: d.rots_at.map(time_to_proto),
        rotting: d.rotting(now),
        history: d.history.iter().map(snapshot_to_proto).collect(),
        create_time: Some(time_to_proto(d.create_time)),
        update_time: Some(time_to_proto(d.update_time)),
        etag: crm_store::deals::etag_of(d),
    }
}

/// A deal id, naming `field`.
pub fn deal_id(field: &str, text: &str) -> Result<DealId, Violations> {
    hex_id(field, text)
}

fn age_to_proto(a: AgeBand) -> pb::StageAge {
    match a {
        AgeBand::UnderWeek => pb::StageAge::Under7Days,
        AgeBand::UnderMonth => pb::StageAge::Days7To29,
        AgeBand::UnderQuarter => pb::StageAge::Days30To89,
        AgeBand::Older => pb::StageAge::Days90OrMore,
    }
}

/// A forecast as a message.
pub fn forecast_to_proto(f: &Forecast, as_of: DateTime<Utc>) -> pb::Forecast {
    pb::Forecast {
        as_of: Some(time_to_proto(as_of)),
        totals: f
            .totals
            .iter()
            .map(|t| pb::ForecastTotal {
                forecast_category: t
                    .category
                    .map_or(pb::ForecastCategory::Unspecified, category_to_proto)
                    .into(),
                currency_code: t.currency.clone(),
                deal_count: i64::try_from(t.count).unwrap_or(i64::MAX),
                total_minor: t.total_minor,
                weighted_minor: t.weighted_minor,
                calibrated_minor: t.calibrated_minor,
            })
            .collect(),
        calibration: f
            .calibration
            .iter()
            .map(|c| pb::StageCalibration {
                pipeline_id: c.pipeline.to_string(),
                stage: c.stage.clone(),
                age: age_to_proto(c.age).into(),
                probability: c.probability.map(Probability::fraction),
                calibrated_probability: c.calibrated.map(Probability::fraction),
                sample_size: i64::try_from(c.sample).unwrap_or(i64::MAX),
                won: i64::try_from(c.won).unwrap_or(i64::MAX),
                open_deals: i64::try_from(c.open_deals).unwrap_or(i64::MAX),
            })
            .collect(),
    }
}
