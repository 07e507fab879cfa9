//! The value codec: the only place that knows how values are serialized.
//!
//! Every stored value is its type's version byte followed by the bincode 2 encoding (standard
//! config: little-endian varints) of its serde form. Each stored type says which version it
//! writes ([`Stored::VERSION`]) and how to read the versions before it ([`Stored::upgrade`]):
//! bincode is not self-describing, so a change to a stored type bumps that type's version and
//! keeps a decoder for the old one. The golden-bytes test below fails when the encoding of
//! today's types changes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};

/// Decoding refuses to allocate more than this for one value (damaged length prefixes).
const LIMIT: usize = 16 * 1024 * 1024;

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<LIMIT>,
> {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// A type the store keeps as a value, with the version of its encoding.
pub trait Stored: Serialize + DeserializeOwned {
    /// The version byte this build writes for the type.
    const VERSION: u8 = 1;

    /// Reads a value written under an older `version` of the type (`body` is after the
    /// version byte): `None` for a version this build does not know.
    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, String>> {
        let _ = (version, body);
        None
    }
}

/// Decodes the bincode body of a value of type `T` (any version's type): all of it, or an error.
pub(crate) fn body<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let (value, used) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| format!("undecodable value: {e}"))?;
    if used != body.len() {
        return Err(format!("{} trailing bytes", body.len() - used));
    }
    Ok(value)
}

/// Encodes a value with its type's version byte.
pub(crate) fn encode<T: Stored>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![T::VERSION];
    bincode::serde::encode_into_std_write(value, &mut out, config())
        .map_err(|e| StoreError::Storage(format!("cannot encode a value: {e}")))?;
    Ok(out)
}

/// Decodes a value written by [`encode`] (by this build or an older one); `key` names it in
/// errors.
pub(crate) fn decode<T: Stored>(bytes: &[u8], key: &dyn Fn() -> String) -> Result<T> {
    let corrupt = |detail: String| StoreError::Corrupt { key: key(), detail };
    match bytes.split_first() {
        Some((&v, rest)) if v == T::VERSION => body(rest).map_err(corrupt),
        Some((&v, rest)) => match T::upgrade(v, rest) {
            Some(decoded) => decoded.map_err(corrupt),
            None => Err(corrupt(format!("unknown value version {v}"))),
        },
        None => Err(corrupt("empty value".into())),
    }
}

/// The store's own types and the domain's, each at version 1 unless it says otherwise.
macro_rules! stored_v1 {
    ($($t:ty),* $(,)?) => { $(impl Stored for $t {})* };
}

/// Version 3 made consent a history and added the erasure; version 2 added `customer_since`.
/// Both older versions are read by [`crate::customers::legacy`].
impl Stored for crm_core::Customer {
    const VERSION: u8 = 3;

    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, String>> {
        match version {
            1 => Some(crate::customers::legacy::customer_v1(body)),
            2 => Some(crate::customers::legacy::customer_v2(body)),
            _ => None,
        }
    }
}

/// Version 2 added the segment's purpose; version 1 reads as a segment with none.
impl Stored for crm_core::Segment {
    const VERSION: u8 = 2;

    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, String>> {
        (version == 1).then(|| crate::segments::legacy_v1(body))
    }
}

/// Version 3 added feedback; version 2 added each currency's purchases (count, first, last);
/// version 1 decodes with them taken from the whole summary when it has one currency (format
/// 3's migration recomputes the others from their timelines).
impl Stored for crm_core::Summary {
    const VERSION: u8 = 3;

    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, String>> {
        use crm_core::summary::{v1::SummaryV1, v2::SummaryV2};
        match version {
            1 => Some(self::body::<SummaryV1>(body).map(crm_core::Summary::from)),
            2 => Some(self::body::<SummaryV2>(body).map(crm_core::Summary::from)),
            _ => None,
        }
    }
}

