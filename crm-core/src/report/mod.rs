//! The portfolio report: what the whole customer base looks like at a moment (`as_of`) and
//! over a period before it. Built by feeding every customer with its timeline to a
//! [`ReportBuilder`] (one customer at a time: the store streams them), then [`ReportBuilder::finish`].
//!
//! Everything is computed as of `as_of` from the entries that happened by then, so a report of
//! last quarter stays the same when this quarter's orders arrive. Definitions:
//!
//! - **reached a stage**: the customer's stage was at or past it at some time by `as_of` (a
//!   customer created at PURCHASE reached AWARENESS and CONSIDERATION then too); the funnel's
//!   conversion is reached(next) / reached(stage); days between stages are from first reaching
//!   one to first reaching the next, the median over customers who reached both.
//! - **a customer at time t**: bought by t and not CHURNED at t. New = first purchase within
//!   the period. Retention for the period = (customers at the end - customers new in the
//!   period) / customers at the start, the classic formula; it counts customers who came back
//!   as kept and can leave [0, 1] (below 0 when many new customers churn within the period);
//!   churn = 1 - retention. **Kept** = customers at the start who are still customers at the
//!   end; the kept rate = kept / customers at the start, always in [0, 1]; the churn-derived
//!   CLV lifespan uses 1 - kept rate.
//! - **revenue**: purchases less refunds within the period, in the report's currency.
//!   **Concentration**: among the paying customers (net revenue in the period above zero), the
//!   share of their revenue brought by the top 20% of them (rounded up). It differs from a
//!   share of the period's revenue when some customers' refunds outweigh their purchases.
//! - **medians**: the middle value; for an even count, the mean of the two middle values (a
//!   money median rounded half away from zero to a minor unit). The 90th percentile is the
//!   nearest rank: the value at position round(0.9 x (n - 1)) in ascending order.
//! - **CLV**: [`crate::value`] at `as_of`, over customers with purchases in the currency. A
//!   churned or lost customer keeps the CLV its purchases project: CLV describes what such a
//!   customer is worth while buying, not a forecast that it will come back (its status says
//!   that).
//! - **RFM**: see [`rfm_group`]; scores are quintiles over customers with purchases in the
//!   currency.
//! - **cohorts**: customers by month of first purchase, for the last `cohort_months` months
//!   (24 by default, at most 120); for each later month (0 = the first), the share of the
//!   cohort that bought in it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Utc};

use crate::customer::{Customer, CustomerKind};
use crate::lifecycle::LifecycleStage;
use crate::relationship::{Insight, RelationshipRules, RelationshipStatus};
use crate::scoring::{ScoringModel, Temperature};
use crate::summary::Summary;
use crate::timeline::{Event, TimelineEntry};
use crate::value::ValueRules;

/// What to report on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportParams {
    /// The moment the report describes.
    pub as_of: DateTime<Utc>,
    /// The start of the period (which ends at `as_of`).
    pub period_start: DateTime<Utc>,
    /// The currency of revenue, CLV and RFM (ISO 4217).
    pub currency: String,
    /// How many months of cohorts, ending with `as_of`'s: 1 to [`MAX_COHORT_MONTHS`]
    /// ([`DEFAULT_COHORT_MONTHS`] when 0). Older cohorts are left out, so the report stays
    /// small whatever the history's span.
    pub cohort_months: u32,
}

/// The cohort months a report shows unless asked otherwise.
pub const DEFAULT_COHORT_MONTHS: u32 = 24;
/// The most cohort months a report shows: 120 cohorts of at most 120 shares, about 120 KB.
pub const MAX_COHORT_MONTHS: u32 = 120;

impl ReportParams {
    /// The cohort months in force.
    pub fn cohort_months(&self) -> u32 {
        match self.cohort_months {
            0 => DEFAULT_COHORT_MONTHS,
            n => n.min(MAX_COHORT_MONTHS),
        }
    }
}

/// One stage of the funnel.
#[derive(Clone, Debug, PartialEq)]
pub struct FunnelStep {
    /// The stage.
    pub stage: LifecycleStage,
    /// Customers who reached it by `as_of`.
    pub reached: u64,
    /// Of those, the share who reached the next stage (None for the last stage or no one).
    pub conversion_to_next: Option<f64>,
    /// The median days from reaching this stage to reaching the next.
    pub median_days_to_next: Option<f64>,
}

