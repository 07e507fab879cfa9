//! The timeline: everything a customer did, bought and said, and every move the business made,
//! one entry each, ordered by when it happened (`occurred_at`), whatever order it arrived in.
//!
//! | entry | written by |
//! |---|---|
//! | [`Interaction`] | a call, email, meeting, visit... recorded by a client |
//! | [`Purchase`] | an order, recorded by a client; `order_ref` is unique per customer |
//! | [`Refund`] | money given back for a purchase; lowers the totals |
//! | [`StageChange`] | every lifecycle move, manual or automatic |
//! | [`Qualification`] | a lead qualified or disqualified by sales |
//! | [`Event::Lost`] | a customer marked lost, with the reason |
//! | [`Event::Converted`] | a lead's first purchase |
//! | [`Event::ReferralConverted`] | someone this customer referred made a first purchase |
//! | [`Event::Feedback`] | a survey answer (NPS, CSAT, CES), see [`crate::feedback`] |
//! | [`Event::Review`] | a product or business review |
//! | [`Event::Ticket`] | a support ticket opened, first answered, solved or reopened |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::CustomerId;
use crate::lifecycle::LifecycleStage;
use crate::money::{Money, normalize_currency};
use crate::validate::{MAX_FUTURE_SKEW, MAX_ID_CHARS, Violations, check_text};

/// Longest interaction subject, reason or line-item sku (characters).
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest interaction body (characters).
pub const MAX_BODY_CHARS: usize = 10_000;
/// Most line items per purchase.
pub const MAX_LINE_ITEMS: usize = 1000;
/// An NPS answer at or above this is a promoter signal.
pub const PROMOTER_NPS: u8 = 9;

/// An entry's identity: the store-wide sequence of the write that recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryId(pub u64);

/// One entry of a customer's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Assigned when recorded; unique in the store.
    pub id: EntryId,
    /// Whose timeline.
    pub customer_id: CustomerId,
    /// When it happened (given by the client, or the time of recording).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub occurred_at: DateTime<Utc>,
    /// When the store recorded it.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub recorded_at: DateTime<Utc>,
    /// Who did or recorded it (a user, an API key's name, `crm` for automatic entries).
    pub actor: String,
    /// What happened.
    pub event: Event,
}

/// What a timeline entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A contact between the customer and the business.
    Interaction(Interaction),
    /// An order.
    Purchase(Purchase),
    /// Money given back for an order.
    Refund(Refund),
    /// A lifecycle move.
    StageChange(StageChange),
    /// Sales decided whether the lead is sales-ready.
    Qualification(Qualification),
    /// The customer was marked lost (churned), with the reason.
    Lost {
        /// Why (`switched to a competitor`).
        reason: String,
    },
    /// The lead became a customer with this first purchase.
    Converted {
        /// The order that converted it.
        order_ref: String,
    },
    /// A customer this one referred made its first purchase.
    ReferralConverted {
        /// The referred customer.
        referred: CustomerId,
    },
    /// The customer answered a survey.
    Feedback(crate::feedback::Response),
    /// The customer reviewed a product or the business.
    Review(crate::feedback::Review),
    /// Something happened to one of the customer's support tickets.
    Ticket(TicketEvent),
}

/// What happened to a ticket, on its customer's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TicketEventKind {
    /// The ticket was opened.
    Opened,
    /// The business replied for the first time.
    FirstReply,
    /// The ticket was solved.
    Solved,
    /// A solved ticket was reopened.
    Reopened,
}

/// A ticket's event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// Which ticket.
    pub ticket_id: crate::support::TicketId,
    /// What happened.
    pub what: TicketEventKind,
    /// The ticket's subject then.
    pub subject: String,
}

/// The kinds of entry, for filtering a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// [`Event::Interaction`]
    Interaction,
    /// [`Event::Purchase`]
    Purchase,
    /// [`Event::Refund`]
    Refund,
    /// [`Event::StageChange`]
    StageChange,
    /// [`Event::Qualification`]
    Qualification,
    /// [`Event::Lost`]
    Lost,
    /// [`Event::Converted`]
    Converted,
    /// [`Event::ReferralConverted`]
    ReferralConverted,
    /// [`Event::Feedback`]
    Feedback,
    /// [`Event::Review`]
    Review,
    /// [`Event::Ticket`]
    Ticket,
}

