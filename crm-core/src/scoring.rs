//! Lead scoring: how ready a lead is to buy, from who they are (fit) and what they do
//! (engagement), as a score 0..=100 and a temperature.
//!
//! - **Fit**: the points of every [`FitRule`] the customer matches (kind, industry, employee
//!   count, income band, country, source). Points may be negative (a poor fit).
//! - **Engagement**: for each engaging interaction (inbound, or a two-way conversation), the
//!   points of its kind, halved every `half_life_days` of age. The summary keeps the 32 most
//!   recent engaging interactions of each kind; older ones count nothing.
//! - **Score** = fit + engagement, rounded and clamped to 0..=100; **temperature** COLD below
//!   `warm_threshold`, HOT from `hot_threshold`, WARM between.
//!
//! The model is data: it is stored, versioned, replaced as a whole, and applied when a score is
//! read, so a new model changes every score at once without rewriting any customer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::{Customer, IncomeBand, Party};
use crate::summary::Summary;
use crate::timeline::InteractionKind;
use crate::validate::{MAX_ID_CHARS, Violations, check_text};

/// Most fit rules in a model.
pub const MAX_FIT_RULES: usize = 64;
/// Most values one rule lists.
pub const MAX_RULE_VALUES: usize = 64;

/// How warm a lead is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Temperature {
    /// Has just identified the problem (awareness).
    Cold,
    /// Researching solutions (evaluation).
    Warm,
    /// Ready to buy (decision).
    Hot,
}

impl Temperature {
    /// Every temperature, coldest first.
    pub const ALL: [Temperature; 3] = [Temperature::Cold, Temperature::Warm, Temperature::Hot];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            Temperature::Cold => "COLD",
            Temperature::Warm => "WARM",
            Temperature::Hot => "HOT",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<Temperature> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// The customer field a fit rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FitField {
    /// `PERSON` or `ORGANIZATION`.
    Kind,
    /// The organization's industry.
    Industry,
    /// The organization's employee count (a range rule).
    EmployeeCount,
    /// The person's income band (`LOW` ... `HIGH`).
    IncomeBand,
    /// The address's country code.
    Country,
    /// The acquisition source.
    Source,
}

/// A rule: when the customer's field matches, add `points`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitRule {
    /// The field looked at.
    pub field: FitField,
    /// For text fields: the values that match (any of them, case-insensitively).
    pub values: Vec<String>,
    /// For `EmployeeCount`: the smallest matching count (inclusive).
    pub min: Option<u32>,
    /// For `EmployeeCount`: the largest matching count (inclusive).
    pub max: Option<u32>,
    /// Points added on a match, -100..=100.
    pub points: i32,
}

/// A lead-scoring model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoringModel {
    /// Starts at 1; grows by one with every replacement (the model's etag).
    pub version: u64,
    /// Fit rules; every matching rule adds its points.
    pub fit_rules: Vec<FitRule>,
    /// Points per engaging interaction of each kind, before decay (0..=100; missing kinds: 0).
    pub engagement_points: BTreeMap<InteractionKind, u32>,
    /// Engagement points halve every this many days (1..=3650).
    pub half_life_days: u32,
    /// From this score a lead is WARM (1..=100).
    pub warm_threshold: u8,
    /// From this score a lead is HOT (above `warm_threshold`, at most 100).
    pub hot_threshold: u8,
}

impl Default for ScoringModel {
    /// The model a new store starts with: B2B and referral leads fit better; demo requests and
    /// meetings weigh most; 30-day half-life; WARM from 30, HOT from 70.
    fn default() -> Self {
        use InteractionKind::*;
        let rule = |field, values: &[&str], points| FitRule {
            field,
            values: values.iter().map(|v| v.to_string()).collect(),
            min: None,
            max: None,
            points,
        };
        ScoringModel {
            version: 1,
            fit_rules: vec![
                rule(FitField::Kind, &["ORGANIZATION"], 10),
                FitRule {
                    min: Some(50),
                    ..rule(FitField::EmployeeCount, &[], 10)
                },
                rule(FitField::IncomeBand, &["UPPER_MIDDLE", "HIGH"], 10),
                rule(FitField::Source, &["referral"], 10),
            ],
            engagement_points: BTreeMap::from([
                (Call, 10),
                (Email, 5),
                (EmailOpen, 2),
                (Meeting, 15),
                (Chat, 5),
                (Sms, 3),
                (WebVisit, 2),
                (Social, 2),
                (Note, 0),
                (DemoRequest, 25),
                (Referral, 10),
            ]),
            half_life_days: 30,
            warm_threshold: 30,
            hot_threshold: 70,
        }
    }
}

/// A lead's score, with its parts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadScore {
    /// 0..=100.
    pub score: u8,
    /// Points from fit rules.
    pub fit: i64,
    /// Points from engagement, after decay.
    pub engagement: f64,
    /// The temperature the score maps to.
    pub temperature: Temperature,
    /// The version of the model that scored it.
    pub model_version: u64,
}

