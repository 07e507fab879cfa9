//! The per-customer summary: what the timeline adds up to, kept beside it so reading it costs
//! one lookup.
//!
//! A summary is a function of the *set* of timeline entries, not of their arrival order:
//! counts and totals add, first/last are min/max, "most recent N" lists keep the N latest times,
//! and "latest decision" fields keep the latest decision (by time, then content). So a
//! backdated entry (an ERP sync delivering last month's order today) leaves the summary exactly
//! as if it had arrived in time, and [`Summary::from_entries`] over the whole timeline equals
//! the summary kept entry by entry.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::timeline::{Event, InteractionKind, TimelineEntry};

/// How many purchase times, and how many engagement times per interaction kind, a summary
/// keeps (the most recent ones). Bounds the loyalty rule's purchase count.
pub const RECENT: usize = 32;

/// Totals of one currency, and the customer's purchases in it: every per-currency figure
/// (average sale, purchases per year, CLV, RFM) reads these, never another currency's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotal {
    /// Sum of purchases, in minor units.
    pub purchased_minor: i64,
    /// Sum of refunds, in minor units.
    pub refunded_minor: i64,
    /// Purchases in this currency.
    pub purchases: u64,
    /// The first purchase in this currency.
    #[serde(with = "opt_micros")]
    pub first_purchase: Option<DateTime<Utc>>,
    /// The latest purchase in this currency.
    #[serde(with = "opt_micros")]
    pub last_purchase: Option<DateTime<Utc>>,
}

impl CurrencyTotal {
    /// Purchases less refunds.
    pub fn net_minor(&self) -> i64 {
        self.purchased_minor.saturating_sub(self.refunded_minor)
    }
}

/// A decision that the latest entry of its kind stands for. Two decisions at the same time are
/// ordered by their content, so the summary never depends on which arrived first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Decision {
    /// When it was made.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// For a qualification: qualified (true) or disqualified (false); true for a loss.
    pub positive: bool,
    /// Why.
    pub reason: String,
}

/// What a customer's timeline adds up to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Purchases recorded (refunds do not lower it).
    pub purchase_count: u64,
    /// Refunds recorded.
    pub refund_count: u64,
    /// Totals per currency (ISO 4217 code).
    pub totals: BTreeMap<String, CurrencyTotal>,
    /// The first purchase.
    #[serde(with = "opt_micros")]
    pub first_purchase: Option<DateTime<Utc>>,
    /// The latest purchase.
    #[serde(with = "opt_micros")]
    pub last_purchase: Option<DateTime<Utc>>,
    /// The times of the most recent purchases, newest first, at most [`RECENT`].
    #[serde(with = "vec_micros")]
    pub recent_purchases: Vec<DateTime<Utc>>,
    /// Interactions recorded.
    pub interaction_count: u64,
    /// The latest interaction.
    #[serde(with = "opt_micros")]
    pub last_interaction: Option<DateTime<Utc>>,
    /// Engagement state for lead scoring: per interaction kind, the times of the most recent
    /// engaging interactions (inbound or two-way), newest first, at most [`RECENT`] each.
    pub engagement: BTreeMap<InteractionKind, Vec<i64>>,
    /// The latest qualification decision.
    pub qualification: Option<Decision>,
    /// The latest time the customer was marked lost, with the reason.
    pub lost: Option<Decision>,
    /// Since when the customer is an advocate: the earliest converted referral, or the time it
    /// was first both a promoter and a buyer (the later of its earliest promoter signal and its
    /// first purchase). A promoter that never bought is not an advocate.
    #[serde(with = "opt_micros")]
    pub advocate_since: Option<DateTime<Utc>>,
    /// The earliest promoter signal (an NPS answer of 9 or 10), bought or not.
    #[serde(with = "opt_micros")]
    pub promoter_since: Option<DateTime<Utc>>,
    /// Survey answers and reviews (version 3).
    pub feedback: crate::feedback::FeedbackSummary,
}

/// A summary cannot take an entry: a total would pass [`crate::money::MAX_TOTAL_MINOR`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the customer's {currency} purchases would total more than 10^15 minor units, the most a \
     customer's total may hold"
)]
pub struct Overflow {
    /// The currency whose total overflows.
    pub currency: String,
}

fn keep_recent(list: &mut Vec<i64>, t: i64) {
    let at = list.partition_point(|&x| x > t);
    list.insert(at, t);
    list.truncate(RECENT);
}

fn keep_latest(current: &mut Option<Decision>, candidate: Decision) {
    if current.as_ref().is_none_or(|d| candidate > *d) {
        *current = Some(candidate);
    }
}

