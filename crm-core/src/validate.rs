//! What a customer may contain: [`validate_customer`] normalizes a [`CustomerData`] in place and
//! returns every violation at once, each with the field path a client can act on
//! (`emails[1].address`, `address.country`).
//!
//! Limits are constants here so the contract documents the same numbers the code enforces.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::customer::{Address, CustomerData, Party};
use crate::normalize::{normalize_email, normalize_phone, normalize_tag};

/// Longest display name, legal name, address line (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// Longest given or family name (characters).
pub const MAX_PERSON_NAME_CHARS: usize = 100;
/// Most emails, and most phones, per customer.
pub const MAX_CONTACT_POINTS: usize = 10;
/// Most tags per customer (and interests per person).
pub const MAX_TAGS: usize = 32;
/// Longest tag (characters).
pub const MAX_TAG_CHARS: usize = 64;
/// Most custom attributes per customer.
pub const MAX_ATTRIBUTES: usize = 64;
/// Longest attribute key (bytes; keys are `[a-z][a-z0-9_]*`).
pub const MAX_ATTRIBUTE_KEY_BYTES: usize = 64;
/// Longest attribute value (bytes).
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// Longest external id, owner, label, and other short identifiers (characters).
pub const MAX_ID_CHARS: usize = 128;
/// How far in the future a client-supplied time may be (clock skew allowance).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The path of the field, in the contract's names (`emails[0].address`).
    pub field: String,
    /// What is wrong, for a person to read.
    pub description: String,
}

/// Every problem found in an input; never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.0))]
pub struct Violations(pub Vec<Violation>);

fn summary(list: &[Violation]) -> String {
    let parts: Vec<String> = list
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect();
    format!("invalid input: {}", parts.join("; "))
}

impl Violations {
    /// Records a problem.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(Violation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// A single violation as an error.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Violations::default();
        v.add(field, description);
        v
    }

    /// `Ok(value)` when nothing was recorded, else the violations.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Prefixes every field path (`emails[0]` becomes `customer.emails[0]`).
    pub fn prefixed(self, prefix: &str) -> Violations {
        Violations(
            self.0
                .into_iter()
                .map(|v| Violation {
                    field: format!("{prefix}.{}", v.field),
                    ..v
                })
                .collect(),
        )
    }
}

/// Trims a single-line text field, puts it in Unicode NFC, and checks its length and
/// characters (no control, format or direction-changing characters but the joiners; see
/// [`crate::normalize`]).
pub fn check_text(v: &mut Violations, field: &str, text: &mut String, max_chars: usize) {
    let normal = crate::normalize::nfc(text.trim());
    if normal != *text {
        *text = normal;
    }
    if text.chars().count() > max_chars {
        v.add(field, format!("must be at most {max_chars} characters"));
    }
    if let Some(c) = text
        .chars()
        .find(|c| crate::normalize::is_refused_in_text(*c))
    {
        v.add(
            field,
            format!(
                "must not contain control, invisible or direction-changing characters (found U+{:04X})",
                u32::from(c)
            ),
        );
    }
}

/// Like [`check_text`], and turns a blank value into `None`.
pub fn check_optional_text(
    v: &mut Violations,
    field: &str,
    text: &mut Option<String>,
    max_chars: usize,
) {
    if let Some(t) = text {
        check_text(v, field, t, max_chars);
        if t.is_empty() {
            *text = None;
        }
    }
}

/// Checks that a client-supplied time is not in the future (beyond [`MAX_FUTURE_SKEW`]).
pub fn check_not_future(v: &mut Violations, field: &str, time: DateTime<Utc>, now: DateTime<Utc>) {
    if time > now + MAX_FUTURE_SKEW {
        v.add(field, "must not be in the future");
    }
}

