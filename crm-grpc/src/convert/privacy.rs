//! Consent, retention and masking between `crm.v1` messages and `crm-core` types.

use chrono::{DateTime, Utc};
use crm_core::privacy::masking::{mask_email, mask_phone, mask_text};
use crm_core::privacy::{
    ConsentChannel, ConsentPurpose, ConsentRecord, ConsentSource, ConsentState, RetentionPolicy,
};
use crm_core::{Consent, Violations};
use crm_store::privacy::RetentionPlan;
use crm_store::settings::Configured;

use super::{time_from_proto, time_to_proto};
use crate::pb;

/// The purposes in the order of the `Consent` message's fields.
fn decisions(c: &pb::Consent) -> [(ConsentPurpose, Option<&pb::ConsentDecision>); 5] {
    [
        (ConsentPurpose::EmailMarketing, c.email_marketing.as_ref()),
        (ConsentPurpose::SmsMarketing, c.sms_marketing.as_ref()),
        (ConsentPurpose::Profiling, c.profiling.as_ref()),
        (ConsentPurpose::PhoneCalls, c.phone_calls.as_ref()),
        (
            ConsentPurpose::ThirdPartySharing,
            c.third_party_sharing.as_ref(),
        ),
    ]
}

/// The decisions a customer message states, as records asserted through the API (the
/// history is output only). `now` stands in for a decision sent without a time.
pub(crate) fn consent_from_proto(
    c: Option<pb::Consent>,
    now: DateTime<Utc>,
    v: &mut Violations,
) -> Consent {
    let mut consent = Consent::default();
    let Some(c) = c else { return consent };
    for (purpose, d) in decisions(&c) {
        let Some(d) = d else { continue };
        let time = match &d.time {
            None => now,
            Some(t) => time_from_proto(t).unwrap_or_else(|| {
                v.add(
                    format!("consent.{}.time", purpose.name()),
                    "is not a valid timestamp",
                );
                now
            }),
        };
        consent.record(ConsentRecord::asserted(purpose, d.granted, time));
    }
    consent
}

/// The mask paths of the decisions a message states.
pub(crate) fn consent_paths(c: &pb::Consent) -> Vec<String> {
    decisions(c)
        .into_iter()
        .filter(|(_, d)| d.is_some())
        .map(|(p, _)| format!("consent.{}", p.name()))
        .collect()
}

pub(crate) fn purpose_from_proto(p: i32) -> Option<ConsentPurpose> {
    match pb::ConsentPurpose::try_from(p).ok()? {
        pb::ConsentPurpose::Unspecified => None,
        pb::ConsentPurpose::EmailMarketing => Some(ConsentPurpose::EmailMarketing),
        pb::ConsentPurpose::SmsMarketing => Some(ConsentPurpose::SmsMarketing),
        pb::ConsentPurpose::Profiling => Some(ConsentPurpose::Profiling),
        pb::ConsentPurpose::PhoneCalls => Some(ConsentPurpose::PhoneCalls),
        pb::ConsentPurpose::ThirdPartySharing => Some(ConsentPurpose::ThirdPartySharing),
    }
}

pub(crate) fn purpose_to_proto(p: Option<ConsentPurpose>) -> i32 {
    (match p {
        None => pb::ConsentPurpose::Unspecified,
        Some(ConsentPurpose::EmailMarketing) => pb::ConsentPurpose::EmailMarketing,
        Some(ConsentPurpose::SmsMarketing) => pb::ConsentPurpose::SmsMarketing,
        Some(ConsentPurpose::Profiling) => pb::ConsentPurpose::Profiling,
        Some(ConsentPurpose::PhoneCalls) => pb::ConsentPurpose::PhoneCalls,
        Some(ConsentPurpose::ThirdPartySharing) => pb::ConsentPurpose::ThirdPartySharing,
    }) as i32
}

/// A `ConsentRecord` message as a record. Field paths are relative to the record.
pub(crate) fn record_from_proto(
    r: pb::ConsentRecord,
    now: DateTime<Utc>,
) -> Result<ConsentRecord, Violations> {
    let pb::ConsentRecord {
        purpose,
        channel,
        granted,
        time,
        source,
        text_version,
        confirm_time,
    } = r;
    let mut v = Violations::default();
    let purpose = purpose_from_proto(purpose);
    if purpose.is_none() {
        v.add(
            "purpose",
            "is required (EMAIL_MARKETING, SMS_MARKETING, PROFILING, PHONE_CALLS, THIRD_PARTY_SHARING)",
        );
    }
    let channel = match pb::ConsentChannel::try_from(channel) {
        Ok(pb::ConsentChannel::Any) => ConsentChannel::Any,
        Ok(pb::ConsentChannel::Email) => ConsentChannel::Email,
        Ok(pb::ConsentChannel::Sms) => ConsentChannel::Sms,
        Ok(pb::ConsentChannel::Phone) => ConsentChannel::Phone,
        Ok(pb::ConsentChannel::Post) => ConsentChannel::Post,
        Ok(pb::ConsentChannel::InPerson) => ConsentChannel::InPerson,
        Err(_) => {
            v.add("channel", format!("{channel} is not a ConsentChannel"));
            ConsentChannel::Any
        }
    };
    let source = match pb::ConsentSource::try_from(source) {
        Ok(pb::ConsentSource::Api) => ConsentSource::Api,
        Ok(pb::ConsentSource::WebForm) => ConsentSource::WebForm,
        Ok(pb::ConsentSource::Call) => ConsentSource::Call,
        Ok(pb::ConsentSource::Import) => ConsentSource::Import,
        Err(_) => {
            v.add("source", format!("{source} is not a ConsentSource"));
            ConsentSource::Api
        }
    };
    let mut when = |field: &str, t: Option<prost_types::Timestamp>| {
        t.and_then(|t| {
            time_from_proto(&t).or_else(|| {
                v.add(field, "is not a valid timestamp");
                None
            })
        })
    };
    let time = when("time", time).unwrap_or(now);
    let confirm_time = when("confirm_time", confirm_time);
    let purpose = v.into_result(purpose)?;
    Ok(ConsentRecord {
        purpose: purpose.unwrap_or(ConsentPurpose::EmailMarketing),
        channel,
        granted,
        time,
        source,
        text_version,
        confirm_time,
    })
}

