//! The deal filter: the same language as the customer filter (AIP-160 subset), over a deal's
//! fields.
//!
//! | field | operators | value |
//! |---|---|---|
//! | `stage` | `=` `!=` | a stage key |
//! | `status` | `=` `!=` | `OPEN`, `WON`, `LOST` |
//! | `owner` | `=` `!=` | text (`""`: nobody) |
//! | `pipeline_id`, `customer_id` | `=` `!=` | an id |
//! | `close_date` | all comparisons | a date, `2027-03-31` |
//! | `amount` | all comparisons | minor units of the deal's own currency |
//! | `amount.currency` | `=` `!=` | an ISO 4217 code |
//! | `rotting` | `=` `!=` | `true`, `false` (as of the instant the filter is evaluated at) |
//! | `forecast_category` | `=` `!=` | `PIPELINE`, `BEST_CASE`, `COMMIT`, `CLOSED`, `OMITTED` |
//! | `create_time`, `update_time` | all comparisons | an RFC 3339 time |

use chrono::{DateTime, NaiveDate, Utc};

use super::deal::{Deal, DealStatus};
use super::pipeline::{ForecastCategory, PipelineId};
use crate::customer::CustomerId;
use crate::filter::{Comparison, Expr, FilterError, Op};

/// One comparison on a deal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DealTerm {
    /// `stage OP KEY`
    Stage(Op, String),
    /// `status OP S`
    Status(Op, DealStatus),
    /// `owner OP TEXT`
    Owner(Op, String),
    /// `pipeline_id OP ID`
    Pipeline(Op, PipelineId),
    /// `customer_id OP ID`
    Customer(Op, CustomerId),
    /// `close_date OP DATE`
    CloseDate(Op, NaiveDate),
    /// `amount OP MINOR`
    Amount(Op, i64),
    /// `amount.currency OP CODE`
    Currency(Op, String),
    /// `rotting OP BOOL`
    Rotting(Op, bool),
    /// `forecast_category OP C`
    Category(Op, ForecastCategory),
    /// `create_time OP TIME`
    CreateTime(Op, DateTime<Utc>),
    /// `update_time OP TIME`
    UpdateTime(Op, DateTime<Utc>),
}

/// A parsed deal filter.
pub type DealFilter = Expr<DealTerm>;

/// Parses a deal filter.
pub fn parse(text: &str) -> Result<DealFilter, FilterError> {
    Expr::parse_with(text, &term)
}

fn term(
    field: &str,
    op: Op,
    value: &str,
    field_at: usize,
    value_at: usize,
) -> Result<DealTerm, FilterError> {
    let c = Comparison {
        field,
        op,
        value,
        field_at,
        value_at,
    };
    Ok(match field {
        "stage" => DealTerm::Stage(c.equality()?, value.trim().to_ascii_lowercase()),
        "status" => DealTerm::Status(
            c.equality()?,
            DealStatus::parse(value).ok_or_else(|| c.bad_value("expected OPEN, WON or LOST"))?,
        ),
        "owner" => DealTerm::Owner(c.equality()?, value.trim().to_owned()),
        "pipeline_id" => DealTerm::Pipeline(
            c.equality()?,
            value.parse().map_err(|e: String| c.bad_value(&e))?,
        ),
        "customer_id" => DealTerm::Customer(
            c.equality()?,
            value
                .parse()
                .map_err(|e: crate::customer::InvalidCustomerId| c.bad_value(&e.to_string()))?,
        ),
        "close_date" => DealTerm::CloseDate(
            c.ordered()?,
            NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
                .map_err(|_| c.bad_value("expected a date like 2027-03-31"))?,
        ),
        "amount" => DealTerm::Amount(
            c.ordered()?,
            value
                .trim()
                .parse()
                .map_err(|_| c.bad_value("expected an amount in minor units, like 250000"))?,
        ),
        "amount.currency" => DealTerm::Currency(
            c.equality()?,
            crate::money::normalize_currency(value).map_err(|e| c.bad_value(e))?,
        ),
        "rotting" => DealTerm::Rotting(
            c.equality()?,
            match value.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(c.bad_value("expected true or false")),
            },
        ),
        "forecast_category" => DealTerm::Category(
            c.equality()?,
            ForecastCategory::parse(value).ok_or_else(|| {
                c.bad_value("expected PIPELINE, BEST_CASE, COMMIT, CLOSED or OMITTED")
            })?,
        ),
        "create_time" => DealTerm::CreateTime(c.ordered()?, c.time()?),
        "update_time" => DealTerm::UpdateTime(c.ordered()?, c.time()?),
        _ => return Err(c.unknown("deal")),
    })
}