impl Summary {
    /// The summary of a whole timeline, computed from scratch.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a TimelineEntry>,
    ) -> Result<Summary, Overflow> {
        let mut s = Summary::default();
        for e in entries {
            s.apply(e)?;
        }
        Ok(s)
    }

    /// Adds one entry. The result does not depend on the order entries are applied in.
    pub fn apply(&mut self, e: &TimelineEntry) -> Result<(), Overflow> {
        let at = e.occurred_at;
        match &e.event {
            Event::Interaction(i) => {
                self.interaction_count += 1;
                self.last_interaction = self.last_interaction.max(Some(at));
                if i.is_engagement() {
                    keep_recent(
                        self.engagement.entry(i.kind).or_default(),
                        at.timestamp_micros(),
                    );
                }
                if i.is_promoter_signal() {
                    self.promoter_signal(at);
                }
            }
            Event::Purchase(p) => {
                let total = self.totals.entry(p.amount.currency.clone()).or_default();
                total.purchased_minor = total
                    .purchased_minor
                    .checked_add(p.amount.amount_minor)
                    .filter(|t| *t <= crate::money::MAX_TOTAL_MINOR)
                    .ok_or_else(|| Overflow {
                        currency: p.amount.currency.clone(),
                    })?;
                total.purchases += 1;
                total.first_purchase = Some(total.first_purchase.map_or(at, |f| f.min(at)));
                total.last_purchase = total.last_purchase.max(Some(at));
                self.purchase_count += 1;
                self.first_purchase = Some(self.first_purchase.map_or(at, |f| f.min(at)));
                self.promoter_buys();
                self.last_purchase = self.last_purchase.max(Some(at));
                let mut recent: Vec<i64> = self
                    .recent_purchases
                    .iter()
                    .map(|t| t.timestamp_micros())
                    .collect();
                keep_recent(&mut recent, at.timestamp_micros());
                self.recent_purchases = recent
                    .into_iter()
                    .filter_map(DateTime::from_timestamp_micros)
                    .collect();
            }
            Event::Refund(r) => {
                let total = self.totals.entry(r.amount.currency.clone()).or_default();
                total.refunded_minor = total
                    .refunded_minor
                    .checked_add(r.amount.amount_minor)
                    .ok_or_else(|| Overflow {
                        currency: r.amount.currency.clone(),
                    })?;
                self.refund_count += 1;
            }
            Event::Qualification(q) => keep_latest(
                &mut self.qualification,
                Decision {
                    at,
                    positive: q.qualified,
                    reason: q.reason.clone(),
                },
            ),
            Event::Lost { reason } => keep_latest(
                &mut self.lost,
                Decision {
                    at,
                    positive: true,
                    reason: reason.clone(),
                },
            ),
            Event::ReferralConverted { .. } => self.mark_advocate(at),
            Event::Feedback(r) => {
                self.feedback.add_response(at, r);
                if r.kind == crate::feedback::SurveyKind::Nps
                    && r.score >= crate::timeline::PROMOTER_NPS
                {
                    self.promoter_signal(at);
                }
            }
            Event::Review(r) => self.feedback.add_review(at, r),
            Event::StageChange(_) | Event::Converted { .. } | Event::Ticket(_) => {}
        }
        Ok(())
    }

    fn promoter_signal(&mut self, at: DateTime<Utc>) {
        self.promoter_since = Some(self.promoter_since.map_or(at, |p| p.min(at)));
        self.promoter_buys();
    }

    fn mark_advocate(&mut self, at: DateTime<Utc>) {
        self.advocate_since = Some(self.advocate_since.map_or(at, |a| a.min(at)));
    }

    /// A promoter is an advocate from when it has also bought. Each new fact can only make that
    /// time earlier, so the minimum over what arrived is the same in any arrival order.
    fn promoter_buys(&mut self) {
        if let (Some(promoter), Some(first)) = (self.promoter_since, self.first_purchase) {
            self.mark_advocate(promoter.max(first));
        }
    }

    /// The mean time between purchases, once there are two.
    pub fn mean_purchase_interval(&self) -> Option<Duration> {
        let (first, last) = (self.first_purchase?, self.last_purchase?);
        let gaps = i32::try_from(self.purchase_count.checked_sub(1)?).ok()?;
        if gaps == 0 {
            return None;
        }
        Some((last - first) / gaps)
    }

    /// Whether the customer is marked lost now: marked, and no purchase since.
    pub fn is_lost(&self) -> bool {
        self.lost
            .as_ref()
            .is_some_and(|l| self.last_purchase.is_none_or(|p| l.at > p))
    }

    /// Purchases among the recent ones that fall in `(now - window, now]`.
    pub fn purchases_within(&self, window: Duration, now: DateTime<Utc>) -> usize {
        self.recent_purchases
            .iter()
            .filter(|&&t| t <= now && t > now - window)
            .count()
    }
}

/// Whether some span of length `window` holds at least `n` of the times (in any order).
pub fn has_dense_window(times: &[DateTime<Utc>], n: usize, window: Duration) -> bool {
    if n == 0 {
        return true;
    }
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.windows(n).any(|w| w[n - 1] - w[0] < window)
}

