//! Selling: pipelines of stages, deals that move through them until won or lost, and the
//! forecast of what will close.
//!
//! - [`pipeline`]: a pipeline as data: stages with a default probability, a forecast category
//!   and a rotting threshold.
//! - [`deal`]: a deal, its moves, and its history of snapshots (a deal as of any instant).
//! - [`forecast`]: per category and currency, weighted by the manual and by the calibrated
//!   probability; reproducible as of a past instant.
//! - [`filter`]: the deal filter.

pub mod deal;
pub mod filter;
pub mod forecast;
pub mod pipeline;

pub use deal::{Deal, DealData, DealId, DealRefused, DealStatus, LineItem, Snapshot};
pub use forecast::{AgeBand, Calibration, CategoryTotal, Forecast, ForecastQuery};
pub use pipeline::{ForecastCategory, Pipeline, PipelineData, PipelineId, Probability, Stage};

#[cfg(test)]
mod tests;
