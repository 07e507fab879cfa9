//! Duplicates and merges: the evidence that two records are one customer, and which values
//! survive when they are merged.
//!
//! **Evidence.** Two records share evidence when they share a key of one kind:
//! - an external id, compared without case, spaces or dashes;
//! - a tax id, compared on its letters and digits;
//! - an email, compared as mail servers deliver it: case-folded, without a `+tag`, and for Gmail
//!   without dots in the local part;
//! - a phone number (stored in E.164 form);
//! - a name, folded as search folds it (Turkish-aware: `Şükrü` and `sukru`), for organizations
//!   without their legal form (`A.Ş.`, `Ltd. Şti.`, `Inc.`).
//!
//! A pair's score is `1 − Π(1 − weight)` over the kinds it shares: a name alone (0.5) is weak, a
//! name and a phone (0.9) strong.
//!
//! **Merging.** For each field, a [`FieldSource`] says which record's value survives. By default
//! the survivor's value is kept and gaps are filled from the merged records in order; lists
//! (emails, phones, tags) and attributes are united, the survivor's first; the lifecycle stage
//! is the furthest reached; `customer_since` the earliest.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::customer::{Customer, CustomerData, CustomerId, Party};
use crate::search::fold;
use crate::validate::Violations;

/// A kind of evidence that two records are the same customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Evidence {
    /// The same external id.
    ExternalId,
    /// The same tax id.
    TaxId,
    /// The same email, as delivered.
    Email,
    /// The same phone number.
    Phone,
    /// The same folded name.
    Name,
}

impl Evidence {
    /// How much this evidence alone says (0 to 1).
    pub fn weight(self) -> f64 {
        match self {
            Evidence::ExternalId | Evidence::TaxId => 0.95,
            Evidence::Email => 0.9,
            Evidence::Phone => 0.8,
            Evidence::Name => 0.5,
        }
    }

    /// The contract's name (`EXTERNAL_ID`, `EMAIL`...).
    pub fn name(self) -> &'static str {
        match self {
            Evidence::ExternalId => "EXTERNAL_ID",
            Evidence::TaxId => "TAX_ID",
            Evidence::Email => "EMAIL",
            Evidence::Phone => "PHONE",
            Evidence::Name => "NAME",
        }
    }
}

/// The score of a pair that shares `evidence`.
pub fn score(evidence: &BTreeSet<Evidence>) -> f64 {
    1.0 - evidence.iter().map(|e| 1.0 - e.weight()).product::<f64>()
}

/// An email as it is delivered: folded case, no `+tag`, and for Gmail no dots.
pub fn deliverable_email(address: &str) -> String {
    let address = address.trim().to_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return address;
    };
    let local = local.split('+').next().unwrap_or(local);
    let (local, domain) = match domain {
        "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
        _ => (local.to_owned(), domain),
    };
    format!("{local}@{domain}")
}

/// Legal forms left out of an organization's name when names are compared.
const LEGAL_FORMS: &[&str] = &[
    "as", "sti", "ltd", "limited", "inc", "llc", "gmbh", "corp", "co", "sa", "plc", "ag",
];

/// A name as duplicates compare it: folded words, an organization's legal form left out.
fn name_key(data: &CustomerData) -> Option<String> {
    let text = match &data.party {
        Party::Person(p) => format!("{} {}", p.given_name, p.family_name),
        Party::Organization(o) => o.legal_name.clone(),
    };
    let folded = fold(&text);
    let mut words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if matches!(data.party, Party::Organization(_)) {
        loop {
            if words.last().is_some_and(|w| LEGAL_FORMS.contains(w)) {
                words.pop();
            } else if words.len() > 2 && words[words.len() - 2..] == ["a", "s"] {
                words.truncate(words.len() - 2);
            } else {
                break;
            }
        }
    }
    (!words.is_empty()).then(|| words.join(" "))
}