/// A time at the precision records keep: microseconds.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Validates and normalizes a customer's data in place. `now` bounds the times a client may send.
///
/// Normalizes: trims text, lower-cases emails, writes phones as E.164, upper-cases the country,
/// sorts and de-duplicates tags and interests, marks the first email primary when none is,
/// derives `display_name` when empty, and turns blank optional fields into `None`.
pub fn validate_customer(data: &mut CustomerData, now: DateTime<Utc>) -> Result<(), Violations> {
    let mut v = Violations::default();
    validate_party(&mut v, &mut data.party, now);

    check_text(
        &mut v,
        "display_name",
        &mut data.display_name,
        MAX_NAME_CHARS,
    );

    if data.emails.len() > MAX_CONTACT_POINTS {
        v.add("emails", format!("at most {MAX_CONTACT_POINTS} emails"));
    }
    for (i, email) in data.emails.iter_mut().enumerate() {
        match normalize_email(&email.address) {
            Ok(address) => email.address = address,
            Err(why) => v.add(format!("emails[{i}].address"), why),
        }
        check_text(
            &mut v,
            &format!("emails[{i}].label"),
            &mut email.label,
            MAX_ID_CHARS,
        );
    }
    for i in 1..data.emails.len() {
        if data.emails[..i]
            .iter()
            .any(|e| e.address == data.emails[i].address)
        {
            v.add(format!("emails[{i}].address"), "appears twice");
        }
    }
    match data.emails.iter().filter(|e| e.primary).count() {
        0 => {
            if let Some(first) = data.emails.first_mut() {
                first.primary = true;
            }
        }
        1 => {}
        _ => v.add("emails", "at most one email can be primary"),
    }

    if data.phones.len() > MAX_CONTACT_POINTS {
        v.add("phones", format!("at most {MAX_CONTACT_POINTS} phones"));
    }
    for (i, phone) in data.phones.iter_mut().enumerate() {
        match normalize_phone(&phone.number) {
            Ok(number) => phone.number = number,
            Err(why) => v.add(format!("phones[{i}].number"), why),
        }
        check_text(
            &mut v,
            &format!("phones[{i}].label"),
            &mut phone.label,
            MAX_ID_CHARS,
        );
    }
    for i in 1..data.phones.len() {
        if data.phones[..i]
            .iter()
            .any(|p| p.number == data.phones[i].number)
        {
            v.add(format!("phones[{i}].number"), "appears twice");
        }
    }

    if let Some(address) = &mut data.address {
        validate_address(&mut v, address);
        if *address == Address::default() {
            data.address = None;
        }
    }

    if data.organization_id.is_some() && !matches!(data.party, Party::Person(_)) {
        v.add(
            "organization_id",
            "only a person can belong to an organization",
        );
    }
    check_optional_text(&mut v, "external_id", &mut data.external_id, MAX_ID_CHARS);
    // An identifier is compared byte for byte: not even a joiner may hide in it.
    if data
        .external_id
        .as_deref()
        .is_some_and(|id| id.chars().any(crate::normalize::is_invisible))
    {
        v.add("external_id", "must not contain invisible characters");
    }
    check_optional_text(&mut v, "owner", &mut data.owner, MAX_ID_CHARS);
    check_optional_text(&mut v, "source", &mut data.source, MAX_ID_CHARS);

    normalize_tags(&mut v, "tags", &mut data.tags);
    validate_attributes(&mut v, data);

    for record in &mut data.consent.history {
        let name = record.purpose.name();
        if let Err(bad) = crate::privacy::validate_consent_record(record, now) {
            v.0.extend(bad.prefixed(&format!("consent.{name}")).0);
        }
    }
    if data.consent.history.len() > crate::privacy::consent::MAX_CONSENT_RECORDS {
        v.add(
            "consent",
            format!(
                "holds more than {} records",
                crate::privacy::consent::MAX_CONSENT_RECORDS
            ),
        );
    }
    if let Some(since) = data.customer_since {
        check_not_future(&mut v, "customer_since", since, now);
        data.customer_since = Some(to_micros(since));
    }

    if data.display_name.is_empty() {
        data.display_name = derived_display_name(data);
        if data.display_name.is_empty() {
            v.add(
                "display_name",
                "a customer needs a name: set display_name, a name, or an email",
            );
        }
    }
    v.into_result(())
}