/// Whether a deal matches at `now` (rotting as of `now`).
pub fn matches(f: &DealFilter, d: &Deal, now: DateTime<Utc>) -> bool {
    f.eval_with(&|term| holds(term, d, now))
}

fn holds(term: &DealTerm, d: &Deal, now: DateTime<Utc>) -> bool {
    let category = d.history.last().map(|s| s.category);
    match term {
        DealTerm::Stage(op, s) => op.holds(d.data.stage.as_str().cmp(s)),
        DealTerm::Status(op, s) => op.holds(d.status.cmp(s)),
        DealTerm::Owner(op, o) => op.holds(d.data.owner.as_deref().unwrap_or("").cmp(o)),
        DealTerm::Pipeline(op, p) => op.holds(d.data.pipeline_id.cmp(p)),
        DealTerm::Customer(op, c) => op.holds(d.data.customer_id.cmp(c)),
        DealTerm::CloseDate(op, date) => op.holds(d.data.close_date.cmp(date)),
        DealTerm::Amount(op, a) => op.holds(d.data.amount.amount_minor.cmp(a)),
        DealTerm::Currency(op, c) => op.holds(d.data.amount.currency.cmp(c)),
        DealTerm::Rotting(op, r) => op.holds(d.rotting(now).cmp(r)),
        DealTerm::Category(op, c) => category.is_some_and(|have| op.holds(have.cmp(c))),
        DealTerm::CreateTime(op, t) => op.holds(d.create_time.cmp(t)),
        DealTerm::UpdateTime(op, t) => op.holds(d.update_time.cmp(t)),
    }
}

/// An equality an index can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DealIndexed {
    /// `rotting = true`: the deals whose rotting instant has passed.
    Rotting,
    /// `owner = "name"`
    Owner(String),
    /// `stage = KEY`
    Stage(String),
    /// `status = S`
    Status(DealStatus),
    /// `customer_id = ID`
    Customer(CustomerId),
}

/// The top-level equalities an index can answer, the narrowest kinds first; any one yields a
/// superset of the matches.
pub fn indexed(f: &DealFilter) -> Vec<DealIndexed> {
    let mut found = f.top_terms(&|t| match t {
        DealTerm::Rotting(Op::Eq, true) | DealTerm::Rotting(Op::Ne, false) => {
            Some(DealIndexed::Rotting)
        }
        DealTerm::Owner(Op::Eq, o) if !o.is_empty() => Some(DealIndexed::Owner(o.clone())),
        DealTerm::Stage(Op::Eq, s) => Some(DealIndexed::Stage(s.clone())),
        DealTerm::Status(Op::Eq, s) => Some(DealIndexed::Status(*s)),
        DealTerm::Customer(Op::Eq, c) => Some(DealIndexed::Customer(*c)),
        _ => None,
    });
    found.sort_by_key(|i| match i {
        DealIndexed::Customer(_) => 0,
        DealIndexed::Rotting => 1,
        DealIndexed::Owner(_) => 2,
        DealIndexed::Stage(_) => 3,
        DealIndexed::Status(_) => 4,
    });
    found
}