/// The customers who first bought in one month, and how many of them bought in each month since.
#[derive(Clone, Debug, PartialEq)]
pub struct Cohort {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Customers whose first purchase was in that month.
    pub customers: u64,
    /// For month 0 (the first), 1, 2... up to `as_of`: the share of the cohort buying in it.
    pub retention: Vec<f64>,
}

/// The portfolio at `as_of`.
#[derive(Clone, Debug, PartialEq)]
pub struct PortfolioReport {
    /// The parameters.
    pub params: ReportParams,
    /// Customers created by `as_of`.
    pub customers: u64,
    /// By kind.
    pub by_kind: BTreeMap<CustomerKind, u64>,
    /// By lifecycle stage at `as_of`.
    pub by_stage: BTreeMap<LifecycleStage, u64>,
    /// By relationship status at `as_of`.
    pub by_status: BTreeMap<RelationshipStatus, u64>,
    /// By lead temperature at `as_of` (under the model in force).
    pub by_temperature: BTreeMap<Temperature, u64>,
    /// The funnel, AWARENESS to ADVOCACY.
    pub funnel: Vec<FunnelStep>,
    /// Customers (bought, not churned) at the period's start.
    pub customers_at_start: u64,
    /// Customers at `as_of`.
    pub customers_at_end: u64,
    /// Customers whose first purchase was in the period.
    pub new_in_period: u64,
    /// (end - new) / start; None without customers at the start.
    pub retention_rate: Option<f64>,
    /// 1 - retention.
    pub churn_rate: Option<f64>,
    /// Customers at the period's start still customers at its end.
    pub customers_kept: u64,
    /// kept / customers at the start, in [0, 1]; None without customers at the start.
    pub kept_rate: Option<f64>,
    /// Net revenue in the period, minor units of the currency.
    pub revenue_minor: i64,
    /// Customers who brought revenue in the period.
    pub paying_customers: u64,
    /// Among the paying customers (net revenue in the period above zero), the share of their
    /// revenue from the top 20% of them (rounded up).
    pub top20_revenue_share: Option<f64>,
    /// CLV over customers with purchases in the currency: mean, median, 90th percentile.
    pub clv_mean_minor: Option<i64>,
    /// See `clv_mean_minor`.
    pub clv_median_minor: Option<i64>,
    /// See `clv_mean_minor`.
    pub clv_p90_minor: Option<i64>,
    /// The revenue concentration curve: element k is the share of the paying customers'
    /// revenue that came from the top (k + 1) × 10% of them (rounded up), so the last is 1
    /// and element 1 is `top20_revenue_share`. Empty without revenue.
    pub revenue_concentration: Vec<f64>,
    /// The CLV distribution: its deciles, from the least (element 0) to the greatest (element
    /// 10), in minor units. Empty without customers with purchases in the currency.
    pub clv_deciles_minor: Vec<i64>,
    /// Customers per RFM group (customers with purchases in the currency).
    pub rfm_groups: BTreeMap<&'static str, u64>,
    /// Cohorts by month of first purchase, oldest first.
    pub cohorts: Vec<Cohort>,
}

/// The RFM group of recency, frequency and monetary scores (1..=5, 5 best), by recency and the
/// mean of frequency and monetary (`fm`, rounded half up):
///
/// | group | R | FM |
/// |---|---|---|
/// | champions | 5 | 4-5 |
/// | loyal | 3-4 | 4-5 |
/// | potential loyalist | 4-5 | 2-3 |
/// | new | 5 | 1 |
/// | promising | 4 | 1 |
/// | need attention | 3 | 3 |
/// | about to sleep | 3 | 1-2 |
/// | cannot lose | 1-2 | 5 |
/// | at risk | 1-2 | 3-4 |
/// | hibernating | 2 | 1-2 |
/// | lost | 1 | 1-2 |
pub fn rfm_group(r: u8, f: u8, m: u8) -> &'static str {
    let fm = (f + m).div_ceil(2);
    let rows: [(&str, bool); 11] = [
        ("champions", r == 5 && fm >= 4),
        ("loyal", (3..=4).contains(&r) && fm >= 4),
        ("potential loyalist", r >= 4 && (2..=3).contains(&fm)),
        ("new", r == 5),
        ("promising", r == 4),
        ("need attention", r == 3 && fm == 3),
        ("about to sleep", r == 3),
        ("cannot lose", fm == 5),
        ("at risk", fm >= 3),
        ("hibernating", r == 2),
        ("lost", true),
    ];
    rows.iter()
        .find(|(_, holds)| *holds)
        .map_or("lost", |(name, _)| name)
}

