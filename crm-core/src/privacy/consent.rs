//! Consent as an append-only history (KVKK art. 5, GDPR art. 7: consent that can be shown).
//!
//! Each [`ConsentRecord`] says who decided (the customer it belongs to), what (a purpose, on a
//! channel or on every channel), when, how (the source), under which version of the text, and,
//! for a grant that needs one, when the person confirmed it (double opt-in). Records are never
//! changed or removed; the current consent is derived from them ([`Consent::state`]): the latest
//! record for the purpose by the time it took effect (its confirmation if it has one, else when
//! the person decided; two at one instant: the one recorded later).
//!
//! **Double opt-in.** A grant of email or SMS marketing collected through a web form counts
//! only once confirmed (the person clicked the link sent to the address): until a record with a
//! confirmation time arrives it is [`ConsentState::Pending`], which is not consent. A grant
//! taken on a call, in person, by import or asserted by a client through the API is the
//! caller's statement and counts at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{Violations, check_not_future, to_micros};

/// The purposes a customer can consent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConsentPurpose {
    /// Marketing by email.
    EmailMarketing,
    /// Marketing by SMS.
    SmsMarketing,
    /// Profiling: scoring and segmentation from the customer's data.
    Profiling,
    /// Marketing calls.
    PhoneCalls,
    /// Sharing the customer's data with third parties.
    ThirdPartySharing,
}

impl ConsentPurpose {
    /// Every purpose, in contract order.
    pub const ALL: [ConsentPurpose; 5] = [
        ConsentPurpose::EmailMarketing,
        ConsentPurpose::SmsMarketing,
        ConsentPurpose::Profiling,
        ConsentPurpose::PhoneCalls,
        ConsentPurpose::ThirdPartySharing,
    ];

    /// The contract's name (`email_marketing`), used in field paths and filters.
    pub fn name(self) -> &'static str {
        match self {
            ConsentPurpose::EmailMarketing => "email_marketing",
            ConsentPurpose::SmsMarketing => "sms_marketing",
            ConsentPurpose::Profiling => "profiling",
            ConsentPurpose::PhoneCalls => "phone_calls",
            ConsentPurpose::ThirdPartySharing => "third_party_sharing",
        }
    }

    /// The purpose with a contract name.
    pub fn from_name(name: &str) -> Option<ConsentPurpose> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether a grant of this purpose from a web form counts only once confirmed.
    pub fn needs_double_opt_in(self) -> bool {
        matches!(
            self,
            ConsentPurpose::EmailMarketing | ConsentPurpose::SmsMarketing
        )
    }
}

/// The channel a decision covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConsentChannel {
    /// Every channel.
    #[default]
    Any,
    /// Email.
    Email,
    /// SMS.
    Sms,
    /// Phone calls.
    Phone,
    /// Post.
    Post,
    /// In person (a shop, a fair).
    InPerson,
}

/// How a decision was collected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConsentSource {
    /// A client asserted it through the API (also: a customer's consent written with it).
    #[default]
    Api,
    /// A form on the web (double opt-in applies).
    WebForm,
    /// A phone call.
    Call,
    /// An import from another system.
    Import,
}

/// One decision of the customer, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// What for.
    pub purpose: ConsentPurpose,
    /// On which channel (`Any`: all of them).
    pub channel: ConsentChannel,
    /// Granted (true) or withdrawn or refused (false).
    pub granted: bool,
    /// When the person decided.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
    /// How it was collected.
    pub source: ConsentSource,
    /// The version of the consent text the person saw (`2026-03 marketing v4`); may be empty.
    pub text_version: String,
    /// When the person confirmed a grant (double opt-in), if they did.
    #[serde(with = "crate::summary::opt_micros")]
    pub confirm_time: Option<DateTime<Utc>>,
}

impl ConsentRecord {
    /// A decision asserted through the API on every channel, as a customer's consent field
    /// writes it.
    pub fn asserted(purpose: ConsentPurpose, granted: bool, time: DateTime<Utc>) -> Self {
        ConsentRecord {
            purpose,
            channel: ConsentChannel::Any,
            granted,
            time,
            source: ConsentSource::Api,
            text_version: String::new(),
            confirm_time: None,
        }
    }

