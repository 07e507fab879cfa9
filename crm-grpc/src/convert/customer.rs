//! Customers between `crm.v1` messages and `crm-core` types.
//!
//! Input conversions destructure every field of the message, so adding a field to the contract
//! without deciding what it means here does not compile. Field paths in violations are relative
//! to the customer (`emails[0].address`); [`crate::status`] adds the request's prefix.

use chrono::{DateTime, NaiveDate, Utc};
use crm_core::{
    Address, Customer, CustomerData, CustomerKind, Email, Gender, IncomeBand, LifecycleStage,
    Organization, Party, Person, Phone, Violations,
};

use super::privacy::{consent_from_proto, consent_paths, consent_to_proto};
use super::{parse_id, time_from_proto, time_to_proto};
use crate::pb;

/// The writable fields of a `Customer` message as domain data. Output-only fields are ignored.
/// `now` stands in for consent decisions sent without a time.
pub fn customer_from_proto(
    c: pb::Customer,
    now: DateTime<Utc>,
) -> Result<CustomerData, Violations> {
    let pb::Customer {
        id: _,
        party,
        kind: _,
        display_name,
        emails,
        phones,
        address,
        organization_id,
        external_id,
        owner,
        source,
        tags,
        attributes,
        lifecycle_stage,
        consent,
        create_time: _,
        update_time: _,
        etag: _,
        summary: _,
        relationship_status: _,
        advocate: _,
        lead_score: _,
        lead_temperature: _,
        lead_status: _,
        value: _,
        customer_since,
        erase_time: _,
        erase_reason: _,
    } = c;
    let mut v = Violations::default();
    let customer_since = customer_since.and_then(|t| {
        time_from_proto(&t).or_else(|| {
            v.add(
                "customer_since",
                "is not a valid time (0001-01-01 to 9999-12-31)",
            );
            None
        })
    });
    let party = match party {
        Some(pb::customer::Party::Person(p)) => Party::Person(person_from_proto(p, &mut v)),
        Some(pb::customer::Party::Organization(o)) => {
            Party::Organization(organization_from_proto(o, &mut v))
        }
        None => {
            v.add("party", "set person or organization");
            Party::Person(Person::default())
        }
    };
    let organization_id = match organization_id.trim() {
        "" => None,
        text => parse_id("organization_id", text)
            .map_err(|e| v.0.extend(e.0))
            .ok(),
    };
    let lifecycle_stage = match pb::LifecycleStage::try_from(lifecycle_stage) {
        Ok(pb::LifecycleStage::Unspecified) => LifecycleStage::default(),
        Ok(stage) => stage_from_proto(stage),
        Err(_) => {
            v.add(
                "lifecycle_stage",
                format!("{lifecycle_stage} is not a lifecycle stage"),
            );
            LifecycleStage::default()
        }
    };
    let data = CustomerData {
        party,
        display_name,
        emails: emails
            .into_iter()
            .map(
                |pb::Email {
                     address,
                     label,
                     primary,
                 }| Email {
                    address,
                    label,
                    primary,
                },
            )
            .collect(),
        phones: phones
            .into_iter()
            .map(|pb::Phone { number, label }| Phone { number, label })
            .collect(),
        address: address.map(
            |pb::PostalAddress {
                 lines,
                 city,
                 region,
                 postal_code,
                 country,
             }| Address {
                lines,
                city,
                region,
                postal_code,
                country,
            },
        ),
        organization_id,
        external_id: Some(external_id),
        owner: Some(owner),
        source: Some(source),
        tags,
        attributes: attributes.into_iter().collect(),
        lifecycle_stage,
        consent: consent_from_proto(consent, now, &mut v),
        customer_since,
    };
    v.into_result(data)
}