/// The quintile score 1..=5 of `v` among `sorted` values (ascending; higher value, higher
/// score): its position (values strictly below it) in fifths. Ties share the lower score, so
/// one purchase among many one-time buyers scores 1; fewer than five values cannot reach every
/// score (the best of two scores 3).
pub fn quintile(sorted: &[i64], v: i64) -> u8 {
    let n = sorted.len().max(1);
    let below = sorted.partition_point(|x| *x < v);
    (1 + below * 5 / n).min(5) as u8
}

fn quintiles(values: &[i64]) -> Vec<u8> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    values.iter().map(|v| quintile(&sorted, *v)).collect()
}

/// Every RFM group name, for filters.
pub const RFM_GROUPS: [&str; 11] = [
    "champions",
    "loyal",
    "potential loyalist",
    "new",
    "promising",
    "need attention",
    "about to sleep",
    "cannot lose",
    "at risk",
    "hibernating",
    "lost",
];

/// A customer's RFM inputs in a currency at `as_of`, from that currency's purchases only:
/// minus the days since the last purchase in it (so that higher is better), the purchases in
/// it, the net purchases in it. None without purchases in the currency.
pub fn rfm_inputs(s: &Summary, currency: &str, as_of: DateTime<Utc>) -> Option<(i64, i64, i64)> {
    let total = s.totals.get(currency)?;
    // The currency's own purchases (a summary from before per-currency counts: the whole).
    let (last, purchases) = match (total.last_purchase, total.purchases) {
        (Some(last), n) if n > 0 => (last, n),
        _ => (s.last_purchase?, s.purchase_count),
    };
    let purchases = i64::try_from(purchases).ok().filter(|n| *n > 0)?;
    Some((-(as_of - last).num_days(), purchases, total.net_minor()))
}

/// The portfolio's RFM distribution in one currency: every customer's inputs, sorted per
/// dimension, so a customer's group is found without another pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RfmDistribution {
    recency: Vec<i64>,
    frequency: Vec<i64>,
    monetary: Vec<i64>,
}

impl RfmDistribution {
    /// The distribution of these customers' inputs (see [`rfm_inputs`]).
    pub fn new(inputs: impl IntoIterator<Item = (i64, i64, i64)>) -> Self {
        let mut d = RfmDistribution::default();
        for (r, f, m) in inputs {
            d.recency.push(r);
            d.frequency.push(f);
            d.monetary.push(m);
        }
        d.recency.sort_unstable();
        d.frequency.sort_unstable();
        d.monetary.sort_unstable();
        d
    }

    /// The group of a customer with these inputs.
    pub fn group(&self, (r, f, m): (i64, i64, i64)) -> &'static str {
        rfm_group(
            quintile(&self.recency, r),
            quintile(&self.frequency, f),
            quintile(&self.monetary, m),
        )
    }
}

fn month_index(t: DateTime<Utc>) -> i64 {
    i64::from(t.year()) * 12 + i64::from(t.month0())
}