impl Event {
    /// The kind of entry.
    pub fn kind(&self) -> EntryKind {
        match self {
            Event::Interaction(_) => EntryKind::Interaction,
            Event::Purchase(_) => EntryKind::Purchase,
            Event::Refund(_) => EntryKind::Refund,
            Event::StageChange(_) => EntryKind::StageChange,
            Event::Qualification(_) => EntryKind::Qualification,
            Event::Lost { .. } => EntryKind::Lost,
            Event::Converted { .. } => EntryKind::Converted,
            Event::ReferralConverted { .. } => EntryKind::ReferralConverted,
            Event::Feedback(_) => EntryKind::Feedback,
            Event::Review(_) => EntryKind::Review,
            Event::Ticket(_) => EntryKind::Ticket,
        }
    }
}

/// The kinds of contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InteractionKind {
    /// A phone call.
    Call,
    /// An email.
    Email,
    /// The customer opened an email.
    EmailOpen,
    /// A meeting.
    Meeting,
    /// A chat conversation.
    Chat,
    /// A text message.
    Sms,
    /// A visit to the web site.
    WebVisit,
    /// A social media contact.
    Social,
    /// A note by the business.
    Note,
    /// The customer asked for a demo.
    DemoRequest,
    /// The customer referred someone.
    Referral,
}

impl InteractionKind {
    /// Every kind, in contract order.
    pub const ALL: [InteractionKind; 11] = [
        InteractionKind::Call,
        InteractionKind::Email,
        InteractionKind::EmailOpen,
        InteractionKind::Meeting,
        InteractionKind::Chat,
        InteractionKind::Sms,
        InteractionKind::WebVisit,
        InteractionKind::Social,
        InteractionKind::Note,
        InteractionKind::DemoRequest,
        InteractionKind::Referral,
    ];

    /// Conversations both sides take part in: they show interest even when the business
    /// started them.
    pub fn is_two_way(self) -> bool {
        matches!(
            self,
            InteractionKind::Call | InteractionKind::Meeting | InteractionKind::Chat
        )
    }
}

/// Who started a contact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// The customer reached the business.
    #[default]
    Inbound,
    /// The business reached the customer.
    Outbound,
}

/// A contact between the customer and the business.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    /// What kind of contact.
    pub kind: InteractionKind,
    /// Who started it.
    pub direction: Direction,
    /// A one-line summary.
    pub subject: String,
    /// The content or notes.
    pub body: String,
    /// Where it happened (`phone`, `whatsapp`, `web`, a campaign name).
    pub channel: String,
    /// A survey answer (0..=10) given in this contact; 9 and 10 are promoter signals.
    pub nps_score: Option<u8>,
    /// For a [`InteractionKind::Referral`]: the customer referred.
    pub referred_customer_id: Option<CustomerId>,
}

impl Interaction {
    /// An inbound contact of `kind` about `subject`, through `channel`, with nothing else said.
    pub fn inbound(kind: InteractionKind, subject: impl Into<String>, channel: &str) -> Self {
        Interaction {
            kind,
            direction: Direction::Inbound,
            subject: subject.into(),
            body: String::new(),
            channel: channel.to_owned(),
            nps_score: None,
            referred_customer_id: None,
        }
    }

    /// Whether this contact shows the customer's own interest: inbound, or a two-way
    /// conversation. Only these count toward lead engagement.
    pub fn is_engagement(&self) -> bool {
        self.direction == Direction::Inbound || self.kind.is_two_way()
    }

    /// Whether the customer said they would recommend the business.
    pub fn is_promoter_signal(&self) -> bool {
        self.nps_score.is_some_and(|s| s >= PROMOTER_NPS)
    }
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// The product's stock-keeping unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// The price of one, in the purchase's currency.
    pub unit_price_minor: i64,
}

