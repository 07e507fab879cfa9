//! The timeline between `crm.v1` messages and `crm-core` types: entries, interactions,
//! purchases, refunds and summaries. Input conversions destructure every field; field paths in
//! violations are relative to the converted message.

use crm_core::timeline::{Direction, Interaction, LineItem, Purchase, Refund};
use crm_core::{EntryKind, Event, InteractionKind, Money, Summary, TimelineEntry, Violations};

use super::customer::stage_to_proto;
use super::{parse_id, time_to_proto};
use crate::pb;

/// A summary as a message.
pub fn summary_to_proto(s: &Summary) -> pb::CustomerSummary {
    let lost = s.lost.as_ref().filter(|_| s.is_lost());
    pb::CustomerSummary {
        purchase_count: i64::try_from(s.purchase_count).unwrap_or(i64::MAX),
        refund_count: i64::try_from(s.refund_count).unwrap_or(i64::MAX),
        totals: s
            .totals
            .iter()
            .map(|(code, t)| pb::CurrencyTotal {
                currency_code: code.clone(),
                purchased_minor: t.purchased_minor,
                refunded_minor: t.refunded_minor,
                net_minor: t.net_minor(),
            })
            .collect(),
        first_purchase_time: s.first_purchase.map(time_to_proto),
        last_purchase_time: s.last_purchase.map(time_to_proto),
        mean_days_between_purchases: s
            .mean_purchase_interval()
            .map_or(0.0, |d| d.num_seconds() as f64 / 86_400.0),
        interaction_count: i64::try_from(s.interaction_count).unwrap_or(i64::MAX),
        last_interaction_time: s.last_interaction.map(time_to_proto),
        advocate_since: s.advocate_since.map(time_to_proto),
        lost_time: lost.map(|l| time_to_proto(l.at)),
        lost_reason: lost.map(|l| l.reason.clone()).unwrap_or_default(),
        feedback: Some(super::feedback::feedback_summary_to_proto(&s.feedback)),
    }
}

pub(crate) fn kind_to_proto(k: InteractionKind) -> pb::InteractionKind {
    use InteractionKind::*;
    match k {
        Call => pb::InteractionKind::Call,
        Email => pb::InteractionKind::Email,
        EmailOpen => pb::InteractionKind::EmailOpen,
        Meeting => pb::InteractionKind::Meeting,
        Chat => pb::InteractionKind::Chat,
        Sms => pb::InteractionKind::Sms,
        WebVisit => pb::InteractionKind::WebVisit,
        Social => pb::InteractionKind::Social,
        Note => pb::InteractionKind::Note,
        DemoRequest => pb::InteractionKind::DemoRequest,
        Referral => pb::InteractionKind::Referral,
    }
}

/// An interaction kind from its contract value (`None` for unspecified or unknown).
pub fn kind_from_proto(k: i32) -> Option<InteractionKind> {
    InteractionKind::ALL
        .into_iter()
        .find(|kind| kind_to_proto(*kind) as i32 == k)
}

pub(crate) fn money_to_proto(m: &Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.clone(),
        amount_minor: m.amount_minor,
    }
}

pub(crate) fn money_from_proto(m: Option<pb::Money>, field: &str, v: &mut Violations) -> Money {
    match m {
        Some(pb::Money {
            currency_code,
            amount_minor,
        }) => Money::new(currency_code, amount_minor),
        None => {
            v.add(field, "is required");
            Money::new("", 0)
        }
    }
}

/// A timeline entry as a message.
pub fn entry_to_proto(e: &TimelineEntry) -> pb::TimelineEntry {
    use pb::timeline_entry::Event as E;
    let event = match &e.event {
        Event::Interaction(i) => E::Interaction(pb::Interaction {
            kind: kind_to_proto(i.kind) as i32,
            direction: match i.direction {
                Direction::Inbound => pb::Direction::Inbound,
                Direction::Outbound => pb::Direction::Outbound,
            } as i32,
            subject: i.subject.clone(),
            body: i.body.clone(),
            channel: i.channel.clone(),
            nps_score: i.nps_score.map(i32::from),
            referred_customer_id: i
                .referred_customer_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        }),
        Event::Purchase(p) => E::Purchase(pb::Purchase {
            order_ref: p.order_ref.clone(),
            amount: Some(money_to_proto(&p.amount)),
            line_items: p
                .line_items
                .iter()
                .map(|l| pb::LineItem {
                    sku: l.sku.clone(),
                    quantity: i32::try_from(l.quantity).unwrap_or(i32::MAX),
                    unit_price: Some(pb::Money {
                        currency_code: p.amount.currency.clone(),
                        amount_minor: l.unit_price_minor,
                    }),
                })
                .collect(),
        }),
        Event::Refund(r) => E::Refund(pb::Refund {
            order_ref: r.order_ref.clone(),
            amount: Some(money_to_proto(&r.amount)),
            reason: r.reason.clone(),
        }),
        Event::StageChange(s) => E::StageChange(pb::StageChange {
            from: stage_to_proto(s.from) as i32,
            to: stage_to_proto(s.to) as i32,
            reason: s.reason.clone(),
            automatic: s.automatic,
        }),
        Event::Qualification(q) => E::Qualification(pb::Qualification {
            qualified: q.qualified,
            reason: q.reason.clone(),
        }),
        Event::Lost { reason } => E::Lost(pb::Lost {
            reason: reason.clone(),
        }),
        Event::Converted { order_ref } => E::Converted(pb::Converted {
            order_ref: order_ref.clone(),
        }),
        Event::ReferralConverted { referred } => E::ReferralConverted(pb::ReferralConverted {
            referred_customer_id: referred.to_string(),
        }),
        Event::Feedback(r) => E::SurveyResponse(super::feedback::response_to_proto(r)),
        Event::Review(r) => E::Review(super::feedback::review_to_proto(r)),
        Event::Ticket(t) => E::TicketEvent(super::support::ticket_event_to_proto(t)),
    };
    pb::TimelineEntry {
        id: e.id.0.to_string(),
        customer_id: e.customer_id.to_string(),
        occurred_at: Some(time_to_proto(e.occurred_at)),
        recorded_at: Some(time_to_proto(e.recorded_at)),
        actor: e.actor.clone(),
        event: Some(event),
    }
}

