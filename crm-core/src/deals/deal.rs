//! A deal: a sale being worked on, in one stage of a pipeline, until it is won or lost.
//!
//! Every change that moves a forecast (stage, outcome, amount, close date, probability, owner)
//! appends a [`Snapshot`] to the deal's history, so the deal as it stood at any past instant is
//! [`Deal::at`] — which is what makes a forecast as of a past date reproducible.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::pipeline::{ForecastCategory, Pipeline, PipelineId, Probability};
use crate::customer::CustomerId;
use crate::ids::hex_id;
use crate::money::{MAX_TOTAL_MINOR, Money, normalize_currency};
use crate::validate::{MAX_ID_CHARS, MAX_NAME_CHARS, Violations, check_text};

hex_id!(
    /// A deal's identity.
    DealId,
    "a deal"
);

/// Most snapshots a deal's history keeps; a change past it is refused.
pub const MAX_DEAL_HISTORY: usize = 500;
/// Most contact persons on a deal.
pub const MAX_CONTACTS: usize = 20;
/// Most line items on a deal.
pub const MAX_LINE_ITEMS: usize = 100;

/// Whether a deal is still being worked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DealStatus {
    /// Being worked on.
    Open,
    /// Won.
    Won,
    /// Lost.
    Lost,
}

impl DealStatus {
    /// Every status, in contract order.
    pub const ALL: [DealStatus; 3] = [DealStatus::Open, DealStatus::Won, DealStatus::Lost];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            DealStatus::Open => "OPEN",
            DealStatus::Won => "WON",
            DealStatus::Lost => "LOST",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<DealStatus> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// One line of a deal: a product or service, how many, at what unit price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// What is sold (a name or SKU).
    pub name: String,
    /// How many (at least 1).
    pub quantity: u32,
    /// The price of one, in the deal's currency's minor units.
    pub unit_price_minor: i64,
}

/// What a caller sets on a deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealData {
    /// The customer (organization or person) the deal is with.
    pub customer_id: CustomerId,
    /// Contact persons at the customer.
    pub contacts: Vec<CustomerId>,
    /// The deal's name (`Fleet renewal 2027`).
    pub name: String,
    /// What it is worth.
    pub amount: Money,
    /// When it is expected to close.
    pub close_date: NaiveDate,
    /// Who works it.
    pub owner: Option<String>,
    /// Its pipeline.
    pub pipeline_id: PipelineId,
    /// Its stage's key in the pipeline.
    pub stage: String,
    /// A probability that replaces the stage's default, if set.
    pub probability: Option<Probability>,
    /// Its line items; when there are any, the amount is their total.
    pub line_items: Vec<LineItem>,
}

/// The deal as it stood from an instant on: what a forecast reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// From when.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// The stage.
    pub stage: String,
    /// Open, won or lost.
    pub status: DealStatus,
    /// The amount.
    pub amount: Money,
    /// The expected close date.
    pub close_date: NaiveDate,
    /// The owner.
    pub owner: Option<String>,
    /// The probability in force (the override, else the stage's; won 1, lost 0).
    pub probability: Probability,
    /// The forecast category (won CLOSED, lost OMITTED).
    pub category: ForecastCategory,
}

/// A stored deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    /// Its identity.
    pub id: DealId,
    /// What the caller set.
    pub data: DealData,
    /// Open, won or lost.
    pub status: DealStatus,
    /// Why it was won or lost.
    pub outcome_reason: Option<String>,
    /// When it entered its current stage (or was reopened).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub stage_entered_at: DateTime<Utc>,
    /// When it starts rotting, if it is open in a stage with a threshold.
    #[serde(with = "crate::summary::opt_micros")]
    pub rots_at: Option<DateTime<Utc>>,
    /// Every state it has been in, oldest first.
    pub history: Vec<Snapshot>,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: DateTime<Utc>,
    /// Starts at 1, grows with every change: the etag.
    pub version: u64,
}

/// Why a deal cannot take a change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DealRefused {
    /// The stage is not in the deal's pipeline.
    #[error("stage {stage:?} is not in pipeline {pipeline}; its stages are: {known}")]
    UnknownStage {
        /// The stage asked for.
        stage: String,
        /// The pipeline.
        pipeline: PipelineId,
        /// Its stages' keys.
        known: String,
    },
    /// A won or lost deal can only be reopened into a stage.
    #[error("the deal is {0}: reopen it into a stage first")]
    Closed(&'static str),
    /// Already open.
    #[error("the deal is already open")]
    AlreadyOpen,
    /// The history is full.
    #[error("the deal's history holds {MAX_DEAL_HISTORY} changes; no more are kept")]
    HistoryFull,
}

impl Deal {
    /// The deal as it stood at `t`: `None` before it was created.
    pub fn at(&self, t: DateTime<Utc>) -> Option<&Snapshot> {
        let n = self.history.partition_point(|s| s.at <= t);
        n.checked_sub(1).and_then(|i| self.history.get(i))
    }

    /// Whether it is rotting at `now`: open, and in its stage past the stage's threshold.
    pub fn rotting(&self, now: DateTime<Utc>) -> bool {
        self.rots_at.is_some_and(|r| r <= now)
    }