fn compact(text: &str) -> String {
    fold(text).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// The keys a record is compared on, each with its kind of evidence.
pub fn duplicate_keys(data: &CustomerData) -> Vec<(Evidence, String)> {
    let mut keys = Vec::new();
    if let Some(ext) = &data.external_id {
        keys.push((Evidence::ExternalId, compact(ext)));
    }
    if let Party::Organization(o) = &data.party
        && !compact(&o.tax_id).is_empty()
    {
        keys.push((Evidence::TaxId, compact(&o.tax_id)));
    }
    for e in &data.emails {
        keys.push((Evidence::Email, deliverable_email(&e.address)));
    }
    for p in &data.phones {
        keys.push((Evidence::Phone, p.number.clone()));
    }
    if let Some(name) = name_key(data) {
        keys.push((Evidence::Name, name));
    }
    keys.retain(|(_, k)| !k.is_empty());
    keys.sort();
    keys.dedup();
    keys
}

/// Where a field's value comes from in a merge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldSource {
    /// The default: the survivor's value, gaps filled from the merged records in order; lists
    /// and attributes united.
    Default,
    /// The survivor's value, even when empty.
    Survivor,
    /// The value of the record updated last among those that have one.
    Newest,
    /// The value of the record created first among those that have one.
    Oldest,
    /// This record's value (the survivor or one of the merged).
    From(CustomerId),
}

/// The fields a merge rule can name.
pub const MERGE_FIELDS: &[&str] = &[
    "party",
    "display_name",
    "emails",
    "phones",
    "address",
    "organization_id",
    "external_id",
    "owner",
    "source",
    "tags",
    "attributes",
    "lifecycle_stage",
    "consent",
    "customer_since",
];

/// Which value survives, per field (fields not named take [`FieldSource::Default`]).
pub type MergeRules = BTreeMap<String, FieldSource>;

/// Checks rules against the records of a merge: known fields, and `From` naming one of them.
pub fn check_rules(rules: &MergeRules, ids: &[CustomerId]) -> Result<(), Violations> {
    let mut v = Violations::default();
    for (field, source) in rules {
        if !MERGE_FIELDS.contains(&field.as_str()) {
            v.add(
                format!("field_rules[{field}]"),
                format!(
                    "is not a field a merge can choose: {}",
                    MERGE_FIELDS.join(", ")
                ),
            );
        }
        if let FieldSource::From(id) = source
            && !ids.contains(id)
        {
            v.add(
                format!("field_rules[{field}]"),
                format!("names {id}, which is neither the survivor nor merged"),
            );
        }
    }
    v.into_result(())
}

