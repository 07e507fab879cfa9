//! The forecast: the deals expected to close in a period, per forecast category and currency,
//! with their total and their amount weighted by probability — the manual probability (the
//! stage's, or the deal's override) and, beside it, a *calibrated* one: the win rate this
//! store's own history shows for deals that were in the same stage at the same age.
//!
//! Everything is read from the deals' histories as they stood at `as_of`, so a forecast as of
//! a past instant gives the same figures later as it gave then (as long as no deal that existed
//! then has been deleted since).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::deal::{Deal, DealStatus};
use super::pipeline::{ForecastCategory, Pipeline, PipelineId, Probability};

/// How long a deal had been in its stage, in four bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgeBand {
    /// Under 7 days.
    UnderWeek,
    /// 7 to 29 days.
    UnderMonth,
    /// 30 to 89 days.
    UnderQuarter,
    /// 90 days or more.
    Older,
}

impl AgeBand {
    /// Every band, youngest first.
    pub const ALL: [AgeBand; 4] = [
        AgeBand::UnderWeek,
        AgeBand::UnderMonth,
        AgeBand::UnderQuarter,
        AgeBand::Older,
    ];

    /// The band's first day.
    pub fn from_day(self) -> i64 {
        match self {
            AgeBand::UnderWeek => 0,
            AgeBand::UnderMonth => 7,
            AgeBand::UnderQuarter => 30,
            AgeBand::Older => 90,
        }
    }

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            AgeBand::UnderWeek => "UNDER_7_DAYS",
            AgeBand::UnderMonth => "DAYS_7_TO_29",
            AgeBand::UnderQuarter => "DAYS_30_TO_89",
            AgeBand::Older => "DAYS_90_OR_MORE",
        }
    }

    /// The band of an age in days.
    pub fn of_days(days: i64) -> AgeBand {
        Self::ALL
            .into_iter()
            .rev()
            .find(|b| days >= b.from_day())
            .unwrap_or(AgeBand::UnderWeek)
    }
}

/// Which deals a forecast covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForecastQuery {
    /// Deals expected to close on or after this date...
    pub start: NaiveDate,
    /// ...and before this one.
    pub end: NaiveDate,
    /// Only this owner's deals.
    pub owner: Option<String>,
    /// Only this pipeline's deals.
    pub pipeline: Option<PipelineId>,
    /// The instant the deals are read as of.
    pub as_of: DateTime<Utc>,
}

/// One category's figures in one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CategoryTotal {
    /// The category.
    pub category: Option<ForecastCategory>,
    /// The currency.
    pub currency: String,
    /// How many deals.
    pub count: u64,
    /// Their amounts' total.
    pub total_minor: i64,
    /// Their amounts weighted by the manual probability.
    pub weighted_minor: i64,
    /// Their amounts weighted by the calibrated probability (the manual one where history
    /// has no sample).
    pub calibrated_minor: i64,
}

/// What history says about deals in one stage at one age.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// The pipeline.
    pub pipeline: PipelineId,
    /// The stage's key.
    pub stage: String,
    /// The age band.
    pub age: AgeBand,
    /// The stage's default probability (none if the stage is gone from its pipeline).
    pub probability: Option<Probability>,
    /// Won among the sample (none without a sample).
    pub calibrated: Option<Probability>,
    /// Deals decided (won or lost) before `as_of` that were in this stage at this age.
    pub sample: u64,
    /// How many of those were won.
    pub won: u64,
    /// Open deals in the forecast now in this stage at this age.
    pub open_deals: u64,
}

/// A forecast.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forecast {
    /// Per category and currency, in category then currency order.
    pub totals: Vec<CategoryTotal>,
    /// Per pipeline, stage and age band with a sample or an open deal.
    pub calibration: Vec<Calibration>,
}

type Group = (PipelineId, String, AgeBand);

/// The visits a deal's history makes to its stages, up to `as_of`: (stage, entered, left,
/// whether it was open in it), the last one left at `as_of` if still there.
fn visits(d: &Deal, as_of: DateTime<Utc>) -> Vec<(String, DateTime<Utc>, DateTime<Utc>, bool)> {
    let mut out: Vec<(String, DateTime<Utc>, DateTime<Utc>, bool)> = Vec::new();
    for s in d.history.iter().take_while(|s| s.at <= as_of) {
        let open = s.status == DealStatus::Open;
        match out.last_mut() {
            Some(last) if last.0 == s.stage && last.3 == open => {}
            Some(last) => {
                last.2 = s.at;
                out.push((s.stage.clone(), s.at, as_of, open));
            }
            None => out.push((s.stage.clone(), s.at, as_of, open)),
        }
    }
    out
}

