//! The loyalty program: how purchases earn points, when points expire, the tiers and what they
//! give. Data, versioned by the store, validated here.

use serde::{Deserialize, Serialize};

use crate::money::normalize_currency;
use crate::validate::{MAX_ID_CHARS, Violations, check_text};

/// Most earn rates, SKU multipliers, tiers or point values in a program.
pub const MAX_PROGRAM_ITEMS: usize = 64;
/// The largest multiplier, in percent (10×).
pub const MAX_MULTIPLIER_PERCENT: u32 = 1_000;
/// The longest expiry, in months (ten years).
pub const MAX_EXPIRY_MONTHS: u32 = 120;
/// The longest qualification window or grace period, in days (ten years).
pub const MAX_WINDOW_DAYS: u32 = 3_650;
/// The largest fixed bonus, in points.
pub const MAX_BONUS_POINTS: i64 = 1_000_000;

/// How many minor units of a currency earn (or are worth) one point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyRate {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units per point: 100 earns 1 point per lira (or euro) spent.
    pub minor_per_point: i64,
}

/// A multiplier for the line items whose SKU starts with a prefix (a category).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuMultiplier {
    /// The SKU prefix (`SHOE-`); the longest matching prefix applies.
    pub sku_prefix: String,
    /// Percent of the base points (200: double).
    pub percent: u32,
}

/// Fixed points for events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bonuses {
    /// On the customer's first purchase.
    pub first_purchase: i64,
    /// On the first purchase of a year in the customer's birthday month.
    pub birthday_month: i64,
    /// To the referrer, when a customer it referred makes a first purchase.
    pub converted_referral: i64,
    /// For a review written (the feedback domain's hook).
    pub review: i64,
}

/// What a tier is earned by, over the rolling window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Qualification {
    /// Points earned by purchases (bonuses and adjustments do not count), less reversals.
    PointsEarned,
    /// Net spend in one currency, in minor units.
    NetSpend {
        /// The currency counted.
        currency: String,
    },
}

/// A tier: reached when the qualification measure over the window is at least `threshold`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Its name (`GOLD`).
    pub name: String,
    /// The measure it takes; the first tier's is 0 (everyone is in it).
    pub threshold: i64,
    /// Its earn multiplier, in percent of the base points (100: none).
    pub earn_percent: u32,
}

/// The loyalty program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoyaltyProgram {
    /// Points per currency; a purchase in a currency without a rate earns nothing.
    pub earn_rates: Vec<CurrencyRate>,
    /// Category multipliers for line items.
    pub sku_multipliers: Vec<SkuMultiplier>,
    /// Fixed bonuses.
    pub bonuses: Bonuses,
    /// Points expire this many months after they are earned.
    pub expiry_months: u32,
    /// The tiers, lowest first.
    pub tiers: Vec<Tier>,
    /// What tiers are earned by.
    pub qualification: Qualification,
    /// The rolling window tiers are measured over, in days.
    pub window_days: u32,
    /// How long a tier is kept after its measure falls below it, in days.
    pub grace_days: u32,
    /// What a point is worth, per currency (for the liability).
    pub point_values: Vec<CurrencyRate>,
}

impl Default for LoyaltyProgram {
    /// One point per 100 minor units of TRY and EUR, a year to expire, BRONZE/SILVER/GOLD over
    /// a year's earned points, a 30-day grace.
    fn default() -> Self {
        let rate = |currency: &str| CurrencyRate {
            currency: currency.into(),
            minor_per_point: 100,
        };
        let tier = |name: &str, threshold, earn_percent| Tier {
            name: name.into(),
            threshold,
            earn_percent,
        };
        LoyaltyProgram {
            earn_rates: vec![rate("TRY"), rate("EUR")],
            sku_multipliers: Vec::new(),
            bonuses: Bonuses::default(),
            expiry_months: 12,
            tiers: vec![
                tier("BRONZE", 0, 100),
                tier("SILVER", 1_000, 125),
                tier("GOLD", 5_000, 150),
            ],
            qualification: Qualification::PointsEarned,
            window_days: 365,
            grace_days: 30,
            point_values: vec![rate("TRY")],
        }
    }
}

fn check_rates(v: &mut Violations, field: &str, rates: &mut [CurrencyRate]) {
    if rates.len() > MAX_PROGRAM_ITEMS {
        v.add(field, format!("at most {MAX_PROGRAM_ITEMS}"));
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, r) in rates.iter_mut().enumerate() {
        match normalize_currency(&r.currency) {
            Ok(code) if seen.contains(&code) => v.add(
                format!("{field}[{i}].currency"),
                format!("{code} is given twice"),
            ),
            Ok(code) => {
                seen.push(code.clone());
                r.currency = code;
            }
            Err(why) => v.add(format!("{field}[{i}].currency"), why),
        }
        if r.minor_per_point <= 0 {
            v.add(
                format!("{field}[{i}].minor_per_point"),
                format!("must be positive, got {}", r.minor_per_point),
            );
        }
    }
}