/// A customer's lifecycle replayed from its history in time order: when each stage was first
/// reached (by `entries`' end), and the stage then.
///
/// The customer starts at `initial`, which it reached (with every stage below) at `since`.
/// Manual moves take effect at their times. Automatic moves are derived again from the
/// purchases, converted referrals and promoter signals in the order they happened, by the same
/// rules the write path applies ([`RelationshipRules::automatic_stage`]), so the answer depends
/// on when things happened, never on the order they were recorded in (an import of old orders
/// newest first gives the funnel the same times as the orders recorded live).
pub fn replay_lifecycle(
    initial: LifecycleStage,
    since: DateTime<Utc>,
    entries: &[&TimelineEntry],
    rules: &RelationshipRules,
) -> ([Option<DateTime<Utc>>; 6], LifecycleStage) {
    let mut reached: [Option<DateTime<Utc>>; 6] = [None; 6];
    let reach =
        |stage: LifecycleStage, at: DateTime<Utc>, reached: &mut [Option<DateTime<Utc>>; 6]| {
            for slot in reached.iter_mut().take(usize::from(stage.rank()) + 1) {
                if slot.is_none() {
                    *slot = Some(at);
                }
            }
        };
    reach(initial, since, &mut reached);
    let mut stage = initial;
    let mut summary = Summary::default();
    let mut purchases: Vec<DateTime<Utc>> = Vec::new();
    // Once the loyalty rule held (n purchases within the window), it is a fact of the past.
    let mut dense = false;
    let n = rules.loyalty_purchases.max(1);
    for e in entries {
        match &e.event {
            Event::StageChange(change) if !change.automatic => {
                stage = change.to;
                reach(stage, e.occurred_at, &mut reached);
                continue;
            }
            // Automatic moves are derived again below, at the time their cause happened.
            Event::StageChange(_) => continue,
            Event::Purchase(_) => {
                // Entries come in time order: the newest n purchases are the last n.
                purchases.push(e.occurred_at);
                if let Some(oldest) = purchases.len().checked_sub(n).map(|i| purchases[i]) {
                    dense |= e.occurred_at - oldest < rules.loyalty_window;
                }
            }
            _ => {}
        }
        if summary.apply(e).is_err() {
            continue;
        }
        if let Some((target, _)) = rules.automatic_stage(&summary, dense)
            && target > stage
        {
            stage = target;
            reach(stage, e.occurred_at, &mut reached);
        }
    }
    (reached, stage)
}

/// Builds a [`PortfolioReport`] one customer at a time.
#[derive(Debug)]
pub struct ReportBuilder<'a> {
    params: ReportParams,
    rules: &'a RelationshipRules,
    model: &'a ScoringModel,
    value_rules: &'a ValueRules,
    report: PortfolioReport,
    stage_days: [Vec<f64>; 5],
    revenue: Vec<i64>,
    /// The period's revenue, summed without a limit (each customer's fits 64 bits; the sum of
    /// many may not).
    revenue_sum: i128,
    clv: Vec<i64>,
    rfm: Vec<(i64, i64, i64)>,
    cohorts: BTreeMap<i64, (u64, BTreeMap<i64, u64>)>,
}

impl<'a> ReportBuilder<'a> {
    /// A builder for `params` under the store's rules and model.
    pub fn new(
        params: ReportParams,
        rules: &'a RelationshipRules,
        model: &'a ScoringModel,
        value_rules: &'a ValueRules,
    ) -> Self {
        ReportBuilder {
            report: PortfolioReport {
                params: params.clone(),
                customers: 0,
                by_kind: BTreeMap::new(),
                by_stage: BTreeMap::new(),
                by_status: BTreeMap::new(),
                by_temperature: BTreeMap::new(),
                funnel: Vec::new(),
                customers_at_start: 0,
                customers_at_end: 0,
                new_in_period: 0,
                retention_rate: None,
                churn_rate: None,
                customers_kept: 0,
                kept_rate: None,
                revenue_minor: 0,
                paying_customers: 0,
                top20_revenue_share: None,
                clv_mean_minor: None,
                clv_median_minor: None,
                clv_p90_minor: None,
                revenue_concentration: Vec::new(),
                clv_deciles_minor: Vec::new(),
                rfm_groups: BTreeMap::new(),
                cohorts: Vec::new(),
            },
            params,
            rules,
            model,
            value_rules,
            stage_days: Default::default(),
            revenue: Vec::new(),
            revenue_sum: 0,
            clv: Vec::new(),
            rfm: Vec::new(),
            cohorts: BTreeMap::new(),
        }
    }

