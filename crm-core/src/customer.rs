//! The customer record: who a customer is, how to reach them, where they stand.
//!
//! A [`Customer`] is a stored record: server-assigned identity and times around the
//! [`CustomerData`] a client writes. Every type here is plain data; the rules live in
//! [`crate::validate`] (what is acceptable), [`crate::lifecycle`] (how stages move) and
//! [`crate::mask`] (how a partial update applies).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::LifecycleStage;
pub use crate::privacy::consent::{Consent, ConsentDecision, ConsentPurpose};

/// A customer's identity: a 64-bit number, shown as 16 lowercase hex digits.
///
/// Ids are assigned by the store, never reused, and increase with creation time, so sorting by
/// id is sorting by `create_time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CustomerId(pub u64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The text is not a customer id (16 hex digits).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a customer id is 16 hexadecimal digits, got {0:?}")]
pub struct InvalidCustomerId(pub String);

impl FromStr for CustomerId {
    type Err = InvalidCustomerId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidCustomerId(s.chars().take(40).collect()));
        }
        u64::from_str_radix(s, 16)
            .map(CustomerId)
            .map_err(|_| InvalidCustomerId(s.to_owned()))
    }
}

/// A stored customer: identity and bookkeeping around the data a client writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Assigned at creation; never changes.
    pub id: CustomerId,
    /// When the customer was created (millisecond precision: it is encoded in the id).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: DateTime<Utc>,
    /// When the customer last changed.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: DateTime<Utc>,
    /// Starts at 1 and grows by one with every update: the basis of the etag.
    pub version: u64,
    /// Everything a client writes.
    pub data: CustomerData,
    /// When and why its personal data was erased, if it was (then `data` is anonymous).
    pub erased: Option<crate::privacy::Erasure>,
}

impl Customer {
    /// About how many bytes the customer takes in an answer: its text, and 256 for the rest.
    /// Listings cut a page by it, so no answer outgrows what a client accepts.
    pub fn approx_bytes(&self) -> usize {
        let d = &self.data;
        let party = match &d.party {
            Party::Person(p) => {
                p.given_name.len()
                    + p.family_name.len()
                    + p.interests.iter().map(|i| i.len() + 4).sum::<usize>()
            }
            Party::Organization(o) => {
                o.legal_name.len() + o.tax_id.len() + o.industry.len() + o.website.len()
            }
        };
        let address = d.address.as_ref().map_or(0, |a| {
            a.lines.iter().map(|l| l.len() + 4).sum::<usize>()
                + a.city.len()
                + a.region.len()
                + a.postal_code.len()
                + a.country.len()
        });
        256 + party
            + address
            + d.display_name.len()
            + d.emails
                .iter()
                .map(|e| e.address.len() + e.label.len() + 8)
                .sum::<usize>()
            + d.phones
                .iter()
                .map(|p| p.number.len() + p.label.len() + 8)
                .sum::<usize>()
            + d.tags.iter().map(|t| t.len() + 4).sum::<usize>()
            + d.attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>()
            + [&d.external_id, &d.owner, &d.source]
                .iter()
                .map(|t| t.as_ref().map_or(0, String::len))
                .sum::<usize>()
    }

    /// The entity tag of this version (AIP-154): opaque to clients, changes with every update.
    pub fn etag(&self) -> String {
        format!("v{}", self.version)
    }

    /// Whether the customer is a person or an organization.
    pub fn kind(&self) -> CustomerKind {
        self.data.party.kind()
    }
}

/// The fields of a customer that a client writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerData {
    /// A natural person (B2C) or an organization (B2B).
    pub party: Party,
    /// The name to show; derived from the party (or the first email) when left empty.
    pub display_name: String,
    /// Email addresses, stored lower-case; unique across all customers. At most one is primary.
    pub emails: Vec<Email>,
    /// Phone numbers in E.164 form (`+905321234567`).
    pub phones: Vec<Phone>,
    /// Postal address.
    pub address: Option<Address>,
    /// For a person: the organization (a customer of kind organization) they work for.
    pub organization_id: Option<CustomerId>,
    /// The customer's id in another system (ERP, shop); unique when set.
    pub external_id: Option<String>,
    /// Who in the business owns the relationship (a user name or team).
    pub owner: Option<String>,
    /// The acquisition channel the customer came through (`web`, `referral`, `fair-2026`...).
    pub source: Option<String>,
    /// Normalized labels: lower-case, sorted, unique.
    pub tags: Vec<String>,
    /// Custom fields.
    pub attributes: BTreeMap<String, String>,
    /// Where the customer is on the path from first contact to advocacy.
    pub lifecycle_stage: LifecycleStage,
    /// What the customer agreed to be contacted or profiled for: every decision, from which
    /// the current consent per purpose is derived.
    pub consent: Consent,
    /// Since when this is a customer, when set (an importer's real start of the relationship);
    /// otherwise the earlier of the record's creation and its first timeline entry.
    #[serde(with = "crate::summary::opt_micros")]
    pub customer_since: Option<DateTime<Utc>>,
}