fn person_from_proto(p: pb::Person, v: &mut Violations) -> Person {
    let pb::Person {
        given_name,
        family_name,
        birth_date,
        gender,
        income_band,
        interests,
    } = p;
    let birth_date = match birth_date.trim() {
        "" => None,
        text => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| v.add("person.birth_date", "must be a date as YYYY-MM-DD"))
            .ok(),
    };
    let gender = match pb::Gender::try_from(gender) {
        Ok(pb::Gender::Unspecified) => None,
        Ok(pb::Gender::Female) => Some(Gender::Female),
        Ok(pb::Gender::Male) => Some(Gender::Male),
        Ok(pb::Gender::NonBinary) => Some(Gender::NonBinary),
        Ok(pb::Gender::PreferNotToSay) => Some(Gender::PreferNotToSay),
        Err(_) => {
            v.add("person.gender", format!("{gender} is not a gender"));
            None
        }
    };
    let income_band = match pb::IncomeBand::try_from(income_band) {
        Ok(pb::IncomeBand::Unspecified) => None,
        Ok(pb::IncomeBand::Low) => Some(IncomeBand::Low),
        Ok(pb::IncomeBand::LowerMiddle) => Some(IncomeBand::LowerMiddle),
        Ok(pb::IncomeBand::Middle) => Some(IncomeBand::Middle),
        Ok(pb::IncomeBand::UpperMiddle) => Some(IncomeBand::UpperMiddle),
        Ok(pb::IncomeBand::High) => Some(IncomeBand::High),
        Err(_) => {
            v.add(
                "person.income_band",
                format!("{income_band} is not an income band"),
            );
            None
        }
    };
    Person {
        given_name,
        family_name,
        birth_date,
        gender,
        income_band,
        interests,
    }
}

fn organization_from_proto(o: pb::Organization, v: &mut Violations) -> Organization {
    let pb::Organization {
        legal_name,
        tax_id,
        industry,
        employee_count,
        website,
    } = o;
    let employee_count = employee_count.and_then(|n| {
        u32::try_from(n)
            .map_err(|_| v.add("organization.employee_count", "must not be negative"))
            .ok()
    });
    Organization {
        legal_name,
        tax_id,
        industry,
        employee_count,
        website,
    }
}

/// The update-mask paths an update without a mask implies (AIP-134): every field the client set.
pub fn implicit_mask(c: &pb::Customer) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    let mut when = |set: bool, path: &str| {
        if set {
            paths.push(path.to_owned());
        }
    };
    match &c.party {
        Some(pb::customer::Party::Person(p)) => {
            when(!p.given_name.is_empty(), "person.given_name");
            when(!p.family_name.is_empty(), "person.family_name");
            when(!p.birth_date.is_empty(), "person.birth_date");
            when(p.gender != 0, "person.gender");
            when(p.income_band != 0, "person.income_band");
            when(!p.interests.is_empty(), "person.interests");
        }
        Some(pb::customer::Party::Organization(o)) => {
            when(!o.legal_name.is_empty(), "organization.legal_name");
            when(!o.tax_id.is_empty(), "organization.tax_id");
            when(!o.industry.is_empty(), "organization.industry");
            when(o.employee_count.is_some(), "organization.employee_count");
            when(!o.website.is_empty(), "organization.website");
        }
        None => {}
    }
    when(!c.display_name.is_empty(), "display_name");
    when(!c.emails.is_empty(), "emails");
    when(!c.phones.is_empty(), "phones");
    if let Some(a) = &c.address {
        when(!a.lines.is_empty(), "address.lines");
        when(!a.city.is_empty(), "address.city");
        when(!a.region.is_empty(), "address.region");
        when(!a.postal_code.is_empty(), "address.postal_code");
        when(!a.country.is_empty(), "address.country");
    }
    when(!c.organization_id.is_empty(), "organization_id");
    when(!c.external_id.is_empty(), "external_id");
    when(!c.owner.is_empty(), "owner");
    when(!c.source.is_empty(), "source");
    when(!c.tags.is_empty(), "tags");
    when(c.lifecycle_stage != 0, "lifecycle_stage");
    when(c.customer_since.is_some(), "customer_since");
    if let Some(consent) = &c.consent {
        paths.extend(consent_paths(consent));
    }
    paths.extend(c.attributes.keys().map(|k| format!("attributes.{k}")));
    paths
}

pub(crate) fn stage_from_proto(s: pb::LifecycleStage) -> LifecycleStage {
    match s {
        pb::LifecycleStage::Unspecified | pb::LifecycleStage::Awareness => {
            LifecycleStage::Awareness
        }
        pb::LifecycleStage::Consideration => LifecycleStage::Consideration,
        pb::LifecycleStage::Purchase => LifecycleStage::Purchase,
        pb::LifecycleStage::Retention => LifecycleStage::Retention,
        pb::LifecycleStage::Loyalty => LifecycleStage::Loyalty,
        pb::LifecycleStage::Advocacy => LifecycleStage::Advocacy,
    }
}

