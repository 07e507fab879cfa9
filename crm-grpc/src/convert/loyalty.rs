//! Loyalty between `crm.v1` messages and `crm-core` types: the program, accounts, ledger
//! entries, rewards.

use chrono::{DateTime, Utc};
use crm_core::Violations;
use crm_core::loyalty::{
    Bonuses, CurrencyRate, EntryKind, LedgerEntry, LoyaltyProgram, Qualification, Reward,
    RewardData, SkuMultiplier, Source, Tier,
};
use crm_store::loyalty::Balance;
use crm_store::loyalty::rewards::reward_etag;
use crm_store::settings::Configured;

use super::{time_from_proto, time_to_proto};
use crate::pb;

fn rates_in(rates: Vec<pb::CurrencyRate>) -> Vec<CurrencyRate> {
    rates
        .into_iter()
        .map(|r| CurrencyRate {
            currency: r.currency_code,
            minor_per_point: r.minor_per_point,
        })
        .collect()
}

fn rates_out(rates: &[CurrencyRate]) -> Vec<pb::CurrencyRate> {
    rates
        .iter()
        .map(|r| pb::CurrencyRate {
            currency_code: r.currency.clone(),
            minor_per_point: r.minor_per_point,
        })
        .collect()
}

/// A program from its message (validated by the store).
pub fn program_from_proto(p: pb::LoyaltyProgram) -> LoyaltyProgram {
    let pb::LoyaltyProgram {
        earn_rates,
        sku_multipliers,
        first_purchase_bonus,
        birthday_month_bonus,
        converted_referral_bonus,
        review_bonus,
        expiry_months,
        tiers,
        qualification_currency_code,
        window_days,
        grace_days,
        point_values,
        version: _,
        update_time: _,
        etag: _,
    } = p;
    LoyaltyProgram {
        earn_rates: rates_in(earn_rates),
        sku_multipliers: sku_multipliers
            .into_iter()
            .map(|m| SkuMultiplier {
                sku_prefix: m.sku_prefix,
                percent: m.percent,
            })
            .collect(),
        bonuses: Bonuses {
            first_purchase: first_purchase_bonus,
            birthday_month: birthday_month_bonus,
            converted_referral: converted_referral_bonus,
            review: review_bonus,
        },
        expiry_months,
        tiers: tiers
            .into_iter()
            .map(|t| Tier {
                name: t.name,
                threshold: t.threshold,
                earn_percent: t.earn_percent,
            })
            .collect(),
        qualification: if qualification_currency_code.trim().is_empty() {
            Qualification::PointsEarned
        } else {
            Qualification::NetSpend {
                currency: qualification_currency_code,
            }
        },
        window_days,
        grace_days,
        point_values: rates_in(point_values),
    }
}

/// The program in force as a message.
pub fn program_to_proto(c: &Configured<LoyaltyProgram>) -> pb::LoyaltyProgram {
    let p = &c.value;
    pb::LoyaltyProgram {
        earn_rates: rates_out(&p.earn_rates),
        sku_multipliers: p
            .sku_multipliers
            .iter()
            .map(|m| pb::SkuMultiplier {
                sku_prefix: m.sku_prefix.clone(),
                percent: m.percent,
            })
            .collect(),
        first_purchase_bonus: p.bonuses.first_purchase,
        birthday_month_bonus: p.bonuses.birthday_month,
        converted_referral_bonus: p.bonuses.converted_referral,
        review_bonus: p.bonuses.review,
        expiry_months: p.expiry_months,
        tiers: p
            .tiers
            .iter()
            .map(|t| pb::LoyaltyTier {
                name: t.name.clone(),
                threshold: t.threshold,
                earn_percent: t.earn_percent,
            })
            .collect(),
        qualification_currency_code: match &p.qualification {
            Qualification::PointsEarned => String::new(),
            Qualification::NetSpend { currency } => currency.clone(),
        },
        window_days: p.window_days,
        grace_days: p.grace_days,
        point_values: rates_out(&p.point_values),
        version: i64::try_from(c.version).unwrap_or(i64::MAX),
        update_time: c.update_time.map(time_to_proto),
        etag: c.etag(),
    }
}

