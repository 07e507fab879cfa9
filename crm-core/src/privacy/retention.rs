//! Retention (KVKK art. 7 and its regulation on erasure, GDPR art. 5(1)(e)): how long personal
//! data is kept, as data, and what a policy decides about one customer at one instant.
//!
//! - `erase_inactive_after_years`: a customer with no activity (no timeline entry, no change to
//!   the record) for that long has its personal data erased.
//! - `drop_interactions_after_years`: interactions older than that are removed from timelines.
//! - `keep_purchases_years`: the legally required period for purchases (10 years under Turkish
//!   commercial and tax law). Purchases are never dropped by the other two rules; an erasure
//!   keeps them as anonymous facts. It bounds `drop_interactions_after_years` from neither side;
//!   it is stated so that a policy says in one place what it keeps and for how long.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::Violations;

/// The longest period a policy may name.
pub const MAX_YEARS: u32 = 100;

/// A retention policy. Every rule is off when `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Erase the personal data of customers inactive for this many years.
    pub erase_inactive_after_years: Option<u32>,
    /// Drop interactions older than this many years.
    pub drop_interactions_after_years: Option<u32>,
    /// Keep purchases at least this many years.
    pub keep_purchases_years: Option<u32>,
}

impl RetentionPolicy {
    /// Checks every period: at least one year, at most [`MAX_YEARS`].
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        for (name, years) in [
            (
                "erase_inactive_after_years",
                self.erase_inactive_after_years,
            ),
            (
                "drop_interactions_after_years",
                self.drop_interactions_after_years,
            ),
            ("keep_purchases_years", self.keep_purchases_years),
        ] {
            match years {
                Some(0) => v.add(
                    name,
                    "must be at least 1 year (leave it unset to turn the rule off)",
                ),
                Some(y) if y > MAX_YEARS => {
                    v.add(name, format!("must be at most {MAX_YEARS} years"))
                }
                _ => {}
            }
        }
        v.into_result(())
    }

    /// Whether the policy erases or drops anything at all.
    pub fn is_active(&self) -> bool {
        self.erase_inactive_after_years.is_some() || self.drop_interactions_after_years.is_some()
    }

    /// The instant before which a customer's last activity makes it inactive at `now`.
    pub fn inactive_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.erase_inactive_after_years
            .map(|y| years_before(now, y))
    }

    /// The instant before which an interaction is dropped at `now`.
    pub fn interactions_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.drop_interactions_after_years
            .map(|y| years_before(now, y))
    }
}

/// `now` minus whole calendar years (29 February falls back to 28).
pub fn years_before(now: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn zero_years_is_refused_by_field() {
        let p = RetentionPolicy {
            erase_inactive_after_years: Some(0),
            drop_interactions_after_years: Some(101),
            keep_purchases_years: Some(10),
        };
        let v = p.validate().unwrap_err();
        let fields: Vec<_> = v.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "erase_inactive_after_years",
                "drop_interactions_after_years"
            ]
        );
    }

    #[test]
    fn years_are_calendar_years() {
        let now = Utc.with_ymd_and_hms(2028, 2, 29, 10, 0, 0).unwrap();
        assert_eq!(
            years_before(now, 1),
            Utc.with_ymd_and_hms(2027, 2, 28, 10, 0, 0).unwrap()
        );
    }
}