/// What history says: per group, (sample, won), from the deals decided by `as_of`.
fn history(deals: &[Deal], as_of: DateTime<Utc>) -> BTreeMap<Group, (u64, u64)> {
    let mut rates: BTreeMap<Group, (u64, u64)> = BTreeMap::new();
    for d in deals {
        let Some(now) = d.at(as_of) else { continue };
        if now.status == DealStatus::Open {
            continue;
        }
        let won = now.status == DealStatus::Won;
        let mut seen = BTreeSet::new();
        for (stage, entered, left, open) in visits(d, as_of) {
            if !open {
                continue;
            }
            let days = (left - entered).num_days();
            for band in AgeBand::ALL.into_iter().filter(|b| b.from_day() <= days) {
                if seen.insert((stage.clone(), band)) {
                    let r = rates
                        .entry((d.data.pipeline_id, stage.clone(), band))
                        .or_default();
                    r.0 += 1;
                    r.1 += u64::from(won);
                }
            }
        }
    }
    rates
}

fn rate((sample, won): (u64, u64)) -> Option<Probability> {
    (sample > 0)
        .then(|| Probability(u16::try_from((won * 10_000 + sample / 2) / sample).unwrap_or(10_000)))
}

/// The forecast of `deals` (every deal the store holds: the decided ones are the history the
/// calibration learns from) for `q`.
pub fn forecast(
    deals: &[Deal],
    pipelines: &BTreeMap<PipelineId, Pipeline>,
    q: &ForecastQuery,
) -> Forecast {
    let rates = history(deals, q.as_of);
    let mut totals: BTreeMap<(ForecastCategory, String), [i128; 4]> = BTreeMap::new();
    let mut open: BTreeMap<Group, u64> = BTreeMap::new();
    for d in deals {
        let Some(s) = d.at(q.as_of) else { continue };
        if s.close_date < q.start
            || s.close_date >= q.end
            || q.owner
                .as_ref()
                .is_some_and(|o| s.owner.as_ref() != Some(o))
            || q.pipeline.is_some_and(|p| p != d.data.pipeline_id)
        {
            continue;
        }
        let mut calibrated = s.probability;
        if s.status == DealStatus::Open {
            let entered = visits(d, q.as_of).last().map_or(s.at, |v| v.1);
            let band = AgeBand::of_days((q.as_of - entered).num_days());
            let group = (d.data.pipeline_id, s.stage.clone(), band);
            if let Some(p) = rates.get(&group).copied().and_then(rate) {
                calibrated = p;
            }
            *open.entry(group).or_default() += 1;
        }
        let t = totals
            .entry((s.category, s.amount.currency.clone()))
            .or_default();
        let amount = s.amount.amount_minor;
        t[0] += 1;
        t[1] += i128::from(amount);
        t[2] += i128::from(s.probability.weigh(amount));
        t[3] += i128::from(calibrated.weigh(amount));
    }
    let clamp = |x: i128| i64::try_from(x).unwrap_or(i64::MAX);
    let totals = totals
        .into_iter()
        .map(|((category, currency), t)| CategoryTotal {
            category: Some(category),
            currency,
            count: u64::try_from(t[0]).unwrap_or(u64::MAX),
            total_minor: clamp(t[1]),
            weighted_minor: clamp(t[2]),
            calibrated_minor: clamp(t[3]),
        })
        .collect();
    let groups: BTreeSet<Group> = rates
        .keys()
        .filter(|g| q.pipeline.is_none_or(|p| p == g.0))
        .chain(open.keys())
        .cloned()
        .collect();
    let calibration = groups
        .into_iter()
        .map(|g| {
            let (sample, won) = rates.get(&g).copied().unwrap_or_default();
            Calibration {
                probability: pipelines
                    .get(&g.0)
                    .and_then(|p| p.data.stage(&g.1))
                    .map(|s| s.probability),
                calibrated: rate((sample, won)),
                sample,
                won,
                open_deals: open.get(&g).copied().unwrap_or(0),
                pipeline: g.0,
                stage: g.1,
                age: g.2,
            }
        })
        .collect();
    Forecast {
        totals,
        calibration,
    }
}