    /// Recomputes what follows from the data and the pipeline (the probability and category in
    /// force, when it rots) and appends a snapshot at `at` if the forecast's view changed.
    pub fn settle(&mut self, pipeline: &Pipeline, at: DateTime<Utc>) -> Result<(), DealRefused> {
        let stage = pipeline
            .data
            .stage(&self.data.stage)
            .ok_or_else(|| unknown_stage(pipeline, &self.data.stage))?;
        let (probability, category) = match self.status {
            DealStatus::Won => (Probability::CERTAIN, ForecastCategory::Closed),
            DealStatus::Lost => (Probability(0), ForecastCategory::Omitted),
            DealStatus::Open => (
                self.data.probability.unwrap_or(stage.probability),
                stage.category,
            ),
        };
        self.rots_at = (self.status == DealStatus::Open && stage.rotting_days > 0)
            .then(|| self.stage_entered_at + Duration::days(i64::from(stage.rotting_days)));
        let snap = Snapshot {
            at,
            stage: self.data.stage.clone(),
            status: self.status,
            amount: self.data.amount.clone(),
            close_date: self.data.close_date,
            owner: self.data.owner.clone(),
            probability,
            category,
        };
        let same = self.history.last().is_some_and(|last| {
            Snapshot {
                at: last.at,
                ..snap.clone()
            } == *last
        });
        if !same {
            if self.history.len() >= MAX_DEAL_HISTORY {
                return Err(DealRefused::HistoryFull);
            }
            // A change within the same microsecond replaces the snapshot it follows.
            if self.history.last().is_some_and(|l| l.at >= at) {
                self.history.pop();
            }
            self.history.push(snap);
        }
        Ok(())
    }

    /// Moves an open deal to another stage of its pipeline at `at`.
    pub fn move_to(
        &mut self,
        stage: &str,
        pipeline: &Pipeline,
        at: DateTime<Utc>,
    ) -> Result<(), DealRefused> {
        if self.status != DealStatus::Open {
            return Err(DealRefused::Closed(self.status.name()));
        }
        if pipeline.data.stage(stage).is_none() {
            return Err(unknown_stage(pipeline, stage));
        }
        if self.data.stage != stage {
            self.data.stage = stage.to_owned();
            self.stage_entered_at = at;
        }
        self.settle(pipeline, at)
    }

    /// Closes an open deal as won or lost, with a reason.
    pub fn close(
        &mut self,
        won: bool,
        reason: String,
        pipeline: &Pipeline,
        at: DateTime<Utc>,
    ) -> Result<(), DealRefused> {
        if self.status != DealStatus::Open {
            return Err(DealRefused::Closed(self.status.name()));
        }
        self.status = if won {
            DealStatus::Won
        } else {
            DealStatus::Lost
        };
        self.outcome_reason = Some(reason);
        self.settle(pipeline, at)
    }

    /// Reopens a won or lost deal into a stage.
    pub fn reopen(
        &mut self,
        stage: &str,
        pipeline: &Pipeline,
        at: DateTime<Utc>,
    ) -> Result<(), DealRefused> {
        if self.status == DealStatus::Open {
            return Err(DealRefused::AlreadyOpen);
        }
        if pipeline.data.stage(stage).is_none() {
            return Err(unknown_stage(pipeline, stage));
        }
        self.status = DealStatus::Open;
        self.outcome_reason = None;
        self.data.stage = stage.to_owned();
        self.stage_entered_at = at;
        self.settle(pipeline, at)
    }
}

fn unknown_stage(pipeline: &Pipeline, stage: &str) -> DealRefused {
    DealRefused::UnknownStage {
        stage: stage.chars().take(70).collect(),
        pipeline: pipeline.id,
        known: pipeline
            .data
            .stages
            .iter()
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Checks and normalizes what a caller sets on a deal (the stage is checked against the
/// pipeline by [`Deal::settle`]).
pub fn validate_deal(d: &mut DealData) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "name", &mut d.name, MAX_NAME_CHARS);
    if d.name.is_empty() {
        v.add("name", "is required");
    }
    match normalize_currency(&d.amount.currency) {
        Ok(c) => d.amount.currency = c,
        Err(why) => v.add("amount.currency", why),
    }
    if !(0..=MAX_TOTAL_MINOR).contains(&d.amount.amount_minor) {
        v.add(
            "amount.amount_minor",
            format!("must be within 0 and {MAX_TOTAL_MINOR}"),
        );
    }
    if let Some(owner) = &mut d.owner {
        check_text(&mut v, "owner", owner, MAX_ID_CHARS);
        if owner.is_empty() {
            d.owner = None;
        }
    }
    if d.probability.is_some_and(|p| p > Probability::CERTAIN) {
        v.add("probability", "must be within [0, 1]");
    }
    d.contacts.sort();
    d.contacts.dedup();
    if d.contacts.len() > MAX_CONTACTS {
        v.add(
            "contacts",
            format!("at most {MAX_CONTACTS} contact persons"),
        );
    }
    if d.contacts.contains(&d.customer_id) {
        v.add("contacts", "the deal's customer is not its own contact");
    }
    if d.line_items.len() > MAX_LINE_ITEMS {
        v.add("line_items", format!("at most {MAX_LINE_ITEMS} line items"));
    }
    let mut total: i128 = 0;
    for (i, item) in d.line_items.iter_mut().enumerate() {
        check_text(
            &mut v,
            &format!("line_items[{i}].name"),
            &mut item.name,
            MAX_NAME_CHARS,
        );
        if item.name.is_empty() {
            v.add(format!("line_items[{i}].name"), "is required");
        }
        if item.quantity == 0 {
            v.add(format!("line_items[{i}].quantity"), "must be at least 1");
        }
        if !(0..=MAX_TOTAL_MINOR).contains(&item.unit_price_minor) {
            v.add(
                format!("line_items[{i}].unit_price_minor"),
                format!("must be within 0 and {MAX_TOTAL_MINOR}"),
            );
        }
        total += i128::from(item.quantity) * i128::from(item.unit_price_minor);
    }
    if !d.line_items.is_empty() && total != i128::from(d.amount.amount_minor) {
        v.add(
            "amount.amount_minor",
            format!(
                "the line items total {total}, but the amount is {}",
                d.amount.amount_minor
            ),
        );
    }
    v.into_result(())
}