pub(crate) fn stage_to_proto(s: LifecycleStage) -> pb::LifecycleStage {
    match s {
        LifecycleStage::Awareness => pb::LifecycleStage::Awareness,
        LifecycleStage::Consideration => pb::LifecycleStage::Consideration,
        LifecycleStage::Purchase => pb::LifecycleStage::Purchase,
        LifecycleStage::Retention => pb::LifecycleStage::Retention,
        LifecycleStage::Loyalty => pb::LifecycleStage::Loyalty,
        LifecycleStage::Advocacy => pb::LifecycleStage::Advocacy,
    }
}

/// A stored customer as a `Customer` message.
pub fn customer_to_proto(c: &Customer) -> pb::Customer {
    let d = &c.data;
    let party = match &d.party {
        Party::Person(p) => pb::customer::Party::Person(pb::Person {
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            birth_date: p
                .birth_date
                .map(|b| b.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            gender: match p.gender {
                None => pb::Gender::Unspecified,
                Some(Gender::Female) => pb::Gender::Female,
                Some(Gender::Male) => pb::Gender::Male,
                Some(Gender::NonBinary) => pb::Gender::NonBinary,
                Some(Gender::PreferNotToSay) => pb::Gender::PreferNotToSay,
            } as i32,
            income_band: match p.income_band {
                None => pb::IncomeBand::Unspecified,
                Some(IncomeBand::Low) => pb::IncomeBand::Low,
                Some(IncomeBand::LowerMiddle) => pb::IncomeBand::LowerMiddle,
                Some(IncomeBand::Middle) => pb::IncomeBand::Middle,
                Some(IncomeBand::UpperMiddle) => pb::IncomeBand::UpperMiddle,
                Some(IncomeBand::High) => pb::IncomeBand::High,
            } as i32,
            interests: p.interests.clone(),
        }),
        Party::Organization(o) => pb::customer::Party::Organization(pb::Organization {
            legal_name: o.legal_name.clone(),
            tax_id: o.tax_id.clone(),
            industry: o.industry.clone(),
            employee_count: o
                .employee_count
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            website: o.website.clone(),
        }),
    };
    pb::Customer {
        id: c.id.to_string(),
        party: Some(party),
        kind: match c.kind() {
            CustomerKind::Person => pb::CustomerKind::Person,
            CustomerKind::Organization => pb::CustomerKind::Organization,
        } as i32,
        display_name: d.display_name.clone(),
        emails: d
            .emails
            .iter()
            .map(|e| pb::Email {
                address: e.address.clone(),
                label: e.label.clone(),
                primary: e.primary,
            })
            .collect(),
        phones: d
            .phones
            .iter()
            .map(|p| pb::Phone {
                number: p.number.clone(),
                label: p.label.clone(),
            })
            .collect(),
        address: d.address.as_ref().map(|a| pb::PostalAddress {
            lines: a.lines.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        }),
        organization_id: d
            .organization_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        external_id: d.external_id.clone().unwrap_or_default(),
        owner: d.owner.clone().unwrap_or_default(),
        source: d.source.clone().unwrap_or_default(),
        tags: d.tags.clone(),
        attributes: d
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        lifecycle_stage: stage_to_proto(d.lifecycle_stage) as i32,
        consent: Some(consent_to_proto(&d.consent)),
        create_time: Some(time_to_proto(c.create_time)),
        update_time: Some(time_to_proto(c.update_time)),
        etag: c.etag(),
        summary: None,
        relationship_status: 0,
        advocate: false,
        lead_score: 0,
        lead_temperature: 0,
        lead_status: 0,
        value: Vec::new(),
        customer_since: d.customer_since.map(time_to_proto),
        erase_time: c.erased.as_ref().map(|e| time_to_proto(e.time)),
        erase_reason: c
            .erased
            .as_ref()
            .map(|e| e.reason.clone())
            .unwrap_or_default(),
    }
}
