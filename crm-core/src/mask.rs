//! Partial updates (AIP-134): an [`UpdateMask`] names the fields of a patch to copy onto the
//! current customer. `*` replaces every writable field.
//!
//! Paths use the contract's field names: `person.given_name`, `address.country`, `emails`,
//! `attributes.plan` (one custom field: set it, or remove it when the patch lacks it),
//! `consent.profiling`. Output-only fields (`id`, `create_time`, `update_time`, `etag`, `kind`)
//! are ignored, as AIP-203 asks. A customer's kind never changes: a person stays a person.

use crate::customer::{Address, CustomerData, Organization, Party, Person};
use crate::validate::{Violations, derived_display_name, is_attribute_key};

/// One writable field, or all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldPath {
    /// `*`: every writable field.
    All,
    /// A top-level field or a group of fields, by its contract path (`emails`, `person`).
    Field(&'static str),
    /// `attributes.KEY`: one custom field.
    Attribute(String),
}

/// Paths a client may name. Groups (`person`, `address`, `consent`) cover their sub-fields.
const WRITABLE: &[&str] = &[
    "person",
    "person.given_name",
    "person.family_name",
    "person.birth_date",
    "person.gender",
    "person.income_band",
    "person.interests",
    "organization",
    "organization.legal_name",
    "organization.tax_id",
    "organization.industry",
    "organization.employee_count",
    "organization.website",
    "display_name",
    "emails",
    "phones",
    "address",
    "address.lines",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
    "organization_id",
    "external_id",
    "owner",
    "source",
    "tags",
    "attributes",
    "lifecycle_stage",
    "consent",
    "consent.email_marketing",
    "consent.sms_marketing",
    "consent.profiling",
    "consent.phone_calls",
    "consent.third_party_sharing",
    "customer_since",
];

/// Output-only paths: accepted in a mask and ignored.
const OUTPUT_ONLY: &[&str] = &["id", "create_time", "update_time", "etag", "kind"];

/// A parsed, checked update mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateMask {
    paths: Vec<FieldPath>,
    keep_stage: bool,
}

impl UpdateMask {
    /// The mask that replaces everything (`*`).
    pub fn all() -> Self {
        UpdateMask {
            paths: vec![FieldPath::All],
            keep_stage: false,
        }
    }

    /// Makes `*` leave the lifecycle stage as it is (for a patch that does not carry one).
    pub fn keep_lifecycle_stage(mut self) -> Self {
        self.keep_stage = true;
        self
    }

    /// Parses mask paths; an unknown path is a violation of `update_mask.paths[i]`.
    /// An empty list is refused: the caller decides what an absent mask means.
    pub fn parse<S: AsRef<str>>(paths: &[S]) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let mut parsed = Vec::new();
        if paths.is_empty() {
            v.add("update_mask", "must name at least one field, or *");
        }
        for (i, raw) in paths.iter().enumerate() {
            let path = raw.as_ref().trim();
            if path == "*" {
                parsed.push(FieldPath::All);
            } else if let Some(key) = path.strip_prefix("attributes.") {
                if is_attribute_key(key) {
                    parsed.push(FieldPath::Attribute(key.to_owned()));
                } else {
                    v.add(
                        format!("update_mask.paths[{i}]"),
                        format!("{key:?} is not a valid attribute key"),
                    );
                }
            } else if let Some(known) = WRITABLE.iter().find(|w| **w == path) {
                parsed.push(FieldPath::Field(known));
            } else if !OUTPUT_ONLY.contains(&path) {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("{path:?} is not a field of Customer"),
                );
            }
        }
        if paths.len() > 1 && parsed.contains(&FieldPath::All) {
            v.add("update_mask", "* must be the only path");
        }
        v.into_result(UpdateMask {
            paths: parsed,
            keep_stage: false,
        })
    }

    /// The parsed paths.
    pub fn paths(&self) -> &[FieldPath] {
        &self.paths
    }

    /// Copies the masked fields of `patch` onto a copy of `current`. The result still needs
    /// [`crate::validate::validate_customer`]. A display name that was derived stays derived.
    pub fn apply(
        &self,
        current: &CustomerData,
        patch: &CustomerData,
    ) -> Result<CustomerData, Violations> {
        let mut v = Violations::default();
        let mut next = current.clone();
        let derived_before = current.display_name == derived_display_name(current);
        let mut display_name_set = false;
        for (i, path) in self.paths.iter().enumerate() {
            match path {
                FieldPath::All => {
                    if patch.party.kind() != current.party.kind() {
                        // Named by what the caller sent: `person` or `organization`.
                        let sent = match patch.party {
                            crate::customer::Party::Person(_) => "person",
                            crate::customer::Party::Organization(_) => "organization",
                        };
                        v.add(
                            sent,
                            "a customer's kind (person or organization) cannot change",
                        );
                    }
                    next = patch.clone();
                    if self.keep_stage {
                        next.lifecycle_stage = current.lifecycle_stage;
                    }
                    display_name_set = true;
                }
                FieldPath::Attribute(key) => match patch.attributes.get(key) {
                    Some(value) => {
                        next.attributes.insert(key.clone(), value.clone());
                    }
                    None => {
                        next.attributes.remove(key);
                    }
                },
                FieldPath::Field(name) => {
                    if *name == "display_name" {
                        display_name_set = true;
                    }
                    if let Err(why) = copy_field(name, &mut next, patch) {
                        v.add(format!("update_mask.paths[{i}]"), why);
                    }
                }
            }
        }
        if derived_before && !display_name_set {
            next.display_name.clear();
        }
        v.into_result(next)
    }
}