    /// When the decision took effect: its confirmation, if it has one, else its time. A
    /// confirmation sent later with the sign-up's own time still comes after the sign-up.
    pub fn effective_time(&self) -> DateTime<Utc> {
        self.confirm_time.map_or(self.time, |c| c.max(self.time))
    }

    /// Whether this grant still waits for the person's confirmation.
    pub fn awaits_confirmation(&self) -> bool {
        self.granted
            && self.confirm_time.is_none()
            && self.source == ConsentSource::WebForm
            && self.purpose.needs_double_opt_in()
    }

    /// The state this record puts its purpose in.
    pub fn state(&self) -> ConsentState {
        match (self.granted, self.awaits_confirmation()) {
            (true, true) => ConsentState::Pending,
            (true, false) => ConsentState::Granted,
            (false, _) => ConsentState::Withdrawn,
        }
    }
}

/// Where a purpose stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsentState {
    /// Never asked: no record.
    NeverAsked,
    /// Granted (and confirmed where that is needed).
    Granted,
    /// Granted from a web form, waiting for the person's confirmation: not consent yet.
    Pending,
    /// Withdrawn or refused.
    Withdrawn,
}

/// The current decision for a purpose, as customers show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDecision {
    /// Whether consent holds now.
    pub granted: bool,
    /// When the person decided.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
}

/// The most consent records one customer keeps (RESOURCE_EXHAUSTED past it).
pub const MAX_CONSENT_RECORDS: usize = 512;

/// The longest consent text version (characters).
pub const MAX_TEXT_VERSION_CHARS: usize = 128;

/// A customer's consent: every decision ever recorded, in recording order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The records, oldest recorded first. Append-only.
    pub history: Vec<ConsentRecord>,
}

impl Consent {
    /// The record in force for a purpose: the latest decision (ties: the later recorded).
    pub fn latest(&self, purpose: ConsentPurpose) -> Option<&ConsentRecord> {
        self.latest_where(|r| r.purpose == purpose)
    }

    /// The record in force for a purpose on one channel: the latest decision about that
    /// channel or about every channel.
    pub fn latest_on(
        &self,
        purpose: ConsentPurpose,
        channel: ConsentChannel,
    ) -> Option<&ConsentRecord> {
        self.latest_where(|r| {
            r.purpose == purpose
                && (r.channel == channel
                    || r.channel == ConsentChannel::Any
                    || channel == ConsentChannel::Any)
        })
    }

    fn latest_where(&self, keep: impl Fn(&ConsentRecord) -> bool) -> Option<&ConsentRecord> {
        self.history
            .iter()
            .filter(|r| keep(r))
            .fold(None, |best: Option<&ConsentRecord>, r| match best {
                Some(b) if b.effective_time() > r.effective_time() => Some(b),
                _ => Some(r),
            })
    }

    /// Where a purpose stands now.
    pub fn state(&self, purpose: ConsentPurpose) -> ConsentState {
        self.latest(purpose)
            .map_or(ConsentState::NeverAsked, ConsentRecord::state)
    }

    /// The current decision for a purpose (`None`: never asked).
    pub fn get(&self, purpose: ConsentPurpose) -> Option<ConsentDecision> {
        self.latest(purpose).map(|r| ConsentDecision {
            granted: r.state() == ConsentState::Granted,
            time: r.time,
        })
    }

    /// Whether consent holds for a purpose (never asked, pending and withdrawn count as no).
    pub fn is_granted(&self, purpose: ConsentPurpose) -> bool {
        self.state(purpose) == ConsentState::Granted
    }

    /// Appends a record.
    pub fn record(&mut self, record: ConsentRecord) {
        self.history.push(record);
    }

    /// Takes on the decisions `patch` states for `purposes` where they differ from the current
    /// ones (as an update of the customer's consent fields does): one record each, appended.
    pub fn adopt(&mut self, patch: &Consent, purposes: &[ConsentPurpose]) {
        for &purpose in purposes {
            let Some(wanted) = patch.latest(purpose) else {
                continue;
            };
            let same = self.latest(purpose).is_some_and(|now| {
                now.granted == wanted.granted
                    && now.time == wanted.time
                    && now.state() == wanted.state()
            });
            if !same {
                self.history.push(wanted.clone());
            }
        }
    }

