//! The filterable fields: each field name, the operators it takes, and how its value is read
//! and normalized into a [`Term`].

use chrono::DateTime;

use super::{FilterError, Op, Term};
use crate::customer::CustomerKind;
use crate::lifecycle::LifecycleStage;
use crate::normalize::{normalize_email, normalize_tag};
use crate::relationship::RelationshipStatus;
use crate::scoring::Temperature;

pub(super) fn term(
    field: &str,
    op: Op,
    value: &str,
    field_at: usize,
    value_at: usize,
) -> Result<Term, FilterError> {
    let bad_value = |msg: String| FilterError {
        position: value_at,
        message: format!("{field}: {msg}"),
    };
    let bad_op = || FilterError {
        position: field_at,
        message: format!("{field} does not support `{}`", op.symbol()),
    };
    let equality = |op: Op| {
        if matches!(op, Op::Eq | Op::Ne) {
            Ok(op)
        } else {
            Err(bad_op())
        }
    };
    let has = |op: Op| if op == Op::Has { Ok(()) } else { Err(bad_op()) };
    let number = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| bad_value(format!("{v:?} is not a whole number (0 to 4294967295)")))
    };
    // An RFC 3339 date-time, or an RFC 3339 full-date meaning its first instant (UTC).
    let time = |v: &str| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.to_utc())
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
            })
            .ok_or_else(|| {
                bad_value(
                    "expected an RFC 3339 time like 2026-01-31T00:00:00Z or a date like 2026-01-31"
                        .into(),
                )
            })
    };
    Ok(match field {
        "lifecycle_stage" => {
            if op == Op::Has {
                return Err(bad_op());
            }
            let stage = LifecycleStage::parse(value)
                .ok_or_else(|| bad_value(format!("{value:?} is not a lifecycle stage")))?;
            Term::Stage(op, stage)
        }
        "kind" => {
            let kind = CustomerKind::ALL
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(value))
                .ok_or_else(|| bad_value("expected PERSON or ORGANIZATION".into()))?;
            Term::Kind(equality(op)?, kind)
        }
        "tags" => {
            has(op)?;
            Term::Tag(normalize_tag(value).map_err(|m| bad_value(m.into()))?)
        }
        "emails" => {
            has(op)?;
            Term::Email(normalize_email(value).map_err(|m| bad_value(m.into()))?)
        }
        "owner" => Term::Owner(equality(op)?, value.to_owned()),
        "source" => Term::Source(equality(op)?, value.to_owned()),
        "external_id" => Term::ExternalId(equality(op)?, value.to_owned()),
        "display_name" => Term::DisplayName(equality(op)?, value.to_owned()),
        "address.country" => Term::Country(equality(op)?, value.to_ascii_uppercase()),
        "organization_id" => {
            let id = value
                .parse()
                .map_err(|e: crate::customer::InvalidCustomerId| bad_value(e.to_string()))?;
            Term::Organization(equality(op)?, id)
        }
        "create_time" | "update_time" if op == Op::Has => return Err(bad_op()),
        "create_time" => Term::CreateTime(op, time(value)?),
        "organization.employee_count" | "summary.purchase_count" | "age" if op == Op::Has => {
            return Err(bad_op());
        }
        "organization.employee_count" => Term::EmployeeCount(op, number(value)?),
        "summary.purchase_count" => Term::PurchaseCount(op, u64::from(number(value)?)),
        "age" => Term::Age(op, number(value)?),
        "clv" => {
            return Err(FilterError {
                position: field_at,
                message: "clv compares amounts of one currency: name it, as in \
                          `clv.EUR > 100000` (minor units of EUR)"
                    .into(),
            });
        }
        clv if clv.starts_with("clv.") => {
            if op == Op::Has {
                return Err(bad_op());
            }
            let currency = crate::money::normalize_currency(&clv["clv.".len()..]).map_err(|m| {
                FilterError {
                    position: field_at,
                    message: format!("{clv}: the currency {m}"),
                }
            })?;
            let amount = value
                .trim()
                .parse()
                .map_err(|_| bad_value(format!("{value:?} is not an amount in minor units")))?;
            Term::Clv(op, currency, amount)
        }
        "rfm_group" => {
            let wanted = value.trim().to_lowercase().replace('_', " ");
            let group = crate::report::RFM_GROUPS
                .into_iter()
                .find(|g| *g == wanted)
                .ok_or_else(|| {
                    bad_value(format!(
                        "expected one of {}",
                        crate::report::RFM_GROUPS.join(", ")
                    ))
                })?;
            Term::RfmGroup(equality(op)?, group)
        }
        attribute if attribute.starts_with("attributes.") => {
            let key = &attribute["attributes.".len()..];
            if !crate::validate::is_attribute_key(key) {
                return Err(FilterError {
                    position: field_at,
                    message: format!("{key:?} is not an attribute key (a-z, 0-9, _)"),
                });
            }
            if op == Op::Has {
                return Err(bad_op());
            }
            Term::Attribute(op, key.to_owned(), value.to_owned())
        }
        "relationship_status" => {
            let status = RelationshipStatus::parse(value).ok_or_else(|| {
                bad_value("expected PROSPECT, NEW, ACTIVE, LOYAL, AT_RISK or CHURNED".into())
            })?;
            Term::Status(equality(op)?, status)
        }
        "lead_temperature" | "lead_score" if op == Op::Has => return Err(bad_op()),
        "lead_temperature" => Term::Temperature(
            op,
            Temperature::parse(value)
                .ok_or_else(|| bad_value("expected COLD, WARM or HOT".into()))?,
        ),
        "lead_score" => Term::LeadScore(
            op,
            value
                .parse()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or_else(|| bad_value("expected a score from 0 to 100".into()))?,
        ),
        "update_time" => Term::UpdateTime(op, time(value)?),
        "feedback.nps_category" => Term::NpsCategory(
            equality(op)?,
            crate::feedback::NpsCategory::parse(value)
                .ok_or_else(|| bad_value("expected DETRACTOR, PASSIVE or PROMOTER".into()))?,
        ),
        "feedback.last_nps" | "feedback.last_csat" | "feedback.review_count" if op == Op::Has => {
            return Err(bad_op());
        }
        "feedback.last_nps" => Term::LastNps(op, number(value)?),
        "feedback.last_csat" => Term::LastCsat(op, number(value)?),
        "feedback.review_count" => Term::ReviewCount(op, u64::from(number(value)?)),
        consent if consent.starts_with("consent.") => {
            let name = &consent["consent.".len()..];
            let purpose = crate::privacy::ConsentPurpose::from_name(name).ok_or_else(|| {
                bad_value(format!(
                    "no such purpose {name:?} (email_marketing, sms_marketing, profiling, phone_calls, third_party_sharing)"
                ))
            })?;
            let want = match value.trim() {
                "true" => true,
                "false" => false,
                other => return Err(bad_value(format!("{other:?} is not true or false"))),
            };
            Term::Consent(equality(op)?, purpose, want)
        }
        "loyalty.tier" => Term::LoyaltyTier(equality(op)?, value.trim().to_uppercase()),
        "loyalty.points" | "loyalty.expiring_30d" if op == Op::Has => return Err(bad_op()),
        "loyalty.points" | "loyalty.expiring_30d" => {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| bad_value(format!("{value:?} is not a whole number of points")))?;
            if field == "loyalty.points" {
                Term::LoyaltyPoints(op, n)
            } else {
                Term::LoyaltyExpiring(op, n)
            }
        }
        other => {
            return Err(FilterError {
                position: field_at,
                message: format!("{other:?} is not a filterable field"),
            });
        }
    })
}