fn income_band_name(b: IncomeBand) -> &'static str {
    match b {
        IncomeBand::Low => "LOW",
        IncomeBand::LowerMiddle => "LOWER_MIDDLE",
        IncomeBand::Middle => "MIDDLE",
        IncomeBand::UpperMiddle => "UPPER_MIDDLE",
        IncomeBand::High => "HIGH",
    }
}

impl FitRule {
    /// Whether a customer matches the rule.
    pub fn matches(&self, c: &Customer) -> bool {
        let d = &c.data;
        let text: Option<&str> = match (self.field, &d.party) {
            (FitField::Kind, _) => Some(c.kind().name()),
            (FitField::Industry, Party::Organization(o)) => Some(&o.industry),
            (FitField::IncomeBand, Party::Person(p)) => p.income_band.map(income_band_name),
            (FitField::Country, _) => d.address.as_ref().map(|a| a.country.as_str()),
            (FitField::Source, _) => d.source.as_deref(),
            (FitField::EmployeeCount, Party::Organization(o)) => {
                return o.employee_count.is_some_and(|n| {
                    self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m)
                });
            }
            _ => None,
        };
        text.filter(|t| !t.is_empty())
            .is_some_and(|t| self.values.iter().any(|v| v.eq_ignore_ascii_case(t)))
    }
}

impl ScoringModel {
    /// The points of every fit rule the customer matches: the only part of a score that
    /// depends on the customer's record.
    pub fn fit(&self, c: &Customer) -> i64 {
        self.fit_rules
            .iter()
            .filter(|r| r.matches(c))
            .map(|r| i64::from(r.points))
            .sum()
    }

    /// Scores a customer at `now` from its record and summary.
    pub fn score(&self, c: &Customer, s: &Summary, now: DateTime<Utc>) -> LeadScore {
        let fit = self.fit(c);
        let half_life_micros = f64::from(self.half_life_days.max(1)) * 86_400e6;
        let now_micros = now.timestamp_micros();
        let engagement: f64 = s
            .engagement
            .iter()
            .map(|(kind, times)| {
                let points = f64::from(self.engagement_points.get(kind).copied().unwrap_or(0));
                times
                    .iter()
                    .map(|&t| {
                        let age = now_micros.saturating_sub(t).max(0) as f64;
                        points * 0.5f64.powf(age / half_life_micros)
                    })
                    .sum::<f64>()
            })
            .sum();
        let raw = (fit as f64 + engagement).round().clamp(0.0, 100.0);
        let score = raw as u8;
        LeadScore {
            score,
            fit,
            engagement,
            temperature: self.temperature(score),
            model_version: self.version,
        }
    }

