//! What the timeline means: the relationship status (derived when read, from the summary and the
//! current time), the lead's state, and the automatic lifecycle moves.
//!
//! | status | when (first rule that holds) |
//! |---|---|
//! | CHURNED | marked lost (and no purchase since), or no purchase for `churn_after` (365 days) |
//! | PROSPECT | never bought |
//! | AT_RISK | no purchase for `at_risk_after` (180 days) |
//! | AT_RISK | a feedback risk signal (the latest NPS answer a detractor, or the latest CSAT 2 or less) given after the last purchase, for `feedback_risk_window` (90 days) after it ([`crate::feedback`]) |
//! | NEW | first purchase within `new_within` (90 days) |
//! | AT_RISK | no purchase for more than `at_risk_factor` (2) times the customer's mean interval between purchases |
//! | LOYAL | at least `loyalty_purchases` (4) purchases within `loyalty_window` (365 days) |
//! | ACTIVE | otherwise |
//!
//! An **advocate** made a converted referral or gave a promoter signal (NPS 9-10, in an
//! interaction or a survey answer) and has bought: a flag beside the status.
//!
//! Automatic lifecycle moves only go forward: the first purchase moves to PURCHASE, a repeat
//! purchase to RETENTION, `loyalty_purchases` purchases within any `loyalty_window` to LOYALTY,
//! and being an advocate to ADVOCACY.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::Customer;
use crate::lifecycle::LifecycleStage;
use crate::scoring::{LeadScore, ScoringModel};
use crate::summary::{RECENT, Summary};
use crate::validate::Violations;

/// Where a customer stands with the business, derived from purchases and signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RelationshipStatus {
    /// Never bought.
    Prospect,
    /// First purchase recently.
    New,
    /// Buys.
    Active,
    /// Buys regularly.
    Loyal,
    /// Buying slowed down.
    AtRisk,
    /// No longer buys, or switched to a competitor.
    Churned,
}

impl RelationshipStatus {
    /// Every status.
    pub const ALL: [RelationshipStatus; 6] = [
        RelationshipStatus::Prospect,
        RelationshipStatus::New,
        RelationshipStatus::Active,
        RelationshipStatus::Loyal,
        RelationshipStatus::AtRisk,
        RelationshipStatus::Churned,
    ];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            RelationshipStatus::Prospect => "PROSPECT",
            RelationshipStatus::New => "NEW",
            RelationshipStatus::Active => "ACTIVE",
            RelationshipStatus::Loyal => "LOYAL",
            RelationshipStatus::AtRisk => "AT_RISK",
            RelationshipStatus::Churned => "CHURNED",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<RelationshipStatus> {
        let name = name.trim().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(&name))
    }
}

/// Where a lead stands in sales' eyes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeadStatus {
    /// Not judged yet.
    Open,
    /// Sales-ready.
    Qualified,
    /// Not worth pursuing.
    Disqualified,
    /// Became a customer (first purchase).
    Converted,
}

/// The windows and counts behind statuses and automatic moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelationshipRules {
    /// A first purchase this recent makes a customer NEW.
    pub new_within: Duration,
    /// No purchase for this long makes a customer AT_RISK.
    pub at_risk_after: Duration,
    /// No purchase for more than this many mean intervals makes a customer AT_RISK.
    pub at_risk_factor: i32,
    /// No purchase for this long makes a customer CHURNED.
    pub churn_after: Duration,
    /// This many purchases within `loyalty_window` make a customer LOYAL (2..=32).
    pub loyalty_purchases: usize,
    /// See `loyalty_purchases`.
    pub loyalty_window: Duration,
    /// How long a feedback risk signal makes a buying customer AT_RISK.
    pub feedback_risk_window: Duration,
}

impl Default for RelationshipRules {
    fn default() -> Self {
        RelationshipRules {
            new_within: Duration::days(90),
            at_risk_after: Duration::days(180),
            at_risk_factor: 2,
            churn_after: Duration::days(365),
            loyalty_purchases: 4,
            loyalty_window: Duration::days(365),
            feedback_risk_window: Duration::days(90),
        }
    }
}