    /// Adds a customer with its whole timeline (in any order).
    pub fn add(&mut self, c: &Customer, timeline: &[TimelineEntry]) {
        let p = &self.params;
        // A customer counts from its customer-since: the one an importer set, or else its
        // creation or its first entry, whichever is earlier (history recorded later than it
        // happened).
        let since = c.data.customer_since.unwrap_or_else(|| {
            timeline
                .iter()
                .map(|e| e.occurred_at)
                .min()
                .map_or(c.create_time, |first| first.min(c.create_time))
        });
        if since > p.as_of {
            return;
        }
        let mut entries: Vec<&TimelineEntry> = timeline
            .iter()
            .filter(|e| e.occurred_at <= p.as_of)
            .collect();
        entries.sort_by_key(|e| (e.occurred_at, e.id));
        let summary = Summary::from_entries(entries.iter().copied()).unwrap_or_default();
        let at_start = Summary::from_entries(
            entries
                .iter()
                .copied()
                .filter(|e| e.occurred_at <= p.period_start),
        )
        .unwrap_or_default();

        // The stage at as_of, and when each stage was first reached: replayed from the history
        // in time order (see [`replay_lifecycle`]).
        // The stage it was created at: where the first change it recorded (entry ids grow in
        // recording order) moved it from.
        let initial = timeline
            .iter()
            .filter_map(|e| match &e.event {
                Event::StageChange(s) => Some((e.id, s.from)),
                _ => None,
            })
            .min()
            .map_or(c.data.lifecycle_stage, |(_, from)| from);
        let (reached, stage) = replay_lifecycle(initial, since, &entries, self.rules);
        for k in 0..5 {
            if let (Some(a), Some(b)) = (reached[k], reached[k + 1]) {
                self.stage_days[k].push((b - a).num_seconds().max(0) as f64 / 86_400.0);
            }
        }
        let r = &mut self.report;
        r.customers += 1;
        *r.by_kind.entry(c.kind()).or_default() += 1;
        *r.by_stage.entry(stage).or_default() += 1;
        let insight = Insight::derive(
            c,
            summary.clone(),
            self.model,
            self.rules,
            self.value_rules,
            p.as_of,
        );
        *r.by_status.entry(insight.status).or_default() += 1;
        *r.by_temperature
            .entry(insight.lead.temperature)
            .or_default() += 1;
        for (k, when) in reached.iter().enumerate() {
            if when.is_some() {
                let step = LifecycleStage::from_rank(k as u8).unwrap_or_default();
                r.funnel.push(FunnelStep {
                    stage: step,
                    reached: 1,
                    conversion_to_next: None,
                    median_days_to_next: None,
                });
            }
        }

        // Customers at the start and the end of the period; new ones.
        let is_customer = |s: &Summary, t| {
            s.purchase_count > 0 && self.rules.status(s, t) != RelationshipStatus::Churned
        };
        let (was, is) = (
            is_customer(&at_start, p.period_start),
            is_customer(&summary, p.as_of),
        );
        r.customers_at_start += u64::from(was);
        r.customers_at_end += u64::from(is);
        r.customers_kept += u64::from(was && is);
        let first = summary.first_purchase;
        r.new_in_period += u64::from(first.is_some_and(|f| f > p.period_start && f <= p.as_of));

        // Revenue in the period, and purchase months for the cohorts.
        let mut revenue: i64 = 0;
        let mut months = BTreeSet::new();
        for e in &entries {
            let (amount, currency) = match &e.event {
                Event::Purchase(x) => {
                    months.insert(month_index(e.occurred_at));
                    (x.amount.amount_minor, &x.amount.currency)
                }
                Event::Refund(x) => (-x.amount.amount_minor, &x.amount.currency),
                _ => continue,
            };
            if *currency == p.currency && e.occurred_at > p.period_start {
                revenue = revenue.saturating_add(amount);
            }
        }
        self.revenue_sum += i128::from(revenue);
        r.revenue_minor = i64::try_from(self.revenue_sum).unwrap_or(r.revenue_minor);
        if revenue > 0 {
            self.revenue.push(revenue);
        }
        let oldest_cohort = month_index(p.as_of) - i64::from(p.cohort_months()) + 1;
        if let Some(f) = first.filter(|f| month_index(*f) >= oldest_cohort) {
            let cohort = self.cohorts.entry(month_index(f)).or_default();
            cohort.0 += 1;
            for m in months {
                *cohort.1.entry(m).or_default() += 1;
            }
        }

        // CLV and RFM in the currency.
        if let Some(v) = insight.value.iter().find(|v| v.currency == p.currency) {
            self.clv.push(v.clv_minor);
            if let Some(inputs) = rfm_inputs(&summary, &p.currency, p.as_of) {
                self.rfm.push(inputs);
            }
        }
    }