impl CustomerData {
    /// A person known by a given name only, with every other field empty.
    pub fn person(given_name: impl Into<String>) -> CustomerData {
        CustomerData::new(Party::Person(Person {
            given_name: given_name.into(),
            ..Person::default()
        }))
    }

    /// An organization known by its legal name only, with every other field empty.
    pub fn organization(legal_name: impl Into<String>) -> CustomerData {
        CustomerData::new(Party::Organization(Organization {
            legal_name: legal_name.into(),
            ..Organization::default()
        }))
    }

    /// A customer with just a party and every other field empty.
    pub fn new(party: Party) -> Self {
        CustomerData {
            party,
            display_name: String::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            address: None,
            organization_id: None,
            external_id: None,
            owner: None,
            source: None,
            tags: Vec::new(),
            attributes: BTreeMap::new(),
            lifecycle_stage: LifecycleStage::default(),
            consent: Consent::default(),
            customer_since: None,
        }
    }

    /// The primary email address, if the customer has any.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary)
            .or_else(|| self.emails.first())
            .map(|e| e.address.as_str())
    }
}

/// Whether a customer is a person or an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CustomerKind {
    /// A natural person buying for personal needs (B2C).
    Person,
    /// A company buying for business needs (B2B).
    Organization,
}

impl CustomerKind {
    /// Every kind, in order.
    pub const ALL: [CustomerKind; 2] = [CustomerKind::Person, CustomerKind::Organization];

    /// The contract name (`PERSON`, `ORGANIZATION`).
    pub fn name(self) -> &'static str {
        match self {
            CustomerKind::Person => "PERSON",
            CustomerKind::Organization => "ORGANIZATION",
        }
    }
}

/// Who the customer is: a person or an organization, with the fields that matter for each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Party {
    /// A natural person (B2C).
    Person(Person),
    /// A company or institution (B2B).
    Organization(Organization),
}

impl Party {
    /// The kind of party.
    pub fn kind(&self) -> CustomerKind {
        match self {
            Party::Person(_) => CustomerKind::Person,
            Party::Organization(_) => CustomerKind::Organization,
        }
    }
}

/// A natural person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// First name(s).
    pub given_name: String,
    /// Last name(s).
    pub family_name: String,
    /// Date of birth (gives the age).
    pub birth_date: Option<NaiveDate>,
    /// Gender, when the person shared it.
    pub gender: Option<Gender>,
    /// Income band, for segmentation.
    pub income_band: Option<IncomeBand>,
    /// Lifestyle and interests, normalized like tags.
    pub interests: Vec<String>,
}

/// A person's gender, as they shared it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Non-binary.
    NonBinary,
    /// The person chose not to say.
    PreferNotToSay,
}

/// A coarse income band, for segmentation without storing income itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IncomeBand {
    /// Low income.
    Low,
    /// Lower-middle income.
    LowerMiddle,
    /// Middle income.
    Middle,
    /// Upper-middle income.
    UpperMiddle,
    /// High income.
    High,
}

/// A company or institution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// The registered name.
    pub legal_name: String,
    /// Tax identification number.
    pub tax_id: String,
    /// Industry, free text (`retail`, `software`).
    pub industry: String,
    /// Number of employees, when known.
    pub employee_count: Option<u32>,
    /// Web site, an `http(s)://` URL.
    pub website: String,
}

/// An email address of a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// The address, lower-cased.
    pub address: String,
    /// A label (`work`, `home`).
    pub label: String,
    /// Whether this is the address to use by default.
    pub primary: bool,
}

/// A phone number of a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// The number in E.164 form: `+`, country code and number, up to 15 digits.
    pub number: String,
    /// A label (`mobile`, `office`).
    pub label: String,
}

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street lines, in order.
    pub lines: Vec<String>,
    /// City or locality.
    pub city: String,
    /// Region, state or province.
    pub region: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, upper-case (`TR`, `DE`); empty when unknown.
    pub country: String,
}

impl CustomerData {
    /// The top-level fields (contract names) whose values differ between `self` and `other`.
    pub fn changed_fields(&self, other: &CustomerData) -> Vec<&'static str> {
        let mut out = Vec::new();
        match (&self.party, &other.party) {
            (Party::Person(a), Party::Person(b)) if a == b => {}
            (Party::Organization(a), Party::Organization(b)) if a == b => {}
            (Party::Person(_), Party::Person(_)) => out.push("person"),
            (Party::Organization(_), Party::Organization(_)) => out.push("organization"),
            _ => out.extend(["person", "organization"]),
        }
        let mut check = |name: &'static str, differs: bool| {
            if differs {
                out.push(name);
            }
        };
        check("display_name", self.display_name != other.display_name);
        check("emails", self.emails != other.emails);
        check("phones", self.phones != other.phones);
        check("address", self.address != other.address);
        check(
            "organization_id",
            self.organization_id != other.organization_id,
        );
        check("external_id", self.external_id != other.external_id);
        check("owner", self.owner != other.owner);
        check("source", self.source != other.source);
        check("tags", self.tags != other.tags);
        check("attributes", self.attributes != other.attributes);
        check(
            "lifecycle_stage",
            self.lifecycle_stage != other.lifecycle_stage,
        );
        check("consent", self.consent != other.consent);
        out
    }
}