fn record_to_proto(r: &ConsentRecord) -> pb::ConsentRecord {
    pb::ConsentRecord {
        purpose: purpose_to_proto(Some(r.purpose)),
        channel: (match r.channel {
            ConsentChannel::Any => pb::ConsentChannel::Any,
            ConsentChannel::Email => pb::ConsentChannel::Email,
            ConsentChannel::Sms => pb::ConsentChannel::Sms,
            ConsentChannel::Phone => pb::ConsentChannel::Phone,
            ConsentChannel::Post => pb::ConsentChannel::Post,
            ConsentChannel::InPerson => pb::ConsentChannel::InPerson,
        }) as i32,
        granted: r.granted,
        time: Some(time_to_proto(r.time)),
        source: (match r.source {
            ConsentSource::Api => pb::ConsentSource::Api,
            ConsentSource::WebForm => pb::ConsentSource::WebForm,
            ConsentSource::Call => pb::ConsentSource::Call,
            ConsentSource::Import => pb::ConsentSource::Import,
        }) as i32,
        text_version: r.text_version.clone(),
        confirm_time: r.confirm_time.map(time_to_proto),
    }
}

/// A customer's consent: the current decision per purpose and the history.
pub(crate) fn consent_to_proto(c: &Consent) -> pb::Consent {
    let decision = |p: ConsentPurpose| {
        c.latest(p).map(|r| pb::ConsentDecision {
            granted: r.state() == ConsentState::Granted,
            time: Some(time_to_proto(r.time)),
            pending: r.state() == ConsentState::Pending,
        })
    };
    pb::Consent {
        email_marketing: decision(ConsentPurpose::EmailMarketing),
        sms_marketing: decision(ConsentPurpose::SmsMarketing),
        profiling: decision(ConsentPurpose::Profiling),
        phone_calls: decision(ConsentPurpose::PhoneCalls),
        third_party_sharing: decision(ConsentPurpose::ThirdPartySharing),
        history: c.history.iter().map(record_to_proto).collect(),
    }
}

/// What a caller may see of personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sight {
    /// Everything (a key with the personal-data permission).
    Whole,
    /// Emails, phones, addresses and birth dates masked.
    Masked,
}

/// Masks a customer message's personal data for a caller without the permission.
pub fn mask_customer(c: &mut pb::Customer, sight: Sight) {
    if sight == Sight::Whole {
        return;
    }
    for e in &mut c.emails {
        e.address = mask_email(&e.address);
    }
    for p in &mut c.phones {
        p.number = mask_phone(&p.number);
    }
    if let Some(a) = &mut c.address {
        for line in &mut a.lines {
            *line = mask_text(line);
        }
        a.city = mask_text(&a.city);
        a.region = mask_text(&a.region);
        a.postal_code = mask_text(&a.postal_code);
    }
    if let Some(pb::customer::Party::Person(p)) = &mut c.party
        && !p.birth_date.is_empty()
    {
        p.birth_date = "****-**-**".into();
    }
    if c.display_name.contains('@') {
        c.display_name = mask_email(&c.display_name);
    }
}

/// A retention policy message as a policy. Field paths are relative to the policy.
pub(crate) fn retention_from_proto(p: pb::RetentionPolicy) -> RetentionPolicy {
    let pb::RetentionPolicy {
        erase_inactive_after_years,
        drop_interactions_after_years,
        keep_purchases_years,
        etag: _,
        update_time: _,
    } = p;
    RetentionPolicy {
        erase_inactive_after_years,
        drop_interactions_after_years,
        keep_purchases_years,
    }
}

pub(crate) fn retention_to_proto(c: &Configured<RetentionPolicy>) -> pb::RetentionPolicy {
    pb::RetentionPolicy {
        erase_inactive_after_years: c.value.erase_inactive_after_years,
        drop_interactions_after_years: c.value.drop_interactions_after_years,
        keep_purchases_years: c.value.keep_purchases_years,
        etag: c.etag(),
        update_time: c.update_time.map(time_to_proto),
    }
}

pub(crate) fn plan_to_proto(plan: &RetentionPlan, policy_version: u64) -> pb::RetentionPlan {
    pb::RetentionPlan {
        erase_customer_ids: plan.erase.iter().map(|id| id.to_string()).collect(),
        drop_interactions: plan
            .drop_interactions
            .iter()
            .map(|(id, n)| pb::InteractionDrop {
                customer_id: id.to_string(),
                count: *n,
            })
            .collect(),
        policy_version,
    }
}
