//! Loyalty: the program (a store-wide setting), each member's account and append-only ledger,
//! earnings in the purchase's own write, reversals in the refund's, redemptions that never
//! double-spend, and the tier and balance kept index-served as time passes.
//!
//! A purchase earns in its own transaction (a timeline hook), so a retried purchase (a known
//! order) earns once. Balances are exact at every instant without a write (expired lots are
//! left out when read); the sweep before a query materializes EXPIRE entries and re-evaluates
//! the tier of every member whose instant has come, as the derived index does.

pub(crate) mod family;
pub mod report;
pub mod rewards;
mod sweep;

use chrono::{DateTime, Datelike, Months, Utc};
use crm_core::loyalty::earn::{purchase_points, reversed_points};
use crm_core::loyalty::tier::{tier_at, tier_until};
use crm_core::loyalty::{Account, EntryKind, LedgerEntry, LoyaltyProgram, Qualification, Source};
use crm_core::{CustomerId, Event, TimelineEntry, Violations};

use crate::error::{Precondition, Result, StoreError};
use crate::kv::codec::{self, Stored};
use crate::kv::keys;
use crate::settings::{Configured, load, read};
use crate::timeline::Subject;
use crate::write::Write;
use family::{Member, MemberFamily, MemberState, StoredEntry};

pub use family::Member as LoyaltyMember;

crate::store::handle!(
    /// Loyalty: the program, members' points and tiers.
    Loyalty,
    loyalty
);

impl Stored for Configured<LoyaltyProgram> {}

/// Members evaluated per transaction by a sweep.
const SWEEP_CHUNK: usize = 500;