    /// Everything both histories hold, in time order (a merge keeps every decision).
    pub fn merged(&self, other: &Consent) -> Consent {
        let mut history: Vec<ConsentRecord> = self.history.clone();
        for r in &other.history {
            if !history.contains(r) {
                history.push(r.clone());
            }
        }
        history.sort_by_key(|r| r.time);
        Consent { history }
    }
}

/// Checks and normalizes one record (times to microseconds). Field paths are relative to the
/// record (`time`, `confirm_time`, `text_version`).
pub fn validate_consent_record(
    record: &mut ConsentRecord,
    now: DateTime<Utc>,
) -> Result<(), Violations> {
    let mut v = Violations::default();
    record.time = to_micros(record.time);
    check_not_future(&mut v, "time", record.time, now);
    if let Some(confirmed) = record.confirm_time {
        let confirmed = to_micros(confirmed);
        record.confirm_time = Some(confirmed);
        check_not_future(&mut v, "confirm_time", confirmed, now);
        if confirmed < record.time {
            v.add("confirm_time", "is before the decision's time");
        }
        if !record.granted {
            v.add("confirm_time", "only a grant is confirmed");
        }
    }
    record.text_version = record.text_version.trim().to_owned();
    if record.text_version.chars().count() > MAX_TEXT_VERSION_CHARS {
        v.add(
            "text_version",
            format!("is longer than {MAX_TEXT_VERSION_CHARS} characters"),
        );
    }
    if record.text_version.chars().any(char::is_control) {
        v.add("text_version", "must not contain control characters");
    }
    v.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_web_form_grant_counts_once_confirmed_and_a_withdrawal_ends_it() {
        let mut c = Consent::default();
        let p = ConsentPurpose::EmailMarketing;
        assert_eq!(c.state(p), ConsentState::NeverAsked);
        let mut grant = ConsentRecord {
            source: ConsentSource::WebForm,
            text_version: "v1".into(),
            ..ConsentRecord::asserted(p, true, at(1))
        };
        c.record(grant.clone());
        assert_eq!(c.state(p), ConsentState::Pending);
        assert!(!c.is_granted(p));
        // The confirmation may carry the sign-up's own time: it takes effect when confirmed.
        grant.confirm_time = Some(at(2));
        c.record(grant);
        assert!(c.is_granted(p));
        c.record(ConsentRecord::asserted(p, false, at(3)));
        assert_eq!(c.state(p), ConsentState::Withdrawn);
        // A decision recorded late but made earlier does not override a later one.
        c.record(ConsentRecord::asserted(p, true, at(1)));
        assert_eq!(c.state(p), ConsentState::Withdrawn);
        assert_eq!(c.history.len(), 4);
    }

    #[test]
    fn a_channel_withdrawal_reads_on_that_channel_and_on_the_purpose() {
        let mut c = Consent::default();
        let p = ConsentPurpose::PhoneCalls;
        c.record(ConsentRecord::asserted(p, true, at(1)));
        c.record(ConsentRecord {
            channel: ConsentChannel::Phone,
            ..ConsentRecord::asserted(p, false, at(2))
        });
        assert_eq!(
            c.latest_on(p, ConsentChannel::Post).map(|r| r.granted),
            Some(true)
        );
        assert_eq!(
            c.latest_on(p, ConsentChannel::Phone).map(|r| r.granted),
            Some(false)
        );
        assert!(!c.is_granted(p));
    }

    #[test]
    fn bad_records_name_their_fields() {
        let now = at(10);
        let mut r = ConsentRecord {
            confirm_time: Some(at(1)),
            ..ConsentRecord::asserted(ConsentPurpose::Profiling, false, at(20))
        };
        let v = validate_consent_record(&mut r, now).unwrap_err();
        let fields: Vec<_> = v.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["time", "confirm_time", "confirm_time"]);
    }
}
