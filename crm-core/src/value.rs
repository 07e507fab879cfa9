//! What a customer is worth, per currency: the historical value (net purchases so far) and the
//! customer lifetime value of DOMAIN.md,
//!
//! ```text
//! CLV = average sale x purchases per year x expected lifespan in years
//! ```
//!
//! with the inputs shown beside it. Money stays in integer minor units: the average sale is the
//! net total over the purchase count and the CLV is computed from the net total in one exact
//! integer expression (`net x 365 / observed days x lifespan`), rounded half away from zero.
//! Every figure of a currency reads that currency's purchases only: the average sale is its net
//! over its purchases, and purchases per year are counted from the first purchase in it to
//! now, at least one year (so a first purchase yesterday is one purchase a year, not 365).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::summary::Summary;
use crate::validate::Violations;

/// Where the expected lifespan of a CLV comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifespanSource {
    /// Configured.
    #[default]
    Configured,
    /// One over the portfolio's annual churn rate (in thousandths: 250 = 25% a year).
    PortfolioChurn {
        /// The churn rate over the year the lifespan was derived from, thousandths.
        annual_churn_milli: u32,
    },
}

/// How CLV is projected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueRules {
    /// Expected customer lifespan in tenths of a year (30 = 3 years).
    pub lifespan_tenths: u32,
    /// Where `lifespan_tenths` comes from.
    pub lifespan_source: LifespanSource,
}

impl Default for ValueRules {
    fn default() -> Self {
        ValueRules {
            lifespan_tenths: 30,
            lifespan_source: LifespanSource::Configured,
        }
    }
}

impl ValueRules {
    /// The rules with the lifespan derived from an annual churn rate: a customer stays
    /// `1 / churn` years on average (a churn of 25% a year: 4 years), rounded to a tenth and
    /// kept within 0.1 to 100 years. `None` when the rate says nothing (no customers to churn,
    /// or none churned: the configured lifespan stays).
    pub fn with_churn(&self, annual_churn: f64) -> Option<ValueRules> {
        if !(annual_churn > 0.0 && annual_churn <= 1.0) {
            return None;
        }
        let tenths = (10.0 / annual_churn).round().clamp(1.0, 1000.0) as u32;
        Some(ValueRules {
            lifespan_tenths: tenths,
            lifespan_source: LifespanSource::PortfolioChurn {
                annual_churn_milli: (annual_churn * 1000.0).round() as u32,
            },
        })
    }

    /// Checks the rules: a lifespan of 0.1 to 100 years.
    pub fn validate(&self) -> Result<(), Violations> {
        if !(1..=1000).contains(&self.lifespan_tenths) {
            return Err(Violations::one(
                "lifespan_tenths",
                "must be 1 to 1000 (0.1 to 100 years)",
            ));
        }
        Ok(())
    }
}

/// A customer's value in one currency, with its inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyValue {
    /// ISO 4217 code.
    pub currency: String,
    /// Net purchases so far (purchases less refunds), minor units.
    pub historical_minor: i64,
    /// Purchases in this currency.
    pub purchases: u64,
    /// Net purchases over purchases, minor units (rounded).
    pub average_sale_minor: i64,
    /// Days from the first purchase in this currency to now, at least 365.
    pub observed_days: i64,
    /// Purchases per year in thousandths (2500 = 2.5 a year).
    pub purchases_per_year_milli: i64,
    /// The lifespan used, tenths of a year.
    pub lifespan_tenths: u32,
    /// Where that lifespan comes from.
    pub lifespan_source: LifespanSource,
    /// The projected lifetime value, minor units.
    pub clv_minor: i64,
}

/// Rounds `n / d` half away from zero (d > 0).
fn div_round(n: i128, d: i128) -> i128 {
    if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        -((-2 * n + d) / (2 * d))
    }
}