/// An order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// The order's reference in the selling system; unique per customer.
    pub order_ref: String,
    /// What was paid.
    pub amount: Money,
    /// What was bought; when given, the lines add up to the amount.
    pub line_items: Vec<LineItem>,
}

/// Money given back for a purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The purchase refunded (its `order_ref`).
    pub order_ref: String,
    /// How much, in the purchase's currency; at most what is left of the purchase.
    pub amount: Money,
    /// Why.
    pub reason: String,
}

/// A lifecycle move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// The stage before.
    pub from: LifecycleStage,
    /// The stage after.
    pub to: LifecycleStage,
    /// Why (required to move backward; automatic moves name their rule).
    pub reason: String,
    /// Whether a rule moved it (as opposed to a person).
    pub automatic: bool,
}

/// Sales' verdict on a lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    /// Sales-ready (true) or not worth pursuing (false).
    pub qualified: bool,
    /// Why.
    pub reason: String,
}

/// Checks a client-supplied time: not more than [`MAX_FUTURE_SKEW`] ahead of `now`, and not
/// before 1970.
pub fn check_occurred_at(v: &mut Violations, field: &str, t: DateTime<Utc>, now: DateTime<Utc>) {
    if t > now + MAX_FUTURE_SKEW {
        v.add(
            field,
            format!(
                "is in the future (more than {} minutes ahead of the server's clock)",
                MAX_FUTURE_SKEW.num_minutes()
            ),
        );
    } else if t.timestamp() < 0 {
        v.add(field, "is before 1970");
    }
}

/// Validates and normalizes an interaction; field paths are relative to it.
pub fn validate_interaction(i: &mut Interaction) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "subject", &mut i.subject, MAX_SUBJECT_CHARS);
    check_body(&mut v, "body", &mut i.body);
    check_text(&mut v, "channel", &mut i.channel, MAX_ID_CHARS);
    if i.nps_score.is_some_and(|s| s > 10) {
        v.add("nps_score", "must be 0 to 10");
    }
    match (i.kind, i.referred_customer_id) {
        (InteractionKind::Referral, None) => v.add(
            "referred_customer_id",
            "is required for a REFERRAL: the customer who was referred",
        ),
        (InteractionKind::Referral, Some(_)) | (_, None) => {}
        (_, Some(_)) => v.add("referred_customer_id", "is only for REFERRAL interactions"),
    }
    v.into_result(())
}

fn check_body(v: &mut Violations, field: &str, text: &mut String) {
    let normal = crate::normalize::nfc(text);
    if normal != *text {
        *text = normal;
    }
    if text.chars().count() > MAX_BODY_CHARS {
        v.add(
            field,
            format!("must be at most {MAX_BODY_CHARS} characters"),
        );
    }
    if text
        .chars()
        .any(|c| crate::normalize::is_refused_in_text(c) && c != '\n' && c != '\r' && c != '\t')
    {
        v.add(
            field,
            "must not contain control, invisible or direction-changing characters other than \
             line breaks and tabs",
        );
    }
}

fn check_ref(v: &mut Violations, field: &str, text: &mut String) {
    check_text(v, field, text, MAX_ID_CHARS);
    if text.is_empty() {
        v.add(field, "is required");
    }
}

fn check_money(v: &mut Violations, field: &str, m: &mut Money) {
    match normalize_currency(&m.currency) {
        Ok(code) => m.currency = code,
        Err(why) => v.add(format!("{field}.currency_code"), why),
    }
    if m.amount_minor <= 0 {
        v.add(format!("{field}.amount_minor"), "must be positive");
    } else if m.amount_minor > crate::money::MAX_TOTAL_MINOR {
        v.add(
            format!("{field}.amount_minor"),
            "must be at most 10^15 minor units (1,000,000,000,000,000)",
        );
    }
}