/// When points earned at `at` expire.
fn expiry(p: &LoyaltyProgram, at: DateTime<Utc>) -> DateTime<Utc> {
    at.checked_add_months(Months::new(p.expiry_months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A member's state at `now` under `p` (version `version`).
fn evaluate(a: &Account, p: &LoyaltyProgram, version: u64, now: DateTime<Utc>) -> MemberState {
    let tier = tier_at(a, p, now);
    let until = [a.next_expiry(now), tier_until(a, p, now)]
        .into_iter()
        .flatten()
        .min();
    MemberState {
        tier: p
            .tiers
            .get(tier)
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        balance: a.balance_at(now),
        program_version: version,
        until,
    }
}

impl Write<'_> {
    /// The loyalty program in force, as this write sees it (version 0: none; nothing earns).
    pub(crate) fn loyalty_program(&mut self) -> Result<Configured<LoyaltyProgram>> {
        read(self, keys::META_LOYALTY_PROGRAM)
    }

    fn member(&mut self, id: CustomerId) -> Result<Option<Member>> {
        self.read(&family::member_key(id), &|| {
            format!("loyalty account of {id}")
        })
    }

    /// Appends entries to a member's ledger (expiries due by `now` first), folds them into its
    /// account, evaluates its state at `now` and writes it with what it implies.
    fn post(
        &mut self,
        id: CustomerId,
        program: &Configured<LoyaltyProgram>,
        now: DateTime<Utc>,
        make: impl FnOnce(&Account) -> Result<Vec<LedgerEntry>>,
    ) -> Result<Member> {
        let old = self.member(id)?;
        let mut account = old.as_ref().map(|m| m.account.clone()).unwrap_or_default();
        let mut entries = account.expiries(now);
        for e in &entries {
            account.apply(e).map_err(corrupt(id))?;
        }
        let made = make(&account)?;
        for e in made {
            let mut e = e;
            e.number = account.entries + 1;
            account.apply(&e).map_err(corrupt(id))?;
            entries.push(e);
        }
        if old.is_none() && entries.is_empty() {
            // Nothing to write: a customer becomes a member with its first entry.
            return Ok(Member {
                customer_id: id,
                account,
                state: evaluate(&Account::default(), &program.value, program.version, now),
            });
        }
        for entry in entries {
            let stored = StoredEntry {
                customer_id: id,
                entry,
            };
            self.put_record::<family::EntryFamily>(None, Some(&stored))?;
        }
        let state = evaluate(&account, &program.value, program.version, now);
        let new = Member {
            customer_id: id,
            account,
            state,
        };
        self.put_record::<MemberFamily>(old.as_ref(), Some(&new))?;
        Ok(new)
    }
}

fn corrupt(id: CustomerId) -> impl Fn(crm_core::loyalty::ledger::Inconsistent) -> StoreError {
    move |e| StoreError::Corrupt {
        key: format!("loyalty account of {id}"),
        detail: e.to_string(),
    }
}

/// The timeline hook: a purchase earns, a refund reverses, a first purchase, a converted
/// referral and a review earn their bonuses, in the entry's own write.
pub(crate) fn on_timeline_entry(
    w: &mut Write<'_>,
    s: &Subject,
    entry: &TimelineEntry,
) -> Result<()> {
    if !matches!(
        entry.event,
        Event::Purchase(_)
            | Event::Refund(_)
            | Event::Converted { .. }
            | Event::ReferralConverted { .. }
            | Event::Review(_)
    ) {
        return Ok(());
    }
    let program = w.loyalty_program()?;
    if program.version == 0 {
        return Ok(());
    }
    let p = &program.value;
    let id = s.customer.id;
    let at = entry.occurred_at;
    let now = w.started.max(at);
    let bonus = |points: i64, reason: &'static str| {
        move |a: &Account| -> Result<Vec<LedgerEntry>> {
            let source = Source::Bonus {
                reason: reason.into(),
            };
            Ok(vec![a.earn(points, 0, at, expiry(p, at), source)])
        }
    };
    match &entry.event {
        Event::Purchase(purchase) => {
            w.post(id, &program, now, |a| {
                let tier = tier_at(a, p, at);
                let percent = p.tiers.get(tier).map_or(100, |t| t.earn_percent);
                let points = purchase_points(p, purchase, percent);
                let qualifying = match &p.qualification {
                    Qualification::PointsEarned => points,
                    Qualification::NetSpend { currency }
                        if *currency == purchase.amount.currency =>
                    {
                        purchase.amount.amount_minor
                    }
                    Qualification::NetSpend { .. } => 0,
                };
                if points == 0 && qualifying == 0 {
                    return Ok(Vec::new());
                }
                let source = Source::Purchase {
                    order_ref: purchase.order_ref.clone(),
                    currency: purchase.amount.currency.clone(),
                    amount_minor: purchase.amount.amount_minor,
                };
                Ok(vec![a.earn(points, qualifying, at, expiry(p, at), source)])
            })?;
            if p.bonuses.birthday_month > 0 && birthday_month(s, at) {
                let history = ledger(w, id)?;
                let year = at.year();
                let given = history.iter().any(|e| {
                    e.at.year() == year
                        && matches!(&e.source, Source::Bonus { reason } if reason == BIRTHDAY)
                });
                if !given {
                    w.post(id, &program, now, bonus(p.bonuses.birthday_month, BIRTHDAY))?;
                }
            }
        }
        Event::Refund(refund) => {
            let order_ref = refund.order_ref.clone();
            let refunded_total = order_refunded(w, id, &order_ref)?;
            let history = ledger(w, id)?;
            w.post(id, &program, now, |a| {
                reversal(a, &history, &order_ref, refunded_total, at)
            })?;
        }
        Event::Converted { .. } if p.bonuses.first_purchase > 0 => {
            w.post(
                id,
                &program,
                now,
                bonus(p.bonuses.first_purchase, "first purchase"),
            )?;
        }
        Event::ReferralConverted { .. } if p.bonuses.converted_referral > 0 => {
            let reason = "converted referral";
            w.post(
                id,
                &program,
                now,
                bonus(p.bonuses.converted_referral, reason),
            )?;
        }
        Event::Review(_) if p.bonuses.review > 0 => {
            w.post(id, &program, now, bonus(p.bonuses.review, "review"))?;
        }
        _ => {}
    }
    Ok(())
}

/// The bonus reason of the birthday-month bonus.
const BIRTHDAY: &str = "birthday month";

/// Whether `at` falls in the customer's birthday month.
fn birthday_month(s: &Subject, at: DateTime<Utc>) -> bool {
    match &s.customer.data.party {
        crm_core::Party::Person(p) => p.birth_date.is_some_and(|b| b.month() == at.month()),
        crm_core::Party::Organization(_) => false,
    }
}

/// What has been refunded of an order so far (this write's refund included).
fn order_refunded(w: &mut Write<'_>, id: CustomerId, order_ref: &str) -> Result<i64> {
    let key = keys::order(id, order_ref);
    match w.get(&key)? {
        Some(bytes) => Ok(crate::timeline::OrderState::from_bytes(&key, &bytes)?.refunded_minor),
        None => Ok(0),
    }
}

/// A member's ledger as this write sees it.
fn ledger(w: &mut Write<'_>, id: CustomerId) -> Result<Vec<LedgerEntry>> {
    let mut out = Vec::new();
    for (key, value) in w.scan_prefix(&family::entries_of(id))? {
        let e: StoredEntry = codec::decode(&value, &|| keys::describe(&key))?;
        out.push(e.entry);
    }
    Ok(out)
}

/// The reversal a refund makes: the purchase earned `P` on an amount `A`; with `R` refunded in
/// all, `ceil(P × R / A)` points are to be reversed in all; this entry reverses what earlier
/// refunds of the order did not. The tier measure loses the same share.
fn reversal(
    a: &Account,
    history: &[LedgerEntry],
    order_ref: &str,
    refunded_total: i64,
    at: DateTime<Utc>,
) -> Result<Vec<LedgerEntry>> {
    let earn = history.iter().find(|e| {
        e.kind == EntryKind::Earn
            && matches!(&e.source, Source::Purchase { order_ref: o, .. } if o == order_ref)
    });
    let Some(earn) = earn else {
        return Ok(Vec::new());
    };
    let Source::Purchase { amount_minor, .. } = earn.source else {
        return Ok(Vec::new());
    };
    let refunds = |e: &&LedgerEntry| {
        e.kind == EntryKind::Reverse
            && matches!(&e.source, Source::Refund { order_ref: o, .. } if o == order_ref)
    };
    let (done_points, done_qualifying) = history
        .iter()
        .filter(refunds)
        .fold((0, 0), |(p, q), e| (p - e.points, q - e.qualifying));
    let points = reversed_points(earn.points, amount_minor, refunded_total) - done_points;
    let qualifying =
        reversed_points(earn.qualifying, amount_minor, refunded_total) - done_qualifying;
    if points <= 0 && qualifying <= 0 {
        return Ok(Vec::new());
    }
    let source = Source::Refund {
        order_ref: order_ref.to_owned(),
        amount_minor: refunded_total,
    };
    Ok(vec![a.reverse(
        earn.number,
        points.max(0),
        qualifying.max(0),
        at,
        source,
    )])
}

/// Adds (positive) or takes (negative) points within `w`: see [`Loyalty::adjust_points`].
pub(crate) fn adjust_in(
    w: &mut Write<'_>,
    id: CustomerId,
    points: i64,
    reason: &str,
) -> Result<Member> {
    w.existing_customer(id)?;
    let program = w.loyalty_program()?;
    let now = w.store.now();
    let source = Source::Manual {
        reason: reason.to_owned(),
    };
    let expires = expiry(&program.value, now);
    w.post(id, &program, now, |a| {
        if points > 0 {
            let mut e = a.earn(points, 0, now, expires, source);
            e.kind = EntryKind::Adjust;
            Ok(vec![e])
        } else {
            a.redeem(-points, now, EntryKind::Adjust, source)
                .map(|e| vec![e])
                .map_err(insufficient)
        }
    })
}

/// Removes a deleted customer's account and ledger.
pub(crate) fn forget_customer(w: &mut Write<'_>, id: CustomerId) -> Result<()> {
    for (key, value) in w.scan_prefix(&family::entries_of(id))? {
        let e: StoredEntry = codec::decode(&value, &|| keys::describe(&key))?;
        w.put_record::<family::EntryFamily>(Some(&e), None)?;
    }
    if let Some(old) = w.member(id)? {
        w.put_record::<MemberFamily>(Some(&old), None)?;
    }
    Ok(())
}

/// What a member holds at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    /// The member's account (the fold of its ledger).
    pub member: Member,
    /// The balance at the instant.
    pub balance: i64,
    /// The tier's name at the instant.
    pub tier: String,
    /// Points expiring within 30 days of the instant.
    pub expiring_30d: i64,
    /// The next tier's name and the measure it still needs.
    pub next_tier: Option<(String, i64)>,
}