impl RelationshipRules {
    /// Checks that the rules make sense together.
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        if !(2..=RECENT).contains(&self.loyalty_purchases) {
            v.add("loyalty_purchases", format!("must be 2 to {RECENT}"));
        }
        for (field, d) in [
            ("new_within", self.new_within),
            ("at_risk_after", self.at_risk_after),
            ("churn_after", self.churn_after),
            ("loyalty_window", self.loyalty_window),
            ("feedback_risk_window", self.feedback_risk_window),
        ] {
            if d <= Duration::zero() {
                v.add(field, "must be positive");
            }
        }
        if self.at_risk_after >= self.churn_after {
            v.add("at_risk_after", "must be shorter than churn_after");
        }
        if self.at_risk_factor < 1 {
            v.add("at_risk_factor", "must be at least 1");
        }
        v.into_result(())
    }

    /// The status of a customer with this summary at `now`.
    pub fn status(&self, s: &Summary, now: DateTime<Utc>) -> RelationshipStatus {
        if s.is_lost() {
            return RelationshipStatus::Churned;
        }
        let (Some(first), Some(last)) = (s.first_purchase, s.last_purchase) else {
            return RelationshipStatus::Prospect;
        };
        let silence = now - last;
        if silence >= self.churn_after {
            return RelationshipStatus::Churned;
        }
        if silence >= self.at_risk_after {
            return RelationshipStatus::AtRisk;
        }
        if let Some(signal) = s.feedback.risk_signal()
            && signal > last
            && now >= signal
            && now - signal < self.feedback_risk_window
        {
            return RelationshipStatus::AtRisk;
        }
        // A new customer has no buying rhythm yet (two orders on one day would make the usual
        // interval zero): the interval rule starts after the NEW window.
        if now - first <= self.new_within {
            return RelationshipStatus::New;
        }
        let slowed = s
            .mean_purchase_interval()
            .and_then(|mean| mean.checked_mul(self.at_risk_factor))
            .is_some_and(|limit| silence > limit);
        if slowed {
            return RelationshipStatus::AtRisk;
        }
        if s.purchases_within(self.loyalty_window, now) >= self.loyalty_purchases {
            return RelationshipStatus::Loyal;
        }
        RelationshipStatus::Active
    }

    /// The first instant after `now` (at microsecond precision, the precision of every stored
    /// time) at which [`RelationshipRules::status`] may give another answer with no new write,
    /// or `None` if it never will. It may be early (the status may still be the same then),
    /// never late: the status is the same at every instant in `[now, until)`.
    pub fn status_until(&self, s: &Summary, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (Some(first), Some(last)) = (s.first_purchase, s.last_purchase) else {
            return None;
        };
        if s.is_lost() {
            return None;
        }
        // Every rule compares `now` with one of these edges, inclusively or not: the status
        // can only change at an edge or one microsecond after it.
        // (An edge beyond chrono's range is never reached.)
        let mut edges = vec![
            last.checked_add_signed(self.churn_after),
            last.checked_add_signed(self.at_risk_after),
            first.checked_add_signed(self.new_within),
        ];
        if let Some(mean) = s.mean_purchase_interval() {
            edges.push(
                mean.checked_mul(self.at_risk_factor)
                    .and_then(|d| last.checked_add_signed(d)),
            );
        }
        if let Some(signal) = s.feedback.risk_signal() {
            edges.push(Some(signal));
            edges.push(signal.checked_add_signed(self.feedback_risk_window));
        }
        for &p in &s.recent_purchases {
            edges.push(Some(p));
            edges.push(p.checked_add_signed(self.loyalty_window));
        }
        edges
            .into_iter()
            .flatten()
            .flat_map(|edge| {
                let floor = crate::validate::to_micros(edge);
                [
                    Some(floor),
                    floor.checked_add_signed(Duration::microseconds(1)),
                ]
            })
            .flatten()
            .filter(|&t| t > now)
            .min()
    }

    /// The stage the rules move a customer to (never used to move backward): PURCHASE after a
    /// first purchase, RETENTION after a repeat, LOYALTY when `dense` (some window held enough
    /// purchases), ADVOCACY for an advocate.
    pub fn automatic_stage(
        &self,
        s: &Summary,
        dense: bool,
    ) -> Option<(LifecycleStage, &'static str)> {
        if s.advocate_since.is_some() {
            Some((
                LifecycleStage::Advocacy,
                "a converted referral or a promoter signal",
            ))
        } else if dense {
            Some((
                LifecycleStage::Loyalty,
                "regular purchases within the loyalty window",
            ))
        } else if s.purchase_count >= 2 {
            Some((LifecycleStage::Retention, "a repeat purchase"))
        } else if s.purchase_count == 1 {
            Some((LifecycleStage::Purchase, "the first purchase"))
        } else {
            None
        }
    }
}

/// Everything derived about a customer at one moment: status, lead score, lead state.
#[derive(Clone, Debug, PartialEq)]
pub struct Insight {
    /// What the timeline adds up to.
    pub summary: Summary,
    /// The relationship status now.
    pub status: RelationshipStatus,
    /// Whether the customer recommends the business.
    pub advocate: bool,
    /// The lead score now.
    pub lead: LeadScore,
    /// Sales' view of the lead.
    pub lead_status: LeadStatus,
    /// A person's age in whole years, when the birth date is known.
    pub age: Option<u32>,
    /// What the customer is worth, per currency (empty before the first purchase).
    pub value: Vec<crate::value::CurrencyValue>,
    /// The customer's RFM group in its main currency, when the portfolio's distribution was
    /// supplied (see [`Insight::main_value`]; the store fills it for `rfm_group` filters).
    pub rfm_group: Option<&'static str>,
    /// The customer's loyalty standing, when it was asked for (the store fills it for
    /// `loyalty.*` filters).
    pub loyalty: Option<crate::loyalty::Standing>,
}