/// Validates and normalizes a purchase: a reference, a positive amount in a real currency, and
/// line items (if any) that add up to the amount without overflow.
pub fn validate_purchase(p: &mut Purchase) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_ref(&mut v, "order_ref", &mut p.order_ref);
    check_money(&mut v, "amount", &mut p.amount);
    if p.line_items.len() > MAX_LINE_ITEMS {
        v.add("line_items", format!("at most {MAX_LINE_ITEMS} lines"));
    }
    let mut total: Option<i64> = Some(0);
    for (i, item) in p.line_items.iter_mut().enumerate() {
        check_text(
            &mut v,
            &format!("line_items[{i}].sku"),
            &mut item.sku,
            MAX_ID_CHARS,
        );
        if item.sku.is_empty() {
            v.add(format!("line_items[{i}].sku"), "is required");
        }
        if item.quantity == 0 {
            v.add(format!("line_items[{i}].quantity"), "must be at least 1");
        }
        if item.unit_price_minor < 0 {
            v.add(
                format!("line_items[{i}].unit_price"),
                "must not be negative",
            );
        }
        total = total.and_then(|t| {
            item.unit_price_minor
                .checked_mul(i64::from(item.quantity))
                .and_then(|line| t.checked_add(line))
        });
    }
    if !p.line_items.is_empty() {
        match total {
            None => v.add("line_items", "the lines' total overflows"),
            Some(t) if t != p.amount.amount_minor => v.add(
                "line_items",
                format!(
                    "the lines add up to {t}, not to the amount {}",
                    p.amount.amount_minor
                ),
            ),
            Some(_) => {}
        }
    }
    v.into_result(())
}

/// Validates and normalizes a refund (the purchase it refers to is checked by the store).
pub fn validate_refund(r: &mut Refund) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_ref(&mut v, "order_ref", &mut r.order_ref);
    check_money(&mut v, "amount", &mut r.amount);
    check_text(&mut v, "reason", &mut r.reason, MAX_SUBJECT_CHARS);
    v.into_result(())
}

/// Validates a reason (for a backward move, a loss, a qualification): trimmed, at most
/// [`MAX_SUBJECT_CHARS`], and present when `required`.
pub fn validate_reason(reason: &mut String, required: bool) -> Result<(), Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "reason", reason, MAX_SUBJECT_CHARS);
    if required && reason.is_empty() {
        v.add("reason", "is required");
    }
    v.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purchase(amount: i64, lines: &[(u32, i64)]) -> Purchase {
        Purchase {
            order_ref: " SO-1 ".into(),
            amount: Money::new("try", amount),
            line_items: lines
                .iter()
                .map(|&(quantity, unit_price_minor)| LineItem {
                    sku: "sku".into(),
                    quantity,
                    unit_price_minor,
                })
                .collect(),
        }
    }

    #[test]
    fn a_purchase_is_normalized_and_its_lines_must_add_up() {
        let mut p = purchase(2500, &[(2, 1000), (1, 500)]);
        assert_eq!(validate_purchase(&mut p), Ok(()));
        assert_eq!(p.order_ref, "SO-1");
        assert_eq!(p.amount.currency, "TRY");
        let fields = |mut p: Purchase| -> Vec<String> {
            validate_purchase(&mut p)
                .err()
                .map(|v| v.0.into_iter().map(|x| x.field).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            fields(purchase(2400, &[(2, 1000), (1, 500)])),
            ["line_items"]
        );
        assert_eq!(fields(purchase(-5, &[])), ["amount.amount_minor"]);
        assert_eq!(fields(purchase(1, &[(u32::MAX, i64::MAX)])), ["line_items"]);
        let mut bad = purchase(100, &[]);
        bad.amount.currency = "ABC".into();
        assert_eq!(fields(bad), ["amount.currency_code"]);
    }

    #[test]
    fn a_referral_names_the_referred_customer() {
        let mut i = Interaction {
            nps_score: Some(11),
            ..Interaction::inbound(InteractionKind::Referral, "", "")
        };
        let v = validate_interaction(&mut i).err().unwrap_or_default();
        let fields: Vec<_> = v.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["nps_score", "referred_customer_id"]);
    }
}
