//! Customer records as earlier formats wrote them, read into today's [`Customer`].
//!
//! Version 1: before `customer_since` (2026-11-30). bincode is not self-describing, so the old
//! shape is kept here field for field; every nested type is unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::{
    Address, Consent, Customer, CustomerData, CustomerId, Email, LifecycleStage, Party, Phone,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct CustomerV1 {
    id: CustomerId,
    #[serde(with = "chrono::serde::ts_microseconds")]
    create_time: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_microseconds")]
    update_time: DateTime<Utc>,
    version: u64,
    data: CustomerDataV1,
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
    consent: Consent,
}

/// A version-1 record as today's customer (no customer-since set).
pub(crate) fn customer_v1(body: &[u8]) -> Result<Customer, String> {
    let old: CustomerV1 = crate::kv::codec::body(body)?;
    let d = old.data;
    Ok(Customer {
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
            consent: d.consent,
            customer_since: None,
        },
    })
}