impl Insight {
    /// The value in the customer's main currency: the one with the largest net purchases
    /// (ties: the first code).
    pub fn main_value(&self) -> Option<&crate::value::CurrencyValue> {
        self.value.iter().rev().max_by_key(|v| v.historical_minor)
    }
}

impl Insight {
    /// Derives what a customer's record and summary mean at `now`.
    pub fn derive(
        c: &Customer,
        summary: Summary,
        model: &ScoringModel,
        rules: &RelationshipRules,
        value: &crate::value::ValueRules,
        now: DateTime<Utc>,
    ) -> Insight {
        let lead_status = if summary.purchase_count > 0 {
            LeadStatus::Converted
        } else {
            match &summary.qualification {
                None => LeadStatus::Open,
                Some(d) if d.positive => LeadStatus::Qualified,
                Some(_) => LeadStatus::Disqualified,
            }
        };
        let age = match &c.data.party {
            crate::customer::Party::Person(p) => {
                p.birth_date.and_then(|b| now.date_naive().years_since(b))
            }
            crate::customer::Party::Organization(_) => None,
        };
        Insight {
            rfm_group: None,
            loyalty: None,
            value: crate::value::customer_value(&summary, value, now),
            age,
            status: rules.status(&summary, now),
            advocate: summary.advocate_since.is_some(),
            lead: model.score(c, &summary, now),
            lead_status,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::CustomerId;
    use crate::money::Money;
    use crate::timeline::{EntryId, Event, Purchase, TimelineEntry};

    fn day(d: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + d * 86_400, 0).unwrap_or_default()
    }

    fn bought_on(days: &[i64]) -> Summary {
        let entries: Vec<TimelineEntry> = days
            .iter()
            .enumerate()
            .map(|(i, &d)| TimelineEntry {
                id: EntryId(i as u64),
                customer_id: CustomerId(1),
                occurred_at: day(d),
                recorded_at: day(d),
                actor: "t".into(),
                event: Event::Purchase(Purchase {
                    order_ref: format!("o{i}"),
                    amount: Money::new("TRY", 100),
                    line_items: vec![],
                }),
            })
            .collect();
        Summary::from_entries(&entries).unwrap_or_default()
    }

    #[test]
    fn statuses_follow_purchases_and_time() {
        use RelationshipStatus::*;
        let r = RelationshipRules::default();
        assert_eq!(r.status(&Summary::default(), day(0)), Prospect);
        let once = bought_on(&[0]);
        assert_eq!(r.status(&once, day(30)), New);
        assert_eq!(r.status(&once, day(120)), Active);
        assert_eq!(r.status(&once, day(180)), AtRisk);
        assert_eq!(r.status(&once, day(365)), Churned);
        let regular = bought_on(&[0, 30, 60, 90, 120]);
        assert_eq!(r.status(&regular, day(130)), Loyal);
        // Their usual interval is 30 days: 61 days of silence is more than twice that.
        assert_eq!(r.status(&regular, day(181)), AtRisk);
        assert_eq!(r.validate(), Ok(()));
        // Two orders on the same day: a zero interval must not make a new customer AT_RISK.
        assert_eq!(r.status(&bought_on(&[10, 10]), day(15)), New);
    }

    #[test]
    fn a_status_holds_until_the_instant_it_names() {
        let r = RelationshipRules::default();
        let histories: [&[i64]; 5] = [&[0], &[0, 30, 60, 90, 120], &[10, 10], &[0, 200, 201], &[]];
        for days in histories {
            let s = bought_on(days);
            // Walk from change to change: within each stretch the status never moves, and every
            // change seen day by day falls on a stretch's end.
            let mut at = day(-5);
            let end = day(900);
            while at < end {
                let until = r.status_until(&s, at).unwrap_or(end).min(end);
                assert!(until > at, "{days:?}: no progress at {at}");
                let status = r.status(&s, at);
                let step = (until - at) / 16;
                for k in 0..16 {
                    // Stored times and the store's clock are in microseconds.
                    let probe = crate::validate::to_micros(at + step * k);
                    assert_eq!(r.status(&s, probe), status, "{days:?} at {probe}");
                }
                let last = until - Duration::microseconds(1);
                assert_eq!(r.status(&s, last), status, "{days:?} just before {until}");
                at = until;
            }
        }
        assert_eq!(r.status_until(&Summary::default(), day(0)), None);
    }

    #[test]
    fn automatic_moves_name_their_rule() {
        let r = RelationshipRules::default();
        assert_eq!(r.automatic_stage(&Summary::default(), false), None);
        assert_eq!(
            r.automatic_stage(&bought_on(&[0]), false).map(|m| m.0),
            Some(LifecycleStage::Purchase)
        );
        assert_eq!(
            r.automatic_stage(&bought_on(&[0, 1]), false).map(|m| m.0),
            Some(LifecycleStage::Retention)
        );
        assert_eq!(
            r.automatic_stage(&bought_on(&[0, 1]), true).map(|m| m.0),
            Some(LifecycleStage::Loyalty)
        );
    }
}
