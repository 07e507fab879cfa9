//! Customer records as earlier formats wrote them, read into today's [`Customer`].
//!
//! - Version 1: before `customer_since` (2026-11-30).
//! - Version 2: consent as one decision per purpose (three purposes), before consent history
//!   and erasure (2026-12-01). Each decision reads as one record asserted through the API on
//!   every channel, which is what writing it was.
//!
//! bincode is not self-describing, so the old shapes are kept here field for field; every other
//! nested type is unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::privacy::ConsentRecord;
use crm_core::{
    Address, Consent, ConsentPurpose, Customer, CustomerData, CustomerId, Email, LifecycleStage,
    Party, Phone,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct CustomerOld<D> {
    id: CustomerId,
    #[serde(with = "chrono::serde::ts_microseconds")]
    create_time: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_microseconds")]
    update_time: DateTime<Utc>,
    version: u64,
    data: D,
}

#[derive(Deserialize)]
struct CustomerDataV1 {
    party: Party,
    display_name: String,
    emails: Vec<Email>,
    phones: Vec<Phone>,
    address: Option<Address>,
    organization_id: Option<CustomerId>,
    external_id: Option<String>,
    owner: Option<String>,
    source: Option<String>,
    tags: Vec<String>,
    attributes: BTreeMap<String, String>,
    lifecycle_stage: LifecycleStage,
    consent: ConsentV2,
}

#[derive(Deserialize)]
struct CustomerDataV2 {
    // bincode writes a struct as its fields in order with no framing, so version 1's fields
    // nested here read exactly as version 2 wrote them, followed by the one it added.
    head: CustomerDataV1,
    #[serde(with = "crm_core::summary::opt_micros")]
    customer_since: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Deserialize)]
struct DecisionV2 {
    granted: bool,
    #[serde(with = "chrono::serde::ts_microseconds")]
    time: DateTime<Utc>,
}

#[derive(Deserialize)]
struct ConsentV2 {
    email_marketing: Option<DecisionV2>,
    sms_marketing: Option<DecisionV2>,
    profiling: Option<DecisionV2>,
}

impl ConsentV2 {
    fn history(self) -> Consent {
        let mut consent = Consent::default();
        for (purpose, d) in [
            (ConsentPurpose::EmailMarketing, self.email_marketing),
            (ConsentPurpose::SmsMarketing, self.sms_marketing),
            (ConsentPurpose::Profiling, self.profiling),
        ] {
            if let Some(d) = d {
                consent.record(ConsentRecord::asserted(purpose, d.granted, d.time));
            }
        }
        consent
    }
}

fn today(old: CustomerOld<CustomerDataV1>, customer_since: Option<DateTime<Utc>>) -> Customer {
    let d = old.data;
    Customer {
        id: old.id,
        create_time: old.create_time,
        update_time: old.update_time,
        version: old.version,
        data: CustomerData {
            party: d.party,
            display_name: d.display_name,
            emails: d.emails,
            phones: d.phones,
            address: d.address,
            organization_id: d.organization_id,
            external_id: d.external_id,
            owner: d.owner,
            source: d.source,
            tags: d.tags,
            attributes: d.attributes,
            lifecycle_stage: d.lifecycle_stage,
            consent: d.consent.history(),
            customer_since,
        },
        erased: None,
    }
}

/// A version-1 record as today's customer (no customer-since set).
pub(crate) fn customer_v1(body: &[u8]) -> Result<Customer, String> {
    let old: CustomerOld<CustomerDataV1> = crate::kv::codec::body(body)?;
    Ok(today(old, None))
}

/// A version-2 record as today's customer (its consent as history, not erased).
pub(crate) fn customer_v2(body: &[u8]) -> Result<Customer, String> {
    let old: CustomerOld<CustomerDataV2> = crate::kv::codec::body(body)?;
    let CustomerOld {
        id,
        create_time,
        update_time,
        version,
        data,
    } = old;
    Ok(today(
        CustomerOld {
            id,
            create_time,
            update_time,
            version,
            data: data.head,
        },
        data.customer_since,
    ))
}