    /// The first instant after `now` (in microseconds, the precision of every stored time) at
    /// which the customer's temperature differs, with no new write; `None` if it never will.
    ///
    /// Engagement points are never negative and only decay, so a score never rises by itself:
    /// a temperature can only cool, and the first instant it has is found by bisection.
    pub fn temperature_until(
        &self,
        c: &Customer,
        s: &Summary,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let now = crate::validate::to_micros(now);
        let current = self.score(c, s, now).temperature;
        if current == Temperature::Cold {
            return None;
        }
        let at = |micros: i64| {
            DateTime::from_timestamp_micros(micros).map(|t| self.score(c, s, t).temperature)
        };
        // After 64 half-lives every engagement point has decayed to nothing: what the score
        // is then, it stays.
        let horizon = i64::from(self.half_life_days.max(1)) * 86_400_000_000 * 64;
        let mut lo = now.timestamp_micros();
        // The newest interaction may lie ahead (it counts in full until it is reached).
        let latest = s.engagement.values().flatten().copied().max().unwrap_or(lo);
        let mut hi = lo.max(latest).checked_add(horizon)?;
        if at(hi)? == current {
            return None;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if at(mid)? == current {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        DateTime::from_timestamp_micros(hi)
    }

    /// The temperature of a score.
    pub fn temperature(&self, score: u8) -> Temperature {
        if score >= self.hot_threshold {
            Temperature::Hot
        } else if score >= self.warm_threshold {
            Temperature::Warm
        } else {
            Temperature::Cold
        }
    }

    /// Checks and normalizes a model a client sent; paths are relative to the model.
    pub fn validate(&mut self) -> Result<(), Violations> {
        let mut v = Violations::default();
        if self.fit_rules.len() > MAX_FIT_RULES {
            v.add("fit_rules", format!("at most {MAX_FIT_RULES} rules"));
        }
        for (i, rule) in self.fit_rules.iter_mut().enumerate() {
            let at = |f: &str| format!("fit_rules[{i}].{f}");
            if !(-100..=100).contains(&rule.points) {
                v.add(at("points"), "must be -100 to 100");
            }
            if rule.values.len() > MAX_RULE_VALUES {
                v.add(at("values"), format!("at most {MAX_RULE_VALUES} values"));
            }
            for (j, value) in rule.values.iter_mut().enumerate() {
                check_text(&mut v, &at(&format!("values[{j}]")), value, MAX_ID_CHARS);
            }
            rule.values.retain(|x| !x.is_empty());
            if rule.field == FitField::EmployeeCount {
                if !rule.values.is_empty() {
                    v.add(
                        at("values"),
                        "an employee_count rule uses min and max, not values",
                    );
                }
                match (rule.min, rule.max) {
                    (None, None) => v.add(at("min"), "set min, max or both"),
                    (Some(a), Some(b)) if a > b => v.add(at("max"), "must not be below min"),
                    _ => {}
                }
                continue;
            }
            if rule.min.is_some() || rule.max.is_some() {
                v.add(at("min"), "min and max are only for employee_count rules");
            }
            if rule.values.is_empty() {
                v.add(at("values"), "list at least one value to match");
            }
            let allowed: &[&str] = match rule.field {
                FitField::Kind => &["PERSON", "ORGANIZATION"],
                FitField::IncomeBand => &["LOW", "LOWER_MIDDLE", "MIDDLE", "UPPER_MIDDLE", "HIGH"],
                _ => &[],
            };
            if !allowed.is_empty() {
                for (j, value) in rule.values.iter_mut().enumerate() {
                    *value = value.to_ascii_uppercase();
                    if !allowed.contains(&value.as_str()) {
                        v.add(
                            at(&format!("values[{j}]")),
                            format!("must be one of {}", allowed.join(", ")),
                        );
                    }
                }
            }
            if rule.field == FitField::Country {
                for value in &mut rule.values {
                    *value = value.to_ascii_uppercase();
                }
            }
        }
        for (kind, points) in &self.engagement_points {
            if *points > 100 {
                v.add(format!("engagement_points.{kind:?}"), "must be 0 to 100");
            }
        }
        if !(1..=3650).contains(&self.half_life_days) {
            v.add("half_life_days", "must be 1 to 3650");
        }
        if self.warm_threshold == 0 || self.warm_threshold > 100 {
            v.add("warm_threshold", "must be 1 to 100");
        }
        if self.hot_threshold <= self.warm_threshold || self.hot_threshold > 100 {
            v.add(
                "hot_threshold",
                "must be above warm_threshold and at most 100",
            );
        }
        v.into_result(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::customer::{CustomerData, CustomerId, Organization};

    fn org(employees: u32) -> Customer {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        Customer {
            erased: None,
            id: CustomerId(1),
            create_time: t,
            update_time: t,
            version: 1,
            data: CustomerData::new(Party::Organization(Organization {
                legal_name: "Acme".into(),
                employee_count: Some(employees),
                ..Organization::default()
            })),
        }
    }

    #[test]
    fn a_temperature_holds_until_the_instant_it_names() {
        let model = ScoringModel::default();
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut s = Summary::default();
        s.engagement.insert(
            InteractionKind::DemoRequest,
            vec![
                start.timestamp_micros(),
                (start + Duration::days(3)).timestamp_micros(),
            ],
        );
        s.engagement.insert(
            InteractionKind::Meeting,
            vec![(start - Duration::days(2)).timestamp_micros()],
        );
        let c = org(300);
        let mut at = start;
        let mut seen = vec![model.score(&c, &s, at).temperature];
        while let Some(until) = model.temperature_until(&c, &s, at) {
            let before = until - Duration::microseconds(1);
            assert_eq!(
                model.score(&c, &s, before).temperature,
                seen[seen.len() - 1]
            );
            let after = model.score(&c, &s, until).temperature;
            assert_ne!(after, seen[seen.len() - 1], "the named instant is a change");
            seen.push(after);
            at = until;
        }
        // It cooled step by step, and cold is where it stays.
        assert_eq!(seen.last(), Some(&Temperature::Cold));
        assert!(seen.len() >= 2, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
    }

    #[test]
    fn engagement_halves_every_half_life() {
        let model = ScoringModel::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut s = Summary::default();
        s.engagement.insert(
            InteractionKind::DemoRequest,
            vec![
                now.timestamp_micros(),
                (now - Duration::days(30)).timestamp_micros(),
            ],
        );
        let small = model.score(&org(10), &s, now);
        assert_eq!(small.fit, 10);
        assert!((small.engagement - 37.5).abs() < 1e-9);
        assert_eq!(small.score, 48);
        assert_eq!(small.temperature, Temperature::Warm);
        let big = model.score(&org(500), &s, now);
        assert_eq!(big.score, 58);
        let later = model.score(&org(500), &s, now + Duration::days(300));
        assert_eq!(later.temperature, Temperature::Cold);
    }

    #[test]
    fn a_model_is_checked_before_use() {
        let mut m = ScoringModel::default();
        assert_eq!(m.validate(), Ok(()));
        m.hot_threshold = 20;
        m.fit_rules[0].values = vec!["ROBOT".into()];
        m.fit_rules[1].min = None;
        let fields: Vec<String> = m
            .validate()
            .err()
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "fit_rules[0].values[0]",
                "fit_rules[1].min",
                "hot_threshold"
            ]
        );
    }
}