pub mod opt_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        t.map(|t| t.timestamp_micros()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            None => Ok(None),
            Some(m) => DateTime::from_timestamp_micros(m)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("time out of range")),
        }
    }
}

pub(crate) mod vec_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &[DateTime<Utc>], s: S) -> Result<S::Ok, S::Error> {
        let micros: Vec<i64> = t.iter().map(|t| t.timestamp_micros()).collect();
        micros.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DateTime<Utc>>, D::Error> {
        Vec::<i64>::deserialize(d)?
            .into_iter()
            .map(|m| {
                DateTime::from_timestamp_micros(m)
                    .ok_or_else(|| serde::de::Error::custom("time out of range"))
            })
            .collect()
    }
}

/// Summaries as version 1 wrote them (before per-currency purchases, 2026-11-30).
pub mod v1 {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    use super::{CurrencyTotal, Decision, Summary};
    use crate::timeline::InteractionKind;

    #[derive(Debug, Deserialize)]
    struct TotalV1 {
        purchased_minor: i64,
        refunded_minor: i64,
    }

    /// A version-1 summary, field for field.
    #[derive(Debug, Deserialize)]
    pub struct SummaryV1 {
        purchase_count: u64,
        refund_count: u64,
        totals: BTreeMap<String, TotalV1>,
        #[serde(with = "super::opt_micros")]
        first_purchase: Option<DateTime<Utc>>,
        #[serde(with = "super::opt_micros")]
        last_purchase: Option<DateTime<Utc>>,
        #[serde(with = "super::vec_micros")]
        recent_purchases: Vec<DateTime<Utc>>,
        interaction_count: u64,
        #[serde(with = "super::opt_micros")]
        last_interaction: Option<DateTime<Utc>>,
        engagement: BTreeMap<InteractionKind, Vec<i64>>,
        qualification: Option<Decision>,
        lost: Option<Decision>,
        #[serde(with = "super::opt_micros")]
        advocate_since: Option<DateTime<Utc>>,
    }

    impl SummaryV1 {
        /// Whether it must be computed again from the timeline: its purchases were in more than
        /// one currency (how many in each is not in it), or it names an advocate (version 1 made
        /// promoters that never bought advocates, and kept no promoter time).
        pub fn needs_recompute(&self) -> bool {
            self.totals.len() > 1 || self.advocate_since.is_some()
        }
    }

    /// Today's summary. With one currency, every purchase was in it; with several, the
    /// per-currency purchases are left unknown (zero) for the store's migration to recompute.
    impl From<SummaryV1> for Summary {
        fn from(old: SummaryV1) -> Summary {
            let single = old.totals.len() == 1;
            let totals = old
                .totals
                .into_iter()
                .map(|(currency, t)| {
                    let total = CurrencyTotal {
                        purchased_minor: t.purchased_minor,
                        refunded_minor: t.refunded_minor,
                        purchases: if single { old.purchase_count } else { 0 },
                        first_purchase: if single { old.first_purchase } else { None },
                        last_purchase: if single { old.last_purchase } else { None },
                    };
                    (currency, total)
                })
                .collect();
            Summary {
                purchase_count: old.purchase_count,
                refund_count: old.refund_count,
                totals,
                first_purchase: old.first_purchase,
                last_purchase: old.last_purchase,
                recent_purchases: old.recent_purchases,
                interaction_count: old.interaction_count,
                last_interaction: old.last_interaction,
                engagement: old.engagement,
                qualification: old.qualification,
                lost: old.lost,
                advocate_since: old.advocate_since,
                promoter_since: None,
                feedback: Default::default(),
            }
        }
    }
}

/// Summaries as version 2 wrote them (before feedback, 2026-12-01).
pub mod v2 {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    use super::{CurrencyTotal, Decision, Summary};
    use crate::timeline::InteractionKind;

    /// A version-2 summary, field for field.
    #[derive(Debug, Deserialize)]
    pub struct SummaryV2 {
        purchase_count: u64,
        refund_count: u64,
        totals: BTreeMap<String, CurrencyTotal>,
        #[serde(with = "super::opt_micros")]
        first_purchase: Option<DateTime<Utc>>,
        #[serde(with = "super::opt_micros")]
        last_purchase: Option<DateTime<Utc>>,
        #[serde(with = "super::vec_micros")]
        recent_purchases: Vec<DateTime<Utc>>,
        interaction_count: u64,
        #[serde(with = "super::opt_micros")]
        last_interaction: Option<DateTime<Utc>>,
        engagement: BTreeMap<InteractionKind, Vec<i64>>,
        qualification: Option<Decision>,
        lost: Option<Decision>,
        #[serde(with = "super::opt_micros")]
        advocate_since: Option<DateTime<Utc>>,
        #[serde(with = "super::opt_micros")]
        promoter_since: Option<DateTime<Utc>>,
    }