/// The name shown when a client gives none: the person's names, the legal name, or the first email.
pub fn derived_display_name(data: &CustomerData) -> String {
    let from_party = match &data.party {
        Party::Person(p) => format!("{} {}", p.given_name, p.family_name)
            .trim()
            .to_owned(),
        Party::Organization(o) => o.legal_name.clone(),
    };
    if !from_party.is_empty() {
        return from_party;
    }
    data.primary_email().unwrap_or_default().to_owned()
}

fn validate_party(v: &mut Violations, party: &mut Party, now: DateTime<Utc>) {
    match party {
        Party::Person(p) => {
            check_text(
                v,
                "person.given_name",
                &mut p.given_name,
                MAX_PERSON_NAME_CHARS,
            );
            check_text(
                v,
                "person.family_name",
                &mut p.family_name,
                MAX_PERSON_NAME_CHARS,
            );
            if let Some(birth) = p.birth_date {
                let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
                if birth > now.date_naive() {
                    v.add("person.birth_date", "must not be in the future");
                } else if birth < earliest {
                    v.add("person.birth_date", "must be on or after 1900-01-01");
                }
            }
            normalize_tags(v, "person.interests", &mut p.interests);
        }
        Party::Organization(o) => {
            check_text(
                v,
                "organization.legal_name",
                &mut o.legal_name,
                MAX_NAME_CHARS,
            );
            if o.legal_name.is_empty() {
                v.add("organization.legal_name", "is required for an organization");
            }
            check_text(v, "organization.tax_id", &mut o.tax_id, 50);
            check_text(v, "organization.industry", &mut o.industry, 100);
            check_text(v, "organization.website", &mut o.website, 2048);
            let site = o.website.to_ascii_lowercase();
            if !o.website.is_empty()
                && (!(site.starts_with("https://") || site.starts_with("http://"))
                    || o.website.contains(char::is_whitespace))
            {
                v.add("organization.website", "must be an http:// or https:// URL");
            }
        }
    }
}

fn validate_address(v: &mut Violations, a: &mut Address) {
    if a.lines.len() > 5 {
        v.add("address.lines", "at most 5 lines");
    }
    for (i, line) in a.lines.iter_mut().enumerate() {
        check_text(v, &format!("address.lines[{i}]"), line, MAX_NAME_CHARS);
    }
    a.lines.retain(|l| !l.is_empty());
    check_text(v, "address.city", &mut a.city, 100);
    check_text(v, "address.region", &mut a.region, 100);
    check_text(v, "address.postal_code", &mut a.postal_code, 20);
    a.country = a.country.trim().to_ascii_uppercase();
    if !a.country.is_empty() && !crate::country::is_iso_3166_alpha2(&a.country) {
        v.add(
            "address.country",
            "must be an ISO 3166-1 alpha-2 code such as TR or DE",
        );
    }
}

fn normalize_tags(v: &mut Violations, field: &str, tags: &mut Vec<String>) {
    let mut out = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        match normalize_tag(tag) {
            Ok(t) => out.push(t),
            Err(why) => v.add(format!("{field}[{i}]"), why),
        }
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_TAGS {
        v.add(field, format!("at most {MAX_TAGS} distinct values"));
    }
    *tags = out;
}