/// The survivor's data after merging `merged` into it under `rules`.
pub fn merge_data(survivor: &Customer, merged: &[Customer], rules: &MergeRules) -> CustomerData {
    let all: Vec<&Customer> = std::iter::once(survivor).chain(merged).collect();
    let mut out = survivor.data.clone();
    macro_rules! field {
        ($name:literal, $get:expr, $set:expr, $is_set:expr, $default:expr) => {{
            let pick = |c: &Customer| ($get)(&c.data);
            let rule = rules.get($name).cloned().unwrap_or(FieldSource::Default);
            let chosen = match rule {
                FieldSource::Default => $default,
                FieldSource::Survivor => pick(survivor),
                FieldSource::Newest => all
                    .iter()
                    .filter(|c| ($is_set)(&pick(c)))
                    .max_by_key(|c| c.update_time)
                    .map_or_else(|| pick(survivor), |c| pick(c)),
                FieldSource::Oldest => all
                    .iter()
                    .filter(|c| ($is_set)(&pick(c)))
                    .min_by_key(|c| c.create_time)
                    .map_or_else(|| pick(survivor), |c| pick(c)),
                FieldSource::From(id) => all
                    .iter()
                    .find(|c| c.id == id)
                    .map_or_else(|| pick(survivor), |c| pick(c)),
            };
            ($set)(&mut out, chosen);
        }};
    }
    let first_set =
        |get: &dyn Fn(&CustomerData) -> Option<String>| all.iter().find_map(|c| get(&c.data));
    field!(
        "party",
        |d: &CustomerData| d.party.clone(),
        |o: &mut CustomerData, v| o.party = v,
        |_: &Party| true,
        survivor.data.party.clone()
    );
    field!(
        "display_name",
        |d: &CustomerData| d.display_name.clone(),
        |o: &mut CustomerData, v| o.display_name = v,
        |v: &String| !v.is_empty(),
        survivor.data.display_name.clone()
    );
    field!(
        "emails",
        |d: &CustomerData| d.emails.clone(),
        |o: &mut CustomerData, v| o.emails = v,
        |v: &Vec<_>| !v.is_empty(),
        {
            let mut emails = survivor.data.emails.clone();
            for c in merged {
                for e in &c.data.emails {
                    if !emails.iter().any(|x| x.address == e.address) {
                        let mut e = e.clone();
                        e.primary = false;
                        emails.push(e);
                    }
                }
            }
            emails
        }
    );
    field!(
        "phones",
        |d: &CustomerData| d.phones.clone(),
        |o: &mut CustomerData, v| o.phones = v,
        |v: &Vec<_>| !v.is_empty(),
        {
            let mut phones = survivor.data.phones.clone();
            for c in merged {
                for p in &c.data.phones {
                    if !phones.iter().any(|x| x.number == p.number) {
                        phones.push(p.clone());
                    }
                }
            }
            phones
        }
    );
    field!(
        "address",
        |d: &CustomerData| d.address.clone(),
        |o: &mut CustomerData, v| o.address = v,
        |v: &Option<_>| v.is_some(),
        all.iter().find_map(|c| c.data.address.clone())
    );
    field!(
        "organization_id",
        |d: &CustomerData| d.organization_id,
        |o: &mut CustomerData, v| o.organization_id = v,
        |v: &Option<_>| v.is_some(),
        all.iter().find_map(|c| c.data.organization_id)
    );
    field!(
        "external_id",
        |d: &CustomerData| d.external_id.clone(),
        |o: &mut CustomerData, v| o.external_id = v,
        |v: &Option<_>| v.is_some(),
        first_set(&|d| d.external_id.clone())
    );
    field!(
        "owner",
        |d: &CustomerData| d.owner.clone(),
        |o: &mut CustomerData, v| o.owner = v,
        |v: &Option<_>| v.is_some(),
        first_set(&|d| d.owner.clone())
    );
    field!(
        "source",
        |d: &CustomerData| d.source.clone(),
        |o: &mut CustomerData, v| o.source = v,
        |v: &Option<_>| v.is_some(),
        first_set(&|d| d.source.clone())
    );
    field!(
        "tags",
        |d: &CustomerData| d.tags.clone(),
        |o: &mut CustomerData, v| o.tags = v,
        |v: &Vec<_>| !v.is_empty(),
        {
            let tags: BTreeSet<String> = all.iter().flat_map(|c| c.data.tags.clone()).collect();
            tags.into_iter().collect()
        }
    );
    field!(
        "attributes",
        |d: &CustomerData| d.attributes.clone(),
        |o: &mut CustomerData, v| o.attributes = v,
        |v: &BTreeMap<_, _>| !v.is_empty(),
        {
            let mut attributes = BTreeMap::new();
            for c in all.iter().rev() {
                attributes.extend(c.data.attributes.clone());
            }
            attributes
        }
    );
    field!(
        "lifecycle_stage",
        |d: &CustomerData| d.lifecycle_stage,
        |o: &mut CustomerData, v| o.lifecycle_stage = v,
        |_: &_| true,
        all.iter()
            .map(|c| c.data.lifecycle_stage)
            .max()
            .unwrap_or(survivor.data.lifecycle_stage)
    );
    field!(
        "consent",
        |d: &CustomerData| d.consent.clone(),
        |o: &mut CustomerData, v| o.consent = v,
        |_: &_| true,
        all.iter().fold(survivor.data.consent.clone(), |c, o| c
            .merged(&o.data.consent))
    );
    field!(
        "customer_since",
        |d: &CustomerData| d.customer_since,
        |o: &mut CustomerData, v| o.customer_since = v,
        |v: &Option<_>| v.is_some(),
        all.iter().filter_map(|c| c.data.customer_since).min()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_as_they_are_delivered() {
        assert_eq!(
            deliverable_email("Ada.Lovelace+crm@GMail.com"),
            "adalovelace@gmail.com"
        );
        assert_eq!(
            deliverable_email("ada.l+x@example.com"),
            "ada.l@example.com"
        );
    }

    #[test]
    fn names_fold_and_drop_the_legal_form() {
        let org = CustomerData::organization("Şahin Gıda A.Ş.");
        let org2 = CustomerData::organization("sahin gida");
        assert_eq!(name_key(&org), name_key(&org2));
        assert_eq!(name_key(&CustomerData::person("")), None);
    }

    #[test]
    fn scores_combine_independent_evidence() {
        let name = BTreeSet::from([Evidence::Name]);
        let both = BTreeSet::from([Evidence::Name, Evidence::Phone]);
        assert!((score(&name) - 0.5).abs() < 1e-9);
        assert!((score(&both) - 0.9).abs() < 1e-9);
    }
}