impl LoyaltyProgram {
    /// Checks and normalizes a program: positive rates in real currencies, multipliers and
    /// bonuses within bounds, tiers with distinct names and strictly rising thresholds from 0.
    pub fn validate(&mut self) -> Result<(), Violations> {
        let mut v = Violations::default();
        check_rates(&mut v, "earn_rates", &mut self.earn_rates);
        check_rates(&mut v, "point_values", &mut self.point_values);
        if self.sku_multipliers.len() > MAX_PROGRAM_ITEMS {
            v.add("sku_multipliers", format!("at most {MAX_PROGRAM_ITEMS}"));
        }
        for (i, m) in self.sku_multipliers.iter_mut().enumerate() {
            check_text(
                &mut v,
                &format!("sku_multipliers[{i}].sku_prefix"),
                &mut m.sku_prefix,
                MAX_ID_CHARS,
            );
            if m.sku_prefix.is_empty() {
                v.add(format!("sku_multipliers[{i}].sku_prefix"), "is required");
            }
            if m.percent > MAX_MULTIPLIER_PERCENT {
                v.add(
                    format!("sku_multipliers[{i}].percent"),
                    format!("must be at most {MAX_MULTIPLIER_PERCENT}"),
                );
            }
        }
        let b = self.bonuses;
        for (field, points) in [
            ("bonuses.first_purchase", b.first_purchase),
            ("bonuses.birthday_month", b.birthday_month),
            ("bonuses.converted_referral", b.converted_referral),
            ("bonuses.review", b.review),
        ] {
            if !(0..=MAX_BONUS_POINTS).contains(&points) {
                v.add(
                    field,
                    format!("must be 0 to {MAX_BONUS_POINTS}, got {points}"),
                );
            }
        }
        if !(1..=MAX_EXPIRY_MONTHS).contains(&self.expiry_months) {
            v.add("expiry_months", format!("must be 1 to {MAX_EXPIRY_MONTHS}"));
        }
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            v.add("window_days", format!("must be 1 to {MAX_WINDOW_DAYS}"));
        }
        if self.grace_days > MAX_WINDOW_DAYS {
            v.add("grace_days", format!("must be at most {MAX_WINDOW_DAYS}"));
        }
        self.validate_tiers(&mut v);
        if let Qualification::NetSpend { currency } = &mut self.qualification {
            match normalize_currency(currency) {
                Ok(code) => *currency = code,
                Err(why) => v.add("qualification.currency", why),
            }
        }
        v.into_result(())
    }

    fn validate_tiers(&mut self, v: &mut Violations) {
        if self.tiers.is_empty() {
            v.add("tiers", "at least one tier (its threshold 0) is required");
        }
        if self.tiers.len() > MAX_PROGRAM_ITEMS {
            v.add("tiers", format!("at most {MAX_PROGRAM_ITEMS}"));
        }
        for (i, t) in self.tiers.iter_mut().enumerate() {
            check_text(v, &format!("tiers[{i}].name"), &mut t.name, MAX_ID_CHARS);
            t.name = t.name.to_uppercase();
            if t.name.is_empty() {
                v.add(format!("tiers[{i}].name"), "is required");
            }
            if t.earn_percent > MAX_MULTIPLIER_PERCENT {
                v.add(
                    format!("tiers[{i}].earn_percent"),
                    format!("must be at most {MAX_MULTIPLIER_PERCENT}"),
                );
            }
        }
        if let Some(first) = self.tiers.first()
            && first.threshold != 0
        {
            v.add(
                "tiers[0].threshold",
                "the first tier starts at 0: every member has a tier",
            );
        }
        for i in 1..self.tiers.len() {
            let (a, b) = (&self.tiers[i - 1], &self.tiers[i]);
            if b.threshold <= a.threshold {
                v.add(
                    format!("tiers[{i}].threshold"),
                    format!(
                        "{} overlaps {} (threshold {} is not above {}): thresholds must rise",
                        b.name, a.name, b.threshold, a.threshold
                    ),
                );
            }
            if self.tiers[..i].iter().any(|o| o.name == b.name) {
                v.add(
                    format!("tiers[{i}].name"),
                    format!("{} is given twice", b.name),
                );
            }
        }
    }

    /// The earn rate of a currency.
    pub fn rate(&self, currency: &str) -> Option<i64> {
        self.earn_rates
            .iter()
            .find(|r| r.currency == currency)
            .map(|r| r.minor_per_point)
    }

    /// The multiplier (percent) of a SKU: its longest matching prefix's, else 100.
    pub fn sku_percent(&self, sku: &str) -> u32 {
        self.sku_multipliers
            .iter()
            .filter(|m| sku.starts_with(&m.sku_prefix))
            .max_by_key(|m| m.sku_prefix.len())
            .map_or(100, |m| m.percent)
    }

    /// The tier a measure reaches: the highest whose threshold it meets (index into `tiers`).
    pub fn tier_of(&self, measure: i64) -> usize {
        self.tiers
            .iter()
            .rposition(|t| measure >= t.threshold)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_program_is_valid() {
        let mut p = LoyaltyProgram::default();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.tier_of(999), 0);
        assert_eq!(p.tier_of(1_000), 1);
        assert_eq!(p.tier_of(1_000_000), 2);
    }

    #[test]
    fn negative_rates_and_overlapping_tiers_are_refused() {
        let mut p = LoyaltyProgram::default();
        p.earn_rates[0].minor_per_point = -5;
        p.tiers[2].threshold = 1_000;
        let v = p.validate().err().unwrap_or_default();
        let fields: Vec<&str> = v.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(
            fields,
            ["earn_rates[0].minor_per_point", "tiers[2].threshold"]
        );
        assert!(v.0[1].description.contains("GOLD overlaps SILVER"), "{v}");
    }
}