fn person_of(party: &Party) -> Person {
    match party {
        Party::Person(p) => p.clone(),
        Party::Organization(_) => Person::default(),
    }
}

fn organization_of(party: &Party) -> Organization {
    match party {
        Party::Organization(o) => o.clone(),
        Party::Person(_) => Organization::default(),
    }
}

fn copy_field(
    name: &str,
    next: &mut CustomerData,
    patch: &CustomerData,
) -> Result<(), &'static str> {
    if let Some(sub) = name.strip_prefix("person") {
        let Party::Person(person) = &mut next.party else {
            return Err("the customer is an organization, not a person");
        };
        let from = person_of(&patch.party);
        match sub {
            "" => *person = from,
            ".given_name" => person.given_name = from.given_name,
            ".family_name" => person.family_name = from.family_name,
            ".birth_date" => person.birth_date = from.birth_date,
            ".gender" => person.gender = from.gender,
            ".income_band" => person.income_band = from.income_band,
            _ => person.interests = from.interests,
        }
        return Ok(());
    }
    if let Some(sub) = name.strip_prefix("organization").filter(|s| *s != "_id") {
        let Party::Organization(org) = &mut next.party else {
            return Err("the customer is a person, not an organization");
        };
        let from = organization_of(&patch.party);
        match sub {
            "" => *org = from,
            ".legal_name" => org.legal_name = from.legal_name,
            ".tax_id" => org.tax_id = from.tax_id,
            ".industry" => org.industry = from.industry,
            ".employee_count" => org.employee_count = from.employee_count,
            _ => org.website = from.website,
        }
        return Ok(());
    }
    if let Some(sub) = name.strip_prefix("address") {
        let from = patch.address.clone().unwrap_or_default();
        if sub.is_empty() {
            next.address = patch.address.clone();
            return Ok(());
        }
        let to = next.address.get_or_insert_with(Address::default);
        match sub {
            ".lines" => to.lines = from.lines,
            ".city" => to.city = from.city,
            ".region" => to.region = from.region,
            ".postal_code" => to.postal_code = from.postal_code,
            _ => to.country = from.country,
        }
        return Ok(());
    }
    match name {
        "display_name" => next.display_name = patch.display_name.clone(),
        "emails" => next.emails = patch.emails.clone(),
        "phones" => next.phones = patch.phones.clone(),
        "organization_id" => next.organization_id = patch.organization_id,
        "external_id" => next.external_id = patch.external_id.clone(),
        "owner" => next.owner = patch.owner.clone(),
        "source" => next.source = patch.source.clone(),
        "tags" => next.tags = patch.tags.clone(),
        "attributes" => next.attributes = patch.attributes.clone(),
        "lifecycle_stage" => next.lifecycle_stage = patch.lifecycle_stage,
        "consent" => next
            .consent
            .adopt(&patch.consent, &crate::privacy::ConsentPurpose::ALL),
        "customer_since" => next.customer_since = patch.customer_since,
        consent => {
            let purpose = consent
                .strip_prefix("consent.")
                .and_then(crate::privacy::ConsentPurpose::from_name);
            next.consent.adopt(&patch.consent, purpose.as_slice());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::LifecycleStage;

    fn ada() -> CustomerData {
        let mut c = CustomerData::new(Party::Person(Person {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            ..Person::default()
        }));
        c.display_name = "Ada Lovelace".into();
        c.owner = Some("zeynep".into());
        c.attributes.insert("plan".into(), "gold".into());
        c
    }

    #[test]
    fn copies_only_the_masked_fields() {
        let current = ada();
        let mut patch = CustomerData::new(Party::Person(Person {
            given_name: "Augusta".into(),
            ..Person::default()
        }));
        patch.owner = Some("ignored".into());
        patch.lifecycle_stage = LifecycleStage::Consideration;
        let mask = UpdateMask::parse(&["person.given_name", "lifecycle_stage", "etag"]);
        let next = mask.and_then(|m| m.apply(&current, &patch));
        let next = next.unwrap_or_else(|e| panic!("{e}"));
        let Party::Person(p) = &next.party else {
            panic!("kind changed")
        };
        assert_eq!(
            (p.given_name.as_str(), p.family_name.as_str()),
            ("Augusta", "Lovelace")
        );
        assert_eq!(next.owner.as_deref(), Some("zeynep"));
        assert_eq!(next.lifecycle_stage, LifecycleStage::Consideration);
        assert_eq!(
            next.display_name, "",
            "a derived display name is derived again"
        );
    }

    #[test]
    fn single_attributes_are_set_or_removed() {
        let current = ada();
        let mut patch = ada();
        patch.attributes.clear();
        patch.attributes.insert("tier".into(), "2".into());
        let mask = UpdateMask::parse(&["attributes.plan", "attributes.tier"]);
        let next = mask
            .and_then(|m| m.apply(&current, &patch))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next.attributes.len(), 1);
        assert_eq!(next.attributes.get("tier").map(String::as_str), Some("2"));
    }

    #[test]
    fn unknown_paths_and_kind_changes_are_refused() {
        let err = UpdateMask::parse(&["emails", "nickname", "attributes.Bad"]).err();
        let fields: Vec<String> = err
            .map(|e| e.0.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, vec!["update_mask.paths[1]", "update_mask.paths[2]"]);
        assert!(UpdateMask::parse::<&str>(&[]).is_err());
        let org = CustomerData::new(Party::Organization(Organization::default()));
        let current = ada();
        assert!(UpdateMask::all().apply(&current, &org).is_err());
        let mask = UpdateMask::parse(&["organization.tax_id"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(mask.apply(&current, &org).is_err());
    }
}