impl Loyalty<'_> {
    /// The loyalty program in force (version 0: none, and nothing earns).
    pub fn program(&self) -> Result<Configured<LoyaltyProgram>> {
        load(self, keys::META_LOYALTY_PROGRAM)
    }

    /// Replaces the program; with `etag`, only if it is still that version. Members' tiers
    /// follow it from the next query.
    ///
    /// Errors: [`StoreError::Invalid`] (a negative rate, overlapping tiers...),
    /// [`StoreError::Aborted`].
    pub fn update_program(
        &self,
        mut program: LoyaltyProgram,
        etag: Option<&str>,
    ) -> Result<Configured<LoyaltyProgram>> {
        program.validate().map_err(|v| v.prefixed("program"))?;
        self.write(|w| {
            w.replace_setting(
                keys::META_LOYALTY_PROGRAM,
                &program,
                etag,
                "UpdateLoyaltyProgram",
                "loyalty program",
            )
        })
    }

    /// A member's balance and tier at `at` (default now; not before its last entry).
    ///
    /// Errors: [`StoreError::NotFound`] (the customer).
    pub fn balance(&self, id: CustomerId, at: Option<DateTime<Utc>>) -> Result<Balance> {
        let program = self.program()?;
        let p = &program.value;
        let member = match self.inner.engine.get(family::member_key(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("loyalty account of {id}"))?,
            None => {
                self.customers().get(id)?;
                Member {
                    customer_id: id,
                    account: Account::default(),
                    state: MemberState::default(),
                }
            }
        };
        let t = at.unwrap_or_else(|| self.now());
        let a = &member.account;
        let tier = tier_at(a, p, t);
        let next_tier = crm_core::loyalty::tier::progress(a, p, t)
            .and_then(|(i, missing)| p.tiers.get(i).map(|n| (n.name.clone(), missing)));
        Ok(Balance {
            balance: a.balance_at(t),
            tier: p
                .tiers
                .get(tier)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            expiring_30d: a.expiring(t, chrono::Duration::days(30)),
            next_tier,
            member,
        })
    }

    /// A customer's standing at `now` (no tier and no points for one who is not a member), as
    /// filters read it.
    pub fn standing(
        &self,
        id: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<crm_core::loyalty::Standing> {
        let Some(bytes) = self.inner.engine.get(family::member_key(id))? else {
            // Not a member: no tier, no points (as the tier index says).
            return Ok(crm_core::loyalty::Standing::default());
        };
        let account =
            codec::decode::<Member>(&bytes, &|| format!("loyalty account of {id}"))?.account;
        let program = self.program()?;
        let p = &program.value;
        Ok(crm_core::loyalty::Standing {
            tier: p
                .tiers
                .get(tier_at(&account, p, now))
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            points: account.balance_at(now),
            expiring_30d: account.expiring(now, chrono::Duration::days(30)),
        })
    }

    /// A member's ledger, in order.
    pub fn entries(&self, id: CustomerId) -> Result<Vec<LedgerEntry>> {
        let mut out = Vec::new();
        for item in self.inner.engine.scan_prefix(&family::entries_of(id)) {
            let (key, value) = item?;
            let e: StoredEntry = codec::decode(&value, &|| keys::describe(&key))?;
            out.push(e.entry);
        }
        Ok(out)
    }

    /// One page of a member's ledger, in order, of `kinds` (empty: all), `page_size` at a time
    /// (0: 50; at most 1000): the entries and the next page's token.
    ///
    /// Errors: [`StoreError::NotFound`] (the customer), [`StoreError::Invalid`] (a page token
    /// of another listing).
    pub fn list_entries(
        &self,
        id: CustomerId,
        kinds: &[EntryKind],
        page_size: usize,
        page_token: &str,
    ) -> Result<(Vec<LedgerEntry>, String)> {
        self.customers().get(id)?;
        let prefix = family::entries_of(id);
        let query = format!("{id} {kinds:?}");
        let listing = crate::kv::token::Listing::LoyaltyEntries;
        let start = match self.open_token(page_token, listing, &query, &prefix)? {
            None => std::ops::Bound::Included(prefix.to_vec()),
            Some(after) => std::ops::Bound::Excluded(after),
        };
        let size = crate::customers::list::page_size(page_size);
        let end = crate::customers::list::prefix_end(&prefix);
        let (mut out, mut next) = (Vec::new(), String::new());
        let mut last: Option<Vec<u8>> = None;
        for item in self.inner.engine.scan(start, end, false) {
            let (key, value) = item?;
            if out.len() == size {
                if let Some(last) = &last {
                    next = self.inner.tokens.seal(listing, &query, last);
                }
                break;
            }
            last = Some(key.to_vec());
            let e: StoredEntry = codec::decode(&value, &|| keys::describe(&key))?;
            if kinds.is_empty() || kinds.contains(&e.entry.kind) {
                out.push(e.entry);
            }
        }
        Ok((out, next))
    }

    /// Spends `points` (from the lots that expire first); `kind` REDEEM or a negative ADJUST.
    ///
    /// Errors: [`StoreError::Invalid`] (not positive), [`StoreError::NotFound`],
    /// [`StoreError::FailedPrecondition`] (`INSUFFICIENT_POINTS`).
    pub fn redeem_points(&self, id: CustomerId, points: i64, source: Source) -> Result<Member> {
        if points <= 0 {
            return Err(Violations::one("points", "must be positive").into());
        }
        self.write(|w| {
            w.existing_customer(id)?;
            let program = w.loyalty_program()?;
            let now = w.store.now();
            let source = source.clone();
            w.post(id, &program, now, |a| {
                a.redeem(points, now, EntryKind::Redeem, source)
                    .map(|e| vec![e])
                    .map_err(insufficient)
            })
        })
    }

    /// Adds (positive) or takes (negative) points by hand, with a reason.
    ///
    /// Errors: [`StoreError::Invalid`] (zero, no reason), [`StoreError::NotFound`],
    /// [`StoreError::FailedPrecondition`] (`INSUFFICIENT_POINTS` for a deduction).
    pub fn adjust_points(&self, id: CustomerId, points: i64, reason: &str) -> Result<Member> {
        let mut reason = reason.to_owned();
        let mut v = Violations::default();
        crm_core::validate::check_text(&mut v, "reason", &mut reason, 200);
        if reason.is_empty() {
            v.add("reason", "is required: say why the points change");
        }
        if points == 0 {
            v.add("points", "must not be zero");
        }
        v.into_result(())?;
        self.write(|w| adjust_in(w, id, points, &reason))
    }
}

pub(crate) fn insufficient(short: crm_core::loyalty::Short) -> StoreError {
    StoreError::FailedPrecondition(Precondition::InsufficientPoints {
        balance: short.balance,
        asked: short.asked,
    })
}