/// An entry kind from its contract value.
pub fn entry_kind_from_proto(k: i32) -> Option<EntryKind> {
    use pb::TimelineEntryKind as K;
    Some(match K::try_from(k).ok()? {
        K::Unspecified => return None,
        K::EntryInteraction => EntryKind::Interaction,
        K::EntryPurchase => EntryKind::Purchase,
        K::EntryRefund => EntryKind::Refund,
        K::EntryStageChange => EntryKind::StageChange,
        K::EntryQualification => EntryKind::Qualification,
        K::EntryLost => EntryKind::Lost,
        K::EntryConverted => EntryKind::Converted,
        K::EntryReferralConverted => EntryKind::ReferralConverted,
        K::EntrySurveyResponse => EntryKind::Feedback,
        K::EntryReview => EntryKind::Review,
        K::EntryTicketEvent => EntryKind::Ticket,
    })
}

/// An interaction from its message.
pub fn interaction_from_proto(i: pb::Interaction) -> Result<Interaction, Violations> {
    let pb::Interaction {
        kind,
        direction,
        subject,
        body,
        channel,
        nps_score,
        referred_customer_id,
    } = i;
    let mut v = Violations::default();
    let kind = kind_from_proto(kind).unwrap_or_else(|| {
        v.add(
            "kind",
            "set the kind of contact (CALL, EMAIL, MEETING, ...)",
        );
        InteractionKind::Note
    });
    let direction = match pb::Direction::try_from(direction) {
        Ok(pb::Direction::Unspecified | pb::Direction::Inbound) => Direction::Inbound,
        Ok(pb::Direction::Outbound) => Direction::Outbound,
        Err(_) => {
            v.add("direction", "must be INBOUND or OUTBOUND");
            Direction::Inbound
        }
    };
    let nps_score = nps_score.and_then(|n| {
        u8::try_from(n).ok().filter(|n| *n <= 10).or_else(|| {
            v.add("nps_score", "must be 0 to 10");
            None
        })
    });
    let referred_customer_id = match referred_customer_id.trim() {
        "" => None,
        text => parse_id("referred_customer_id", text)
            .map_err(|e| v.0.extend(e.0))
            .ok(),
    };
    v.into_result(Interaction {
        kind,
        direction,
        subject,
        body,
        channel,
        nps_score,
        referred_customer_id,
    })
}

/// A purchase from its message.
pub fn purchase_from_proto(p: pb::Purchase) -> Result<Purchase, Violations> {
    let pb::Purchase {
        order_ref,
        amount,
        line_items,
    } = p;
    let mut v = Violations::default();
    let amount = money_from_proto(amount, "amount", &mut v);
    let line_items = line_items
        .into_iter()
        .enumerate()
        .map(
            |(
                n,
                pb::LineItem {
                    sku,
                    quantity,
                    unit_price,
                },
            )| {
                let quantity = u32::try_from(quantity).unwrap_or_else(|_| {
                    v.add(format!("line_items[{n}].quantity"), "must be at least 1");
                    0
                });
                let price =
                    money_from_proto(unit_price, &format!("line_items[{n}].unit_price"), &mut v);
                if !price.currency.trim().is_empty()
                    && !price
                        .currency
                        .trim()
                        .eq_ignore_ascii_case(amount.currency.trim())
                {
                    v.add(
                        format!("line_items[{n}].unit_price.currency_code"),
                        "must be the purchase's currency",
                    );
                }
                LineItem {
                    sku,
                    quantity,
                    unit_price_minor: price.amount_minor,
                }
            },
        )
        .collect();
    v.into_result(Purchase {
        order_ref,
        amount,
        line_items,
    })
}

/// A refund from its message.
pub fn refund_from_proto(r: pb::Refund) -> Result<Refund, Violations> {
    let pb::Refund {
        order_ref,
        amount,
        reason,
    } = r;
    let mut v = Violations::default();
    let amount = money_from_proto(amount, "amount", &mut v);
    v.into_result(Refund {
        order_ref,
        amount,
        reason,
    })
}
