//! A sales pipeline: data, not code. Its ordered stages each carry a default win probability,
//! the forecast category its deals count in, and a rotting threshold: a deal that sits in a
//! stage longer than that many days is *rotting* until it moves.

use serde::{Deserialize, Serialize};

use crate::ids::hex_id;
use crate::validate::{MAX_NAME_CHARS, Violations, check_text};

hex_id!(
    /// A pipeline's identity.
    PipelineId,
    "a pipeline"
);

/// Most stages one pipeline has.
pub const MAX_STAGES: usize = 30;
/// Longest rotting threshold, in days.
pub const MAX_ROTTING_DAYS: u32 = 3_650;

/// A probability in basis points: 0 (never) to 10,000 (certain).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Probability(pub u16);

impl Probability {
    /// Certain.
    pub const CERTAIN: Probability = Probability(10_000);

    /// From a fraction in [0, 1] (rounded to a basis point); `None` outside it or for NaN.
    pub fn from_fraction(p: f64) -> Option<Probability> {
        (0.0..=1.0)
            .contains(&p)
            .then(|| Probability((p * 10_000.0).round() as u16))
    }

    /// As a fraction in [0, 1].
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    /// `amount` weighted by this probability, rounded half away from zero.
    pub fn weigh(self, amount: i64) -> i64 {
        let scaled = i128::from(amount) * i128::from(self.0);
        let half = if scaled < 0 { -5_000 } else { 5_000 };
        i64::try_from((scaled + half) / 10_000).unwrap_or(i64::MAX)
    }
}

/// Where a deal counts in a forecast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ForecastCategory {
    /// Early: may or may not close.
    Pipeline,
    /// Could close with luck.
    BestCase,
    /// Expected to close.
    Commit,
    /// Won.
    Closed,
    /// Out of the forecast (lost, or a stage that does not count).
    Omitted,
}

impl ForecastCategory {
    /// Every category, in contract order.
    pub const ALL: [ForecastCategory; 5] = [
        ForecastCategory::Pipeline,
        ForecastCategory::BestCase,
        ForecastCategory::Commit,
        ForecastCategory::Closed,
        ForecastCategory::Omitted,
    ];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            ForecastCategory::Pipeline => "PIPELINE",
            ForecastCategory::BestCase => "BEST_CASE",
            ForecastCategory::Commit => "COMMIT",
            ForecastCategory::Closed => "CLOSED",
            ForecastCategory::Omitted => "OMITTED",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<ForecastCategory> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// One stage of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// The stage's key, unique in its pipeline: what deals and filters name (`qualified`).
    pub key: String,
    /// Its display name (`Qualified`).
    pub name: String,
    /// The default probability that a deal in this stage is won.
    pub probability: Probability,
    /// The forecast category an open deal in this stage counts in.
    pub category: ForecastCategory,
    /// Days a deal may stay in this stage before it is rotting (0: never rots).
    pub rotting_days: u32,
}

/// A pipeline's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineData {
    /// Its name (`New business`).
    pub name: String,
    /// Its stages, in order.
    pub stages: Vec<Stage>,
}

/// A stored pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Its identity.
    pub id: PipelineId,
    /// Its content.
    pub data: PipelineData,
    /// Starts at 1, grows with every change: the etag.
    pub version: u64,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: chrono::DateTime<chrono::Utc>,
}

impl PipelineData {
    /// The stage with this key.
    pub fn stage(&self, key: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.key == key)
    }

    /// Checks and normalizes a pipeline: a name, 1 to [`MAX_STAGES`] stages with unique keys
    /// (lower-case letters, digits, `_` and `-`), names, and thresholds within bounds.
    pub fn validate(&mut self) -> Result<(), Violations> {
        let mut v = Violations::default();
        check_text(&mut v, "name", &mut self.name, MAX_NAME_CHARS);
        if self.name.is_empty() {
            v.add("name", "is required");
        }
        if self.stages.is_empty() || self.stages.len() > MAX_STAGES {
            v.add(
                "stages",
                format!(
                    "a pipeline has 1 to {MAX_STAGES} stages, got {}",
                    self.stages.len()
                ),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.stages.iter_mut().enumerate() {
            let at = |f: &str| format!("stages[{i}].{f}");
            s.key = s.key.trim().to_ascii_lowercase();
            if let Err(why) = check_key(&s.key) {
                v.add(at("key"), why);
            } else if !seen.insert(s.key.clone()) {
                v.add(
                    at("key"),
                    format!("{:?} is already a stage of this pipeline", s.key),
                );
            }
            check_text(&mut v, &at("name"), &mut s.name, MAX_NAME_CHARS);
            if s.name.is_empty() {
                s.name = s.key.clone();
            }
            if s.probability > Probability::CERTAIN {
                v.add(at("probability"), "must be within [0, 1]");
            }
            if s.rotting_days > MAX_ROTTING_DAYS {
                v.add(
                    at("rotting_days"),
                    format!("at most {MAX_ROTTING_DAYS} days (0: never rots)"),
                );
            }
        }
        v.into_result(())
    }
}

/// Whether `key` can name a stage: 1 to 64 of `a-z 0-9 _ -`.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty()
        || key.len() > 64
        || !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "a stage key is 1 to 64 of a-z, 0-9, _ and -, like \"qualified\"; got {:?}",
            key.chars().take(70).collect::<String>()
        ));
    }
    Ok(())
}