/// An account at an instant as a message.
pub fn account_to_proto(b: &Balance, as_of: DateTime<Utc>) -> pb::LoyaltyAccount {
    let (next_tier, to_next_tier) = b.next_tier.clone().unwrap_or_default();
    pb::LoyaltyAccount {
        customer_id: b.member.customer_id.to_string(),
        balance: b.balance,
        tier: b.tier.clone(),
        next_tier,
        to_next_tier,
        expiring_30d: b.expiring_30d,
        debt: b.member.account.debt,
        as_of: Some(time_to_proto(as_of)),
    }
}

/// A ledger entry kind from its contract value.
pub fn kind_from_proto(k: i32) -> Option<EntryKind> {
    use pb::LedgerEntryKind as K;
    Some(match K::try_from(k).ok()? {
        K::Unspecified => return None,
        K::LedgerEarn => EntryKind::Earn,
        K::LedgerRedeem => EntryKind::Redeem,
        K::LedgerExpire => EntryKind::Expire,
        K::LedgerAdjust => EntryKind::Adjust,
        K::LedgerReverse => EntryKind::Reverse,
    })
}

fn kind_to_proto(k: EntryKind) -> pb::LedgerEntryKind {
    use pb::LedgerEntryKind as K;
    match k {
        EntryKind::Earn => K::LedgerEarn,
        EntryKind::Redeem => K::LedgerRedeem,
        EntryKind::Expire => K::LedgerExpire,
        EntryKind::Adjust => K::LedgerAdjust,
        EntryKind::Reverse => K::LedgerReverse,
    }
}

/// A ledger entry as a message.
pub fn entry_to_proto(e: &LedgerEntry) -> pb::LedgerEntry {
    let source = match &e.source {
        Source::Purchase { order_ref, .. } => format!("purchase {order_ref}"),
        Source::Refund { order_ref, .. } => format!("refund {order_ref}"),
        Source::Bonus { reason } => format!("bonus {reason}"),
        Source::Reward { reward_id } => format!("reward {reward_id}"),
        Source::Points => "points".into(),
        Source::Manual { reason } => reason.clone(),
        Source::Expiry => "expiry".into(),
    };
    pb::LedgerEntry {
        number: i64::try_from(e.number).unwrap_or(i64::MAX),
        kind: kind_to_proto(e.kind) as i32,
        time: Some(time_to_proto(e.at)),
        points: e.points,
        expire_time: e.lot.map(|(_, t)| time_to_proto(t.0)),
        source,
        debt: e.debt,
    }
}

/// A reward from its message.
pub fn reward_from_proto(r: pb::Reward) -> Result<RewardData, Violations> {
    let pb::Reward {
        id: _,
        name,
        description,
        cost_points,
        stock,
        active_from,
        active_until,
        create_time: _,
        update_time: _,
        etag: _,
    } = r;
    let mut v = Violations::default();
    let mut time = |field: &str, t: Option<prost_types::Timestamp>| {
        t.and_then(|t| {
            let parsed = time_from_proto(&t);
            if parsed.is_none() {
                v.add(field, "is not a valid time");
            }
            parsed
        })
    };
    let data = RewardData {
        name,
        description,
        cost_points,
        stock,
        active_from: time("active_from", active_from),
        active_until: time("active_until", active_until),
    };
    v.into_result(data)
}

/// A reward as a message.
pub fn reward_to_proto(r: &Reward) -> pb::Reward {
    pb::Reward {
        id: r.id.to_string(),
        name: r.data.name.clone(),
        description: r.data.description.clone(),
        cost_points: r.data.cost_points,
        stock: r.data.stock,
        active_from: r.data.active_from.map(time_to_proto),
        active_until: r.data.active_until.map(time_to_proto),
        create_time: Some(time_to_proto(r.create_time)),
        update_time: Some(time_to_proto(r.update_time)),
        etag: reward_etag(r),
    }
}
