use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::*;
use crate::CustomerId;
use crate::money::Money;

fn t(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::days(day)
}

fn pipeline() -> Pipeline {
    let stage = |key: &str, p: f64, category, rotting_days| Stage {
        key: key.into(),
        name: String::new(),
        probability: Probability::from_fraction(p).unwrap_or_default(),
        category,
        rotting_days,
    };
    let mut data = PipelineData {
        name: "New business".into(),
        stages: vec![
            stage("qualified", 0.2, ForecastCategory::Pipeline, 14),
            stage("proposal", 0.5, ForecastCategory::BestCase, 0),
            stage("negotiation", 0.8, ForecastCategory::Commit, 0),
        ],
    };
    assert_eq!(data.validate(), Ok(()));
    Pipeline {
        id: PipelineId(1),
        data,
        version: 1,
        create_time: t(0),
        update_time: t(0),
    }
}

fn deal(id: u64, amount: i64, at: DateTime<Utc>, p: &Pipeline) -> Deal {
    let mut d = Deal {
        id: DealId(id),
        data: DealData {
            customer_id: CustomerId(7),
            contacts: Vec::new(),
            name: format!("deal {id}"),
            amount: Money::new("TRY", amount),
            close_date: NaiveDate::from_ymd_opt(2026, 3, 15).unwrap_or_default(),
            owner: Some("ayse".into()),
            pipeline_id: p.id,
            stage: "qualified".into(),
            probability: None,
            line_items: Vec::new(),
        },
        status: DealStatus::Open,
        outcome_reason: None,
        stage_entered_at: at,
        rots_at: None,
        history: Vec::new(),
        create_time: at,
        update_time: at,
        version: 1,
    };
    assert_eq!(d.settle(p, at), Ok(()));
    d
}

#[test]
fn a_deal_rots_after_its_stage_threshold_and_stops_when_it_moves() {
    let p = pipeline();
    let mut d = deal(1, 100_000, t(0), &p);
    assert!(!d.rotting(t(13)));
    assert!(d.rotting(t(14)));
    assert_eq!(d.move_to("proposal", &p, t(20)), Ok(()));
    assert!(!d.rotting(t(400)), "proposal never rots");
    assert!(matches!(
        d.move_to("signed", &p, t(21)),
        Err(DealRefused::UnknownStage { .. })
    ));
}

#[test]
fn a_forecast_as_of_a_past_instant_reads_the_deals_as_they_were() {
    let p = pipeline();
    let pipelines = BTreeMap::from([(p.id, p.clone())]);
    let mut a = deal(1, 100_000, t(0), &p);
    let b = deal(2, 50_000, t(1), &p);
    let q = |as_of| ForecastQuery {
        start: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
        end: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default(),
        owner: None,
        pipeline: None,
        as_of,
    };
    let before = forecast::forecast(&[a.clone(), b.clone()], &pipelines, &q(t(5)));
    assert_eq!(a.move_to("negotiation", &p, t(10)), Ok(()));
    let after = forecast::forecast(&[a.clone(), b.clone()], &pipelines, &q(t(11)));
    let again = forecast::forecast(&[a.clone(), b.clone()], &pipelines, &q(t(5)));
    assert_eq!(before, again, "the past forecast does not change");
    let commit = after
        .totals
        .iter()
        .find(|c| c.category == Some(ForecastCategory::Commit));
    assert_eq!(
        commit.map(|c| (c.count, c.weighted_minor)),
        Some((1, 80_000))
    );
    let pipe = before
        .totals
        .iter()
        .find(|c| c.category == Some(ForecastCategory::Pipeline));
    assert_eq!(
        pipe.map(|c| (c.count, c.total_minor, c.weighted_minor)),
        Some((2, 150_000, 30_000))
    );
}

#[test]
fn calibration_is_the_win_rate_of_deals_that_were_in_the_stage_at_that_age() {
    let p = pipeline();
    let pipelines = BTreeMap::from([(p.id, p.clone())]);
    let mut history = Vec::new();
    // Four deals sat 10 days in qualified; three were won.
    for i in 0..4 {
        let mut d = deal(10 + i, 1_000, t(0), &p);
        assert_eq!(d.close(i < 3, "done".into(), &p, t(10)), Ok(()));
        history.push(d);
    }
    let open = deal(20, 10_000, t(20), &p);
    history.push(open);
    let f = forecast::forecast(
        &history,
        &pipelines,
        &ForecastQuery {
            start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            end: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default(),
            owner: None,
            pipeline: None,
            as_of: t(21),
        },
    );
    let young = f
        .calibration
        .iter()
        .find(|c| c.stage == "qualified" && c.age == AgeBand::UnderWeek);
    assert_eq!(
        young.map(|c| (c.sample, c.won, c.open_deals)),
        Some((4, 3, 1))
    );
    assert_eq!(young.and_then(|c| c.calibrated), Some(Probability(7_500)));
    let pipe = f
        .totals
        .iter()
        .find(|c| c.category == Some(ForecastCategory::Pipeline));
    assert_eq!(
        pipe.map(|c| (c.weighted_minor, c.calibrated_minor)),
        Some((2_000, 7_500))
    );
}

#[test]
fn probabilities_outside_zero_to_one_are_refused() {
    assert_eq!(Probability::from_fraction(1.5), None);
    assert_eq!(Probability::from_fraction(-0.1), None);
    assert_eq!(Probability::from_fraction(f64::NAN), None);
    assert_eq!(Probability::from_fraction(0.255), Some(Probability(2_550)));
}