    /// Today's summary: no feedback (version 2 had none to hold).
    impl From<SummaryV2> for Summary {
        fn from(old: SummaryV2) -> Summary {
            Summary {
                purchase_count: old.purchase_count,
                refund_count: old.refund_count,
                totals: old.totals,
                first_purchase: old.first_purchase,
                last_purchase: old.last_purchase,
                recent_purchases: old.recent_purchases,
                interaction_count: old.interaction_count,
                last_interaction: old.last_interaction,
                engagement: old.engagement,
                qualification: old.qualification,
                lost: old.lost,
                advocate_since: old.advocate_since,
                promoter_since: old.promoter_since,
                feedback: Default::default(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::customer::CustomerId;
    use crate::money::Money;
    use crate::timeline::{Direction, EntryId, Interaction, Purchase, Qualification, Refund};

    fn entry(id: u64, day: i64, event: Event) -> TimelineEntry {
        let at = DateTime::from_timestamp(1_700_000_000 + day * 86_400, 0).unwrap_or_default();
        TimelineEntry {
            id: EntryId(id),
            customer_id: CustomerId(1),
            occurred_at: at,
            recorded_at: at,
            actor: "test".into(),
            event,
        }
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0usize..11, any::<bool>(), proptest::option::of(0u8..=10)).prop_map(
                |(k, out, nps)| {
                    Event::Interaction(Interaction {
                        kind: InteractionKind::ALL[k],
                        direction: if out {
                            Direction::Outbound
                        } else {
                            Direction::Inbound
                        },
                        subject: String::new(),
                        body: String::new(),
                        channel: String::new(),
                        nps_score: nps,
                        referred_customer_id: None,
                    })
                }
            ),
            (1i64..1_000_000, prop::bool::ANY).prop_map(|(amount, eur)| {
                Event::Purchase(Purchase {
                    order_ref: "o".into(),
                    amount: Money::new(if eur { "EUR" } else { "TRY" }, amount),
                    line_items: vec![],
                })
            }),
            (1i64..1000).prop_map(|amount| Event::Refund(Refund {
                order_ref: "o".into(),
                amount: Money::new("TRY", amount),
                reason: String::new(),
            })),
            any::<bool>().prop_map(|qualified| Event::Qualification(Qualification {
                qualified,
                reason: format!("{qualified}"),
            })),
            Just(Event::Lost {
                reason: "gone".into()
            }),
        ]
    }

    proptest! {
        /// Entries arriving in any order (backdated ones included) give the summary of the
        /// entries in time order.
        #[test]
        fn arrival_order_does_not_matter(
            events in prop::collection::vec((0i64..2000, arb_event()), 0..80),
            seed in any::<u64>(),
        ) {
            let entries: Vec<TimelineEntry> = events
                .into_iter()
                .enumerate()
                .map(|(i, (day, ev))| entry(i as u64 + 1, day, ev))
                .collect();
            let mut in_time = entries.clone();
            in_time.sort_by_key(|e| (e.occurred_at, e.id));
            let expected = Summary::from_entries(&in_time);
            // A deterministic shuffle from the seed.
            let mut shuffled = entries;
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut incremental = Summary::default();
            for e in &shuffled {
                incremental.apply(e).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert_eq!(Ok(incremental), expected);
        }
    }

    #[test]
    fn intervals_loss_and_windows() {
        let buy = |id, day| {
            entry(
                id,
                day,
                Event::Purchase(Purchase {
                    order_ref: format!("o{id}"),
                    amount: Money::new("TRY", 100),
                    line_items: vec![],
                }),
            )
        };
        let s = Summary::from_entries(&[buy(1, 0), buy(2, 30), buy(3, 90)]).unwrap_or_default();
        assert_eq!(s.mean_purchase_interval(), Some(Duration::days(45)));
        assert_eq!(s.totals["TRY"].net_minor(), 300);
        let lost = entry(
            4,
            100,
            Event::Lost {
                reason: "competitor".into(),
            },
        );
        let mut s2 = s.clone();
        assert_eq!(s2.apply(&lost), Ok(()));
        assert!(s2.is_lost());
        assert_eq!(s2.apply(&buy(5, 120)), Ok(()));
        assert!(
            !s2.is_lost(),
            "a purchase after the loss wins the customer back"
        );
        let t = |d: i64| DateTime::from_timestamp(d * 86_400, 0).unwrap_or_default();
        assert!(has_dense_window(
            &[t(0), t(100), t(200), t(364)],
            4,
            Duration::days(365)
        ));
        assert!(!has_dense_window(
            &[t(0), t(100), t(200), t(365)],
            4,
            Duration::days(365)
        ));
    }
}
