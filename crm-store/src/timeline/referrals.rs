//! Converted referrals, whatever order their facts arrive in.
//!
//! A referral by X of R converts when both facts hold: X referred R, and R bought. So X's
//! converted referral of R (a `ReferralConverted` entry on X's timeline, which makes X an
//! advocate and moves it to ADVOCACY) is at the later of X's earliest referral of R and R's
//! first purchase, never at the time either fact happened to be recorded. Three writes settle
//! it:
//! - a referral of a customer who already bought;
//! - a purchase that is the referred customer's first, or earlier than its first so far (a
//!   backdated order): each referrer's conversion moves to the new time if that is earlier.
//!
//! Each `F referred referrer entry` key keeps, as its value, the referral's time and (once it
//! converted) the conversion's time, so settling finds the entry to replace without reading the
//! referrer's whole timeline. (Keys written before these values existed have an empty value;
//! for them the referrer's timeline is read.)

use chrono::{DateTime, Utc};
use crm_core::{CustomerId, Event, TimelineEntry};

use crate::error::Result;
use crate::kv::{codec, keys};
use crate::timeline::Subject;
use crate::write::Write;

fn micros(bytes: Option<&[u8]>) -> Option<DateTime<Utc>> {
    let raw: [u8; 8] = bytes?.try_into().ok()?;
    DateTime::from_timestamp_micros(i64::from_be_bytes(raw)).filter(|t| t.timestamp_micros() != 0)
}

/// The value of an `F` key: the referral's time, and the conversion's if there is one.
pub(crate) fn referral_value(at: DateTime<Utc>, converted: Option<DateTime<Utc>>) -> Vec<u8> {
    let mut v = at.timestamp_micros().to_be_bytes().to_vec();
    if let Some(c) = converted {
        v.extend_from_slice(&c.timestamp_micros().to_be_bytes());
    }
    v
}

/// The referrer's entries (with their keys), read in full: for keys without times.
fn all_entries(w: &mut Write<'_>, referrer: CustomerId) -> Result<Vec<(Vec<u8>, TimelineEntry)>> {
    let mut out = Vec::new();
    for (key, value) in w.scan_prefix(&keys::of_customer(keys::TIMELINE, referrer))? {
        let entry: TimelineEntry = codec::decode(&value, &|| keys::describe(&key))?;
        out.push((key, entry));
    }
    Ok(out)
}

/// Settles X's (`s`) converted referral of `referred`, whose first purchase is `first`.
pub(crate) fn settle(
    w: &mut Write<'_>,
    s: &mut Subject,
    referred: CustomerId,
    first: DateTime<Utc>,
) -> Result<()> {
    let referrer = s.customer.id;
    let prefix = [
        &keys::of_customer(keys::REFERRAL, referred)[..],
        &referrer.0.to_be_bytes(),
    ]
    .concat();
    let referrals = w.scan_prefix(&prefix)?;
    if referrals.is_empty() {
        return Ok(());
    }
    let mut everything = None;
    let mut referred_at: Option<DateTime<Utc>> = None;
    let mut converted_at: Option<DateTime<Utc>> = None;
    let mut untimed = false;
    for (key, value) in &referrals {
        match micros(value.get(..8)) {
            Some(at) => referred_at = Some(referred_at.map_or(at, |r| r.min(at))),
            None => {
                // Written before referral keys kept their time: find the referral entry.
                untimed = true;
                let entry_id = key
                    .get(17..25)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes);
                let entries = match &everything {
                    Some(e) => e,
                    None => everything.insert(all_entries(w, referrer)?),
                };
                if let Some((_, e)) = entries.iter().find(|(_, e)| Some(e.id.0) == entry_id) {
                    referred_at = Some(referred_at.map_or(e.occurred_at, |r| r.min(e.occurred_at)));
                }
            }
        }
        if let Some(c) = micros(value.get(8..16)) {
            converted_at = Some(converted_at.map_or(c, |x| x.min(c)));
        }
    }
    let Some(referred_at) = referred_at else {
        return Ok(());
    };
    let want = referred_at.max(first);
    // The conversion entries already on the referrer's timeline.
    let existing: Vec<(Vec<u8>, DateTime<Utc>)> = if untimed || converted_at.is_none() {
        let entries = match everything {
            Some(e) => e,
            None if untimed => all_entries(w, referrer)?,
            None => Vec::new(),
        };
        entries
            .into_iter()
            .filter(|(_, e)| matches!(e.event, Event::ReferralConverted { referred: r } if r == referred))
            .map(|(k, e)| (k, e.occurred_at))
            .collect()
    } else {
        let at = converted_at.unwrap_or(want);
        let mut found = Vec::new();
        let low = keys::timeline_from(referrer, at);
        let high = keys::timeline_from(referrer, at + chrono::Duration::microseconds(1));
        for (key, value) in w.scan(
            std::ops::Bound::Included(low),
            std::ops::Bound::Excluded(high),
            false,
            usize::MAX,
        )? {
            let entry: TimelineEntry = codec::decode(&value, &|| keys::describe(&key))?;
            if matches!(entry.event, Event::ReferralConverted { referred: r } if r == referred) {
                found.push((key, entry.occurred_at));
            }
        }
        found
    };
    match existing.iter().map(|(_, at)| *at).min() {
        // Already where both facts hold, or earlier (only data written before this rule).
        Some(at) if at <= want => return Ok(()),
        _ => {}
    }
    // Later than both facts: the conversion moves to when they first both held. (A later entry
    // never set the advocate-since time alone: the new one is earlier.)
    for (key, _) in &existing {
        w.delete_raw(key);
    }
    w.append(s, want, "crm", Event::ReferralConverted { referred })?;
    for (key, value) in referrals {
        let at = micros(value.get(..8)).unwrap_or(referred_at);
        w.put_raw(key, referral_value(at, Some(want)));
    }
    crate::timeline::record::advocacy(w, s, want)
}
