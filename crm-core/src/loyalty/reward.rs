//! The reward catalog: what points buy, at what cost, while stock lasts, between active dates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::summary::opt_micros;
use crate::validate::{MAX_NAME_CHARS, Violations, check_text};

/// The largest cost of a reward, in points.
pub const MAX_REWARD_COST: i64 = 1_000_000_000;

/// What a client writes about a reward.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardData {
    /// Its name; required.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Its cost in points; positive.
    pub cost_points: i64,
    /// How many are left (`None`: unlimited).
    pub stock: Option<i64>,
    /// From when it can be redeemed.
    #[serde(with = "opt_micros")]
    pub active_from: Option<DateTime<Utc>>,
    /// Until when (exclusive).
    #[serde(with = "opt_micros")]
    pub active_until: Option<DateTime<Utc>>,
}

/// A stored reward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    /// Assigned at creation.
    pub id: u64,
    /// What the client wrote.
    pub data: RewardData,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: DateTime<Utc>,
    /// When it last changed (a redemption that takes stock changes it).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: DateTime<Utc>,
    /// Bumped by every change; the etag.
    pub version: u64,
}

impl RewardData {
    /// Whether it can be redeemed at `t`.
    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.active_from.is_none_or(|f| t >= f) && self.active_until.is_none_or(|u| t < u)
    }
}

/// Validates and normalizes a reward.
pub fn validate_reward(r: &mut RewardData) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "name", &mut r.name, MAX_NAME_CHARS);
    if r.name.is_empty() {
        v.add("name", "is required");
    }
    check_text(&mut v, "description", &mut r.description, 2_000);
    if !(1..=MAX_REWARD_COST).contains(&r.cost_points) {
        v.add(
            "cost_points",
            format!("must be 1 to {MAX_REWARD_COST}, got {}", r.cost_points),
        );
    }
    if r.stock.is_some_and(|s| s < 0) {
        v.add("stock", "must not be negative");
    }
    if let (Some(from), Some(until)) = (r.active_from, r.active_until)
        && until <= from
    {
        v.add("active_until", "must be after active_from");
    }
    v.into_result(())
}