/// A customer's value per currency at `now` (empty before the first purchase).
pub fn customer_value(s: &Summary, rules: &ValueRules, now: DateTime<Utc>) -> Vec<CurrencyValue> {
    let (Some(first), true) = (s.first_purchase, s.purchase_count > 0) else {
        return Vec::new();
    };
    s.totals
        .iter()
        .map(|(currency, total)| {
            // This currency's purchases only: a customer buying in TRY and EUR has a EUR
            // average sale over its EUR purchases, and EUR purchases per year since its first.
            let (purchases, first) = match (total.purchases, total.first_purchase) {
                (n, Some(f)) if n > 0 => (n, f),
                // A summary from before per-currency counts, with one currency: the whole.
                _ => (s.purchase_count, first),
            };
            let observed_days = (now - first).num_days().max(365);
            let count = i128::from(purchases);
            let net = i128::from(total.net_minor());
            // CLV = (net / count) x (count x 365 / days) x (tenths / 10)
            //     = net x 365 x tenths / (days x 10)
            let clv = div_round(
                net * 365 * i128::from(rules.lifespan_tenths),
                i128::from(observed_days) * 10,
            );
            CurrencyValue {
                currency: currency.clone(),
                historical_minor: total.net_minor(),
                purchases,
                average_sale_minor: i64::try_from(div_round(net, count)).unwrap_or(i64::MAX),
                observed_days,
                purchases_per_year_milli: i64::try_from(div_round(
                    count * 365_000,
                    i128::from(observed_days),
                ))
                .unwrap_or(i64::MAX),
                lifespan_tenths: rules.lifespan_tenths,
                lifespan_source: rules.lifespan_source,
                clv_minor: i64::try_from(clv).unwrap_or(if clv > 0 { i64::MAX } else { i64::MIN }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::summary::CurrencyTotal;

    #[test]
    fn the_domain_example_comes_out_exactly() {
        // DOMAIN.md: 1,000 TL average sale x 12 purchases a year x 3 years = 36,000 TL.
        // 36 purchases of 1,000.00 TL over three years (1095 days).
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut s = Summary {
            purchase_count: 36,
            first_purchase: Some(now - Duration::days(1095)),
            last_purchase: Some(now),
            ..Summary::default()
        };
        s.totals.insert(
            "TRY".into(),
            CurrencyTotal {
                purchased_minor: 3_600_000,
                refunded_minor: 0,
                ..CurrencyTotal::default()
            },
        );
        let v = &customer_value(&s, &ValueRules::default(), now)[0];
        assert_eq!(v.average_sale_minor, 100_000);
        // 36 x 365 / 1095 = 12 a year.
        assert_eq!(v.purchases_per_year_milli, 12_000);
        // 3,600,000 x 365 x 30 / (1095 x 10) = 3,600,000 minor units = 36,000.00 TL.
        assert_eq!(v.clv_minor, 3_600_000);
        assert_eq!(v.historical_minor, 3_600_000);
    }

    #[test]
    fn a_new_customer_counts_a_full_year() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut s = Summary {
            purchase_count: 1,
            first_purchase: Some(now - Duration::days(1)),
            ..Summary::default()
        };
        s.totals.insert(
            "EUR".into(),
            CurrencyTotal {
                purchased_minor: 50_00,
                refunded_minor: 10_00,
                ..CurrencyTotal::default()
            },
        );
        let v = &customer_value(
            &s,
            &ValueRules {
                lifespan_tenths: 20,
                ..ValueRules::default()
            },
            now,
        )[0];
        assert_eq!(v.observed_days, 365);
        assert_eq!(v.average_sale_minor, 40_00);
        // 4000 x 365 x 20 / (365 x 10) = 8000: a year's worth for two years.
        assert_eq!(v.clv_minor, 8000);
        assert!(customer_value(&Summary::default(), &ValueRules::default(), now).is_empty());
    }

    #[test]
    fn a_lifespan_is_one_over_the_churn_rate() {
        let rules = ValueRules::default();
        // A quarter of the customers lost each year: they stay four years.
        let derived = rules.with_churn(0.25);
        assert_eq!(derived.map(|r| r.lifespan_tenths), Some(40));
        assert_eq!(
            derived.map(|r| r.lifespan_source),
            Some(LifespanSource::PortfolioChurn {
                annual_churn_milli: 250
            })
        );
        // Two thirds: 1.5 years. Everyone: a year. A tiny churn is capped at 100 years.
        assert_eq!(
            rules.with_churn(2.0 / 3.0).map(|r| r.lifespan_tenths),
            Some(15)
        );
        assert_eq!(rules.with_churn(1.0).map(|r| r.lifespan_tenths), Some(10));
        assert_eq!(
            rules.with_churn(0.0001).map(|r| r.lifespan_tenths),
            Some(1000)
        );
        // No churn (or a rate that is not one) says nothing.
        assert_eq!(rules.with_churn(0.0), None);
        assert_eq!(rules.with_churn(f64::NAN), None);
        assert_eq!(rules.with_churn(-0.5), None);
    }

    #[test]
    fn each_currency_counts_its_own_purchases() {
        // Three TRY purchases over two years and one EUR purchase a month ago.
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut s = Summary::default();
        let buy = |s: &mut Summary, currency: &str, amount: i64, days_ago: i64| {
            let entry = crate::timeline::TimelineEntry {
                id: crate::timeline::EntryId(s.purchase_count + 1),
                customer_id: crate::customer::CustomerId(1),
                occurred_at: now - Duration::days(days_ago),
                recorded_at: now,
                actor: "t".into(),
                event: crate::timeline::Event::Purchase(crate::timeline::Purchase {
                    order_ref: format!("o{}", s.purchase_count),
                    amount: crate::money::Money::new(currency, amount),
                    line_items: vec![],
                }),
            };
            s.apply(&entry).unwrap_or_else(|e| panic!("{e}"));
        };
        buy(&mut s, "TRY", 300_000, 730);
        buy(&mut s, "TRY", 300_000, 365);
        buy(&mut s, "TRY", 300_000, 10);
        buy(&mut s, "EUR", 50_000, 30);
        let values = customer_value(&s, &ValueRules::default(), now);
        let eur = values
            .iter()
            .find(|v| v.currency == "EUR")
            .unwrap_or_else(|| panic!("no EUR"));
        // EUR: one purchase, its own average (not 50,000 over four purchases), a year observed.
        assert_eq!((eur.purchases, eur.average_sale_minor), (1, 50_000));
        assert_eq!(eur.observed_days, 365);
        assert_eq!(eur.purchases_per_year_milli, 1_000);
        let tr = values
            .iter()
            .find(|v| v.currency == "TRY")
            .unwrap_or_else(|| panic!("no TRY"));
        assert_eq!(
            (tr.purchases, tr.average_sale_minor, tr.observed_days),
            (3, 300_000, 730)
        );
    }
}
