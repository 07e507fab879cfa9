//! Erasure (KVKK art. 7, GDPR art. 17): what is left of a customer once its personal data is
//! gone.
//!
//! An erased customer keeps its id (a number that says nothing about the person), its kind,
//! lifecycle stage, owner, customer-since and consent history (decisions, times, sources and
//! text versions: proof of what the person agreed to, with nothing that identifies them). Its
//! names, contact points, address, birth date, interests, tags, custom fields, external id and
//! source are cleared. Texts other people wrote about the person (interaction notes, ticket
//! subjects and messages, survey comments, reviews, reasons) are replaced by [`ERASED_TEXT`];
//! amounts, dates, counts, scores, order references and SKUs stay, so revenue and reports stay
//! right.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::{CustomerData, Organization, Party, Person};
use crate::timeline::{Event, TimelineEntry};
use crate::validate::{Violations, to_micros};

/// What an erased text reads.
pub const ERASED_TEXT: &str = "[erased]";

/// The display name of an erased customer.
pub const ERASED_NAME: &str = "Erased customer";

/// The longest erasure reason (characters).
pub const MAX_REASON_CHARS: usize = 500;

/// When and why a customer's personal data was erased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// When.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
    /// Why (`data subject request 2026-118`, `retention policy v3`).
    pub reason: String,
    /// Who erased it: a key's name, or `retention` for the retention job.
    pub actor: String,
}

impl Erasure {
    /// An erasure at `time`, with a checked reason.
    pub fn new(
        time: DateTime<Utc>,
        reason: &str,
        actor: impl Into<String>,
    ) -> Result<Erasure, Violations> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Violations::one("reason", "is required"));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(Violations::one(
                "reason",
                format!("is longer than {MAX_REASON_CHARS} characters"),
            ));
        }
        if reason.chars().any(char::is_control) {
            return Err(Violations::one(
                "reason",
                "must not contain control characters",
            ));
        }
        Ok(Erasure {
            time: to_micros(time),
            reason: reason.to_owned(),
            actor: actor.into(),
        })
    }
}

/// The customer's data with everything personal cleared (see the module).
pub fn anonymized(data: &CustomerData) -> CustomerData {
    let party = match &data.party {
        Party::Person(_) => Party::Person(Person::default()),
        Party::Organization(_) => Party::Organization(Organization::default()),
    };
    CustomerData {
        display_name: ERASED_NAME.to_owned(),
        lifecycle_stage: data.lifecycle_stage,
        consent: data.consent.clone(),
        customer_since: data.customer_since,
        owner: data.owner.clone(),
        organization_id: None,
        ..CustomerData::new(party)
    }
}

/// Replaces a non-empty text by [`ERASED_TEXT`].
pub fn erase_text(text: &mut String) {
    if !text.is_empty() {
        *text = ERASED_TEXT.to_owned();
    }
}

/// The entry with every free text about the person replaced; `true` when anything changed.
pub fn scrub_entry(entry: &mut TimelineEntry) -> bool {
    let before = entry.clone();
    match &mut entry.event {
        Event::Interaction(i) => {
            erase_text(&mut i.subject);
            erase_text(&mut i.body);
        }
        Event::Refund(r) => erase_text(&mut r.reason),
        Event::StageChange(s) => erase_text(&mut s.reason),
        Event::Qualification(q) => erase_text(&mut q.reason),
        Event::Lost { reason } => erase_text(reason),
        Event::Feedback(f) => erase_text(&mut f.comment),
        Event::Review(r) => {
            erase_text(&mut r.title);
            erase_text(&mut r.text);
        }
        Event::Ticket(t) => erase_text(&mut t.subject),
        Event::Purchase(_) | Event::Converted { .. } | Event::ReferralConverted { .. } => {}
    }
    *entry != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{Email, Phone};

    #[test]
    fn an_erased_customer_keeps_no_name_contact_or_custom_field() {
        let mut d = CustomerData::person("Ayşe");
        d.emails.push(Email {
            address: "ayse@example.com".into(),
            label: "home".into(),
            primary: true,
        });
        d.phones.push(Phone {
            number: "+905321234567".into(),
            label: String::new(),
        });
        d.tags.push("vip".into());
        d.attributes.insert("pet".into(), "Pamuk".into());
        d.external_id = Some("erp-1".into());
        let a = anonymized(&d);
        assert_eq!(a.display_name, ERASED_NAME);
        assert!(a.emails.is_empty() && a.phones.is_empty() && a.tags.is_empty());
        assert!(a.attributes.is_empty() && a.external_id.is_none());
        assert_eq!(a.party, Party::Person(Person::default()));
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        let now = Utc::now();
        assert!(Erasure::new(now, " ", "ops").is_err());
        assert!(Erasure::new(now, &"x".repeat(501), "ops").is_err());
        assert_eq!(Erasure::new(now, " asked ", "ops").unwrap().reason, "asked");
    }
}