fn validate_attributes(v: &mut Violations, data: &CustomerData) {
    if data.attributes.len() > MAX_ATTRIBUTES {
        v.add("attributes", format!("at most {MAX_ATTRIBUTES} attributes"));
    }
    for (key, value) in &data.attributes {
        if !is_attribute_key(key) {
            v.add(
                format!("attributes[{}]", key.chars().take(MAX_ATTRIBUTE_KEY_BYTES).collect::<String>()),
                format!("a key is a lower-case letter then letters, digits or _, at most {MAX_ATTRIBUTE_KEY_BYTES} bytes"),
            );
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_BYTES {
            v.add(
                format!("attributes[{key}]"),
                format!("a value is at most {MAX_ATTRIBUTE_VALUE_BYTES} bytes"),
            );
        }
        if value.contains('\0') {
            v.add(format!("attributes[{key}]"), "a value must not contain NUL");
        }
    }
}

/// Whether a text is a valid attribute key: `[a-z][a-z0-9_]*`, at most 64 bytes.
pub fn is_attribute_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    key.len() <= MAX_ATTRIBUTE_KEY_BYTES
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{Email, Organization, Person, Phone};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    fn person(given: &str) -> CustomerData {
        CustomerData::new(Party::Person(Person {
            given_name: given.into(),
            ..Person::default()
        }))
    }

    fn fields(result: Result<(), Violations>) -> Vec<String> {
        result
            .err()
            .map(|v| v.0.into_iter().map(|v| v.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn normalizes_a_messy_but_valid_person() {
        let mut c = person("  Ayşe ");
        c.emails.push(Email {
            address: " Ayse@Example.COM ".into(),
            label: "home".into(),
            primary: false,
        });
        c.phones.push(Phone {
            number: "+90 (532) 123-45-67".into(),
            label: String::new(),
        });
        c.tags = vec!["VIP".into(), "vip ".into(), "Early Adopter".into()];
        c.address = Some(Address {
            country: "tr".into(),
            ..Address::default()
        });
        c.owner = Some("  ".into());
        assert_eq!(validate_customer(&mut c, now()), Ok(()));
        assert_eq!(c.display_name, "Ayşe");
        assert_eq!(c.emails[0].address, "ayse@example.com");
        assert!(c.emails[0].primary);
        assert_eq!(c.phones[0].number, "+905321234567");
        assert_eq!(c.tags, vec!["early-adopter", "vip"]);
        assert_eq!(c.address.as_ref().map(|a| a.country.as_str()), Some("TR"));
        assert_eq!(c.owner, None);
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let mut c = person("Ali");
        c.emails.push(Email {
            address: "not-an-email".into(),
            label: String::new(),
            primary: false,
        });
        c.phones.push(Phone {
            number: "12".into(),
            label: String::new(),
        });
        c.address = Some(Address {
            country: "XX".into(),
            ..Address::default()
        });
        c.tags = vec!["ok".into(), "bad tag!".into()];
        c.attributes.insert("Bad Key".into(), "v".into());
        c.organization_id = None;
        let got = fields(validate_customer(&mut c, now()));
        assert_eq!(
            got,
            vec![
                "emails[0].address",
                "phones[0].number",
                "address.country",
                "tags[1]",
                "attributes[Bad Key]"
            ]
        );
    }

    #[test]
    fn an_organization_needs_a_legal_name_and_cannot_belong_to_one() {
        let mut c = CustomerData::new(Party::Organization(Organization::default()));
        c.organization_id = Some(crate::customer::CustomerId(1));
        let got = fields(validate_customer(&mut c, now()));
        assert!(got.contains(&"organization.legal_name".to_owned()));
        assert!(got.contains(&"organization_id".to_owned()));
    }

    #[test]
    fn a_nameless_person_without_email_is_refused_but_an_email_names_them() {
        let mut c = person("");
        assert_eq!(
            fields(validate_customer(&mut c, now())),
            vec!["display_name"]
        );
        c.emails.push(Email {
            address: "x@y.io".into(),
            label: String::new(),
            primary: false,
        });
        assert_eq!(validate_customer(&mut c, now()), Ok(()));
        assert_eq!(c.display_name, "x@y.io");
    }

    #[test]
    fn duplicates_and_two_primaries_are_refused() {
        let mut c = person("Ali");
        for _ in 0..2 {
            c.emails.push(Email {
                address: "a@b.co".into(),
                label: String::new(),
                primary: true,
            });
        }
        assert_eq!(
            fields(validate_customer(&mut c, now())),
            vec!["emails[1].address", "emails"]
        );
    }

    #[test]
    fn future_consent_and_birth_dates_are_refused() {
        let mut c = person("Ali");
        if let Party::Person(p) = &mut c.party {
            p.birth_date = NaiveDate::from_ymd_opt(2030, 1, 1);
        }
        c.consent.record(crate::privacy::ConsentRecord::asserted(
            crate::privacy::ConsentPurpose::Profiling,
            true,
            now() + Duration::hours(1),
        ));
        assert_eq!(
            fields(validate_customer(&mut c, now())),
            vec!["person.birth_date", "consent.profiling.time"]
        );
    }
}