    /// Whether the period's revenue fits the report's 64-bit amount (a customer's total is at
    /// most 10^15 minor units, so it fails only past 9,223 customers at that limit).
    pub fn revenue_fits(&self) -> bool {
        i64::try_from(self.revenue_sum).is_ok()
    }

    /// The report.
    pub fn finish(mut self) -> PortfolioReport {
        let mut r = self.report;
        let mut reached = [0u64; 6];
        for step in &r.funnel {
            reached[usize::from(step.stage.rank())] += 1;
        }
        r.funnel = LifecycleStage::ALL
            .iter()
            .enumerate()
            .map(|(k, stage)| FunnelStep {
                stage: *stage,
                reached: reached[k],
                conversion_to_next: (k < 5 && reached[k] > 0)
                    .then(|| reached[k + 1] as f64 / reached[k] as f64),
                median_days_to_next: self.stage_days.get_mut(k).and_then(|d| median(d)),
            })
            .collect();
        if r.customers_at_start > 0 {
            let kept = r.customers_at_end as f64 - r.new_in_period as f64;
            let retention = kept / r.customers_at_start as f64;
            r.retention_rate = Some(retention);
            r.churn_rate = Some(1.0 - retention);
            r.kept_rate = Some(r.customers_kept as f64 / r.customers_at_start as f64);
        }
        r.paying_customers = self.revenue.len() as u64;
        self.revenue.sort_unstable_by(|a, b| b.cmp(a));
        let total: i128 = self.revenue.iter().map(|&x| i128::from(x)).sum();
        if total > 0 {
            let top = self.revenue.len().div_ceil(5);
            let top_sum: i128 = self.revenue.iter().take(top).map(|&x| i128::from(x)).sum();
            r.top20_revenue_share = Some(top_sum as f64 / total as f64);
            r.revenue_concentration = curves::concentration(&self.revenue, total);
        }
        self.clv.sort_unstable();
        if !self.clv.is_empty() {
            let sum: i128 = self.clv.iter().map(|&x| i128::from(x)).sum();
            let n = self.clv.len() as i128;
            r.clv_mean_minor = i64::try_from((2 * sum + n) / (2 * n)).ok();
            r.clv_median_minor = median_minor(&self.clv);
            r.clv_p90_minor = percentile(&self.clv, 0.9);
            r.clv_deciles_minor = (0..=10)
                .filter_map(|k| percentile(&self.clv, f64::from(k) / 10.0))
                .collect();
        }
        let (rs, fs, ms): (Vec<i64>, Vec<i64>, Vec<i64>) = (
            self.rfm.iter().map(|x| x.0).collect(),
            self.rfm.iter().map(|x| x.1).collect(),
            self.rfm.iter().map(|x| x.2).collect(),
        );
        let (rq, fq, mq) = (quintiles(&rs), quintiles(&fs), quintiles(&ms));
        for i in 0..self.rfm.len() {
            *r.rfm_groups
                .entry(rfm_group(rq[i], fq[i], mq[i]))
                .or_default() += 1;
        }
        let last_month = month_index(r.params.as_of);
        r.cohorts = self
            .cohorts
            .into_iter()
            .map(|(m, (customers, buyers))| Cohort {
                month: format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1),
                customers,
                retention: (m..=last_month)
                    .map(|month| buyers.get(&month).copied().unwrap_or(0) as f64 / customers as f64)
                    .collect(),
            })
            .collect();
        r
    }
}

mod curves;
use curves::{median, median_minor, percentile};
#[cfg(test)]
mod tests;