stored_v1!(
    crm_core::support::Ticket,
    crm_core::support::TicketMessage,
    crm_core::TimelineEntry,
    crm_core::ScoringModel,
    crm_core::deals::Deal,
    crm_core::deals::Pipeline,
    crm_core::tasks::Task,
    crm_core::automation::Rule,
);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, NaiveDate};
    use crm_core::*;

    use super::*;

    /// A customer using every field, as written by format version 1.
    fn fixture() -> Customer {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.to_utc())
                .unwrap_or_default()
        };
        Customer {
            id: CustomerId(0x0192_f3a4_b5c6_0001),
            create_time: t("2026-11-01T10:00:00.123Z"),
            update_time: t("2026-11-02T11:30:00.654321Z"),
            version: 7,
            data: CustomerData {
                party: Party::Person(Person {
                    given_name: "Ayşe".into(),
                    family_name: "Yılmaz".into(),
                    birth_date: NaiveDate::from_ymd_opt(1990, 4, 23),
                    gender: Some(Gender::Female),
                    income_band: Some(IncomeBand::UpperMiddle),
                    interests: vec!["hiking".into(), "jazz".into()],
                }),
                display_name: "Ayşe Yılmaz".into(),
                emails: vec![Email {
                    address: "ayse@example.com.tr".into(),
                    label: "home".into(),
                    primary: true,
                }],
                phones: vec![Phone {
                    number: "+905321234567".into(),
                    label: "mobile".into(),
                }],
                address: Some(Address {
                    lines: vec!["Bağdat Cd. 1".into()],
                    city: "İstanbul".into(),
                    region: "Kadıköy".into(),
                    postal_code: "34710".into(),
                    country: "TR".into(),
                }),
                organization_id: Some(CustomerId(42)),
                external_id: Some("erp-0001".into()),
                owner: Some("zeynep".into()),
                source: Some("web".into()),
                tags: vec!["vip".into()],
                attributes: BTreeMap::from([("plan".into(), "gold".into())]),
                lifecycle_stage: LifecycleStage::Loyalty,
                consent: Consent {
                    history: vec![
                        privacy::ConsentRecord::asserted(
                            ConsentPurpose::EmailMarketing,
                            true,
                            t("2026-01-01T00:00:00Z"),
                        ),
                        privacy::ConsentRecord::asserted(
                            ConsentPurpose::SmsMarketing,
                            false,
                            t("2026-01-02T00:00:00Z"),
                        ),
                    ],
                },
                customer_since: None,
            },
            erased: None,
        }
    }

    const GOLDEN_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/customer-v1.bin");
    const GOLDEN_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/customer-v2.bin");
    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/customer-v3.bin");

    fn since() -> Option<chrono::DateTime<chrono::Utc>> {
        DateTime::parse_from_rfc3339("2019-05-01T00:00:00Z")
            .map(|t| t.to_utc())
            .ok()
    }

    /// Records written by version 1 (before `customer_since`) still decode, to the same
    /// customer with no customer-since.
    #[test]
    fn version_1_records_still_decode() -> Result<()> {
        let golden = std::fs::read(GOLDEN_V1).map_err(|e| StoreError::Storage(e.to_string()))?;
        assert_eq!(golden.first(), Some(&1));
        let decoded: Customer = decode(&golden, &|| "golden".into())?;
        assert_eq!(decoded, fixture());
        Ok(())
    }

    /// Records written by version 2 (consent as one decision per purpose) decode with each
    /// decision as one record of the history.
    #[test]
    fn version_2_records_still_decode() -> Result<()> {
        let golden = std::fs::read(GOLDEN_V2).map_err(|e| StoreError::Storage(e.to_string()))?;
        assert_eq!(golden.first(), Some(&2));
        let decoded: Customer = decode(&golden, &|| "golden".into())?;
        let mut customer = fixture();
        customer.data.customer_since = since();
        assert_eq!(decoded, customer);
        assert!(
            decoded
                .data
                .consent
                .is_granted(ConsentPurpose::EmailMarketing)
        );
        Ok(())
    }

    /// Records written by version 3 must always decode to the same customer. If this fails after
    /// a change to the domain types, the change altered the on-disk format: keep the old types
    /// as a version-3 decoder (see `customers/legacy.rs`) and write the new ones as version 4.
    /// `CRM_BLESS=1` rewrites the golden file, only for a deliberate new format.
    #[test]
    fn version_3_records_still_decode() -> Result<()> {
        let mut customer = fixture();
        customer.data.customer_since = since();
        customer.data.consent.record(privacy::ConsentRecord {
            channel: privacy::ConsentChannel::Email,
            source: privacy::ConsentSource::WebForm,
            text_version: "marketing v4".into(),
            confirm_time: since(),
            ..privacy::ConsentRecord::asserted(
                ConsentPurpose::ThirdPartySharing,
                true,
                since().unwrap_or_default(),
            )
        });
        customer.erased = Some(privacy::Erasure {
            time: since().unwrap_or_default(),
            reason: "asked".into(),
            actor: "dpo".into(),
        });
        let encoded = encode(&customer)?;
        if std::env::var_os("CRM_BLESS").is_some() {
            std::fs::write(GOLDEN, &encoded).map_err(|e| StoreError::Storage(e.to_string()))?;
        }
        let golden = std::fs::read(GOLDEN).map_err(|e| StoreError::Storage(e.to_string()))?;
        let decoded: Customer = decode(&golden, &|| "golden".into())?;
        assert_eq!(decoded, customer);
        assert_eq!(encoded, golden, "the encoding of version 3 changed");
        Ok(())
    }

    /// A summary the previous release wrote (version 2: a TRY and a EUR purchase, then a call
    /// with an NPS of 10; `summary-v2.bin`, dumped from that release's store) decodes to the
    /// same figures with no feedback, and reads the same as the timeline recomputes it.
    #[test]
    fn the_previous_releases_summaries_still_decode() -> Result<()> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/summary-v2.bin");
        let golden = std::fs::read(path).map_err(|e| StoreError::Storage(e.to_string()))?;
        assert_eq!(golden.first(), Some(&2));
        let s: Summary = decode(&golden, &|| "golden".into())?;
        assert_eq!((s.purchase_count, s.interaction_count), (2, 1));
        assert_eq!(s.totals["TRY"].purchased_minor, 12_500);
        assert_eq!(s.totals["EUR"].purchases, 1);
        assert!(s.promoter_since.is_some() && s.advocate_since.is_some());
        assert_eq!(s.feedback, crm_core::feedback::FeedbackSummary::default());
        let again: Summary = decode(&encode(&s)?, &|| "re-encoded".into())?;
        assert_eq!(again, s);
        Ok(())
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let good = encode(&fixture()).unwrap_or_default();
        let key = || "k".to_string();
        assert!(decode::<Customer>(&[], &key).is_err());
        assert!(decode::<Customer>(&[9, 1, 2], &key).is_err());
        for cut in 0..good.len() {
            assert!(decode::<Customer>(&good[..cut], &key).is_err());
        }
        let mut flipped = good.clone();
        for i in 1..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = decode::<Customer>(&flipped, &key); // must not panic
            flipped[i] ^= 0xff;
        }
        let mut long = good;
        long.push(0);
        assert!(decode::<Customer>(&long, &key).is_err());
    }
}
