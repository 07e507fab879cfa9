//! Recording what happens to a customer, and the lifecycle calls: each is one atomic write of
//! the entries, the summary, any automatic stage move (with its stage-change entry and the
//! updated record), and a change-log and audit event.
//!
//! | call | also does |
//! |---|---|
//! | [`Store::record_interaction`] | a promoter signal moves to ADVOCACY; a referral of a customer who already bought is a converted referral, at the later of the two facts ([`crate::timeline::referrals`]) |
//! | [`Store::record_purchase`] | the first converts the lead; the earliest so far credits whoever referred it (at the later of the referral and the purchase); PURCHASE, RETENTION, LOYALTY moves |
//! | [`Store::record_refund`] | lowers the totals; never more than the purchase |
//! | [`Store::change_lifecycle_stage`] | forward freely, backward with a reason |
//! | [`Store::mark_lost`], [`Store::qualify_lead`] | entries that the status and lead state follow |

use chrono::{DateTime, Utc};
use crm_core::lifecycle::{MoveError, check_manual_move};
use crm_core::summary::has_dense_window;
use crm_core::timeline::{
    Interaction, Purchase, Qualification, Refund, check_occurred_at, validate_interaction,
    validate_purchase, validate_reason, validate_refund,
};
use crm_core::validate::{MAX_ID_CHARS, check_text};
use crm_core::{Customer, CustomerId, Event, LifecycleStage, TimelineEntry, Violations};

use crate::Store;
use crate::customers::check_request_id;
use crate::error::{Precondition, Resource, Result, StoreError};
use crate::kv::keys;
use crate::timeline::Timeline;
use crate::timeline::{OrderState, Subject};
use crate::write::Write;

/// Who and when, for a recorded entry.
#[derive(Clone, Debug, Default)]
pub struct EntryMeta {
    /// When it happened; default: now. At most 5 minutes ahead of the store's clock.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Who did it on the business's side; default: the handle's actor.
    pub actor: Option<String>,
    /// Makes the call idempotent (AIP-155): a repeat returns the first call's entry.
    pub request_id: Option<String>,
}

/// What a recording call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The entry recorded (or the first one, for a repeat).
    pub entry: TimelineEntry,
    /// The customer afterwards (its stage may have moved).
    pub customer: Customer,
    /// Whether this repeated an earlier call (same order or request id): nothing was written.
    pub duplicate: bool,
}

/// Checked `EntryMeta`: the time and actor to write.
pub(crate) struct Meta {
    pub(crate) at: DateTime<Utc>,
    pub(crate) actor: String,
    pub(crate) request_id: Option<String>,
}

impl Store {
    fn meta(&self, meta: EntryMeta, v: &mut Violations) -> Meta {
        let now = self.now();
        let at = meta.occurred_at.map_or(now, crm_core::validate::to_micros);
        check_occurred_at(v, "occurred_at", at, now);
        let mut actor = meta.actor.unwrap_or_default();
        check_text(v, "actor", &mut actor, MAX_ID_CHARS);
        if actor.is_empty() {
            actor = self.origin().actor.clone();
        }
        let request_id = meta.request_id.filter(|r| !r.trim().is_empty());
        if let Some(rid) = &request_id {
            check_request_id(v, rid);
        }
        Meta {
            at,
            actor,
            request_id,
        }
    }

    /// The checked meta of a write whose entity was validated as `entity` (its violations
    /// named under `prefix`, none when empty): every violation of both, or the meta.
    pub(crate) fn checked(
        &self,
        entity: std::result::Result<(), Violations>,
        prefix: &str,
        meta: EntryMeta,
    ) -> Result<Meta> {
        let mut v = match entity {
            Ok(()) => Violations::default(),
            Err(e) if prefix.is_empty() => e,
            Err(e) => e.prefixed(prefix),
        };
        let m = self.meta(meta, &mut v);
        v.into_result(m).map_err(Into::into)
    }

    /// One timeline write in a write of its own: see [`record_in`].
    fn record(
        &self,
        id: CustomerId,
        m: &Meta,
        operation: &str,
        mut body: impl FnMut(&mut Write<'_>, &mut Subject) -> Result<Outcome>,
    ) -> Result<Recorded> {
        self.write(|w| record_in(w, id, m, operation, &mut body))
    }
}

/// One timeline write: a repeated request id returns the first entry; otherwise `body`
/// appends to the customer's timeline (or finds the write is a repeat), then the request id is
/// remembered and the customer's record, summary and change log are written.
pub(crate) fn record_in(
    w: &mut Write<'_>,
    id: CustomerId,
    m: &Meta,
    operation: &str,
    body: &mut dyn FnMut(&mut Write<'_>, &mut Subject) -> Result<Outcome>,
) -> Result<Recorded> {
    if let Some(first) = replay(w, id, m.request_id.as_deref())? {
        return Ok(first);
    }
    let mut s = w.subject(id)?;
    crate::privacy::check_not_erased(&s.customer)?;
    match body(w, &mut s)? {
        Outcome::Repeat(entry) => Ok(Recorded {
            entry,
            customer: s.customer,
            duplicate: true,
        }),
        Outcome::New(entry) => {
            remember(w, m.request_id.as_deref(), &entry);
            let customer = w.finish(s, operation)?;
            Ok(Recorded {
                entry,
                customer,
                duplicate: false,
            })
        }
    }
}

/// A repeat of a request id already used for a timeline write: the first call's entry.
fn replay(w: &mut Write<'_>, id: CustomerId, rid: Option<&str>) -> Result<Option<Recorded>> {
    let Some(rid) = rid else { return Ok(None) };
    let Some(key) = w.get(keys::entry_request(rid))? else {
        return Ok(None);
    };
    let reused = |message: String| {
        StoreError::FailedPrecondition(Precondition::RequestIdReused {
            request_id: rid.to_owned(),
            message,
        })
    };
    let entry = w.entry(&key).map_err(|_| {
        reused(format!(
            "request_id {rid:?} was used for an entry that has since been deleted"
        ))
    })?;
    if entry.customer_id != id {
        return Err(reused(format!(
            "request_id {rid:?} was used for customer {}",
            entry.customer_id
        )));
    }
    Ok(Some(Recorded {
        entry,
        customer: w.existing_customer(id)?,
        duplicate: true,
    }))
}

/// What a timeline write's body did.
pub(crate) enum Outcome {
    /// Appended this entry.
    New(TimelineEntry),
    /// Found the write already done (a known order): this is the first entry.
    Repeat(TimelineEntry),
}

/// Keeps the request id of a timeline write, pointing at its entry.
fn remember(w: &mut Write<'_>, request_id: Option<&str>, entry: &TimelineEntry) {
    if let Some(rid) = request_id {
        w.put_raw(
            keys::entry_request(rid),
            keys::timeline(entry.customer_id, entry.occurred_at, entry.id),
        );
    }
}

/// An advocate moves to ADVOCACY.
pub(crate) fn advocacy(w: &mut Write<'_>, s: &mut Subject, at: DateTime<Utc>) -> Result<()> {
    if s.summary.advocate_since.is_some() {
        w.move_forward(
            s,
            Some((
                LifecycleStage::Advocacy,
                "a converted referral or a promoter signal",
            )),
            at,
        )?;
    }
    Ok(())
}

/// The customer's first purchase is now `first` (its first, or earlier than its first so far):
/// everyone who referred it has a converted referral where both facts hold
/// ([`crate::timeline::referrals`]).
fn credit_referrers(w: &mut Write<'_>, referred: CustomerId, first: DateTime<Utc>) -> Result<()> {
    let mut referrers = std::collections::BTreeSet::new();
    for (key, _) in w.scan_prefix(&keys::of_customer(keys::REFERRAL, referred))? {
        referrers.extend(keys::referrer_of(&key));
    }
    for referrer in referrers {
        if w.customer(referrer)?.is_none() {
            continue;
        }
        let mut s = w.subject(referrer)?;
        crate::timeline::referrals::settle(w, &mut s, referred, first)?;
        w.finish(s, "RecordPurchase")?;
    }
    Ok(())
}

/// Removes the customer's `Converted` entry at `at` (its first purchase until now).
fn drop_conversion(w: &mut Write<'_>, id: CustomerId, at: DateTime<Utc>) -> Result<()> {
    let low = keys::timeline_from(id, at);
    let high = keys::timeline_from(id, at + chrono::Duration::microseconds(1));
    let here = w.scan(
        std::ops::Bound::Included(low),
        std::ops::Bound::Excluded(high),
        false,
        usize::MAX,
    )?;
    for (key, value) in here {
        let entry: TimelineEntry = crate::kv::codec::decode(&value, &|| keys::describe(&key))?;
        if matches!(entry.event, Event::Converted { .. }) {
            w.delete_raw(&key);
        }
    }
    Ok(())
}

/// The times of the customer's purchases within `window` of `at` either side, the one this write
/// just recorded at `at` included (the write reads its own keys).
fn purchases_near(
    w: &mut Write<'_>,
    id: CustomerId,
    at: DateTime<Utc>,
    window: chrono::Duration,
) -> Result<Vec<DateTime<Utc>>> {
    let low = keys::purchase_time_from(id, at - window);
    let high = keys::purchase_time_from(id, at + window);
    let mut times = Vec::new();
    let near = w.scan(
        std::ops::Bound::Included(low),
        std::ops::Bound::Included(high),
        false,
        usize::MAX,
    )?;
    for (key, _) in near {
        times.extend(keys::purchase_time_of(&key));
    }
    Ok(times)
}

impl Timeline<'_> {
    /// Records a contact with a customer.
    ///
    /// Errors: [`StoreError::Invalid`] (every bad field; a referral of an unknown customer or of
    /// the customer itself), [`StoreError::NotFound`].
    pub fn record_interaction(
        &self,
        id: CustomerId,
        mut interaction: Interaction,
        meta: EntryMeta,
    ) -> Result<Recorded> {
        let m = self.checked(validate_interaction(&mut interaction), "interaction", meta)?;
        self.write(|w| interaction_in(w, id, &interaction, &m, "RecordInteraction"))
    }

    /// Records a purchase. Recording an `order_ref` the customer already has returns the first
    /// entry and counts nothing twice.
    ///
    /// The first purchase converts the lead (a `Converted` entry; whoever referred the customer
    /// gets a converted referral) and moves the stage to PURCHASE; a repeat moves it to
    /// RETENTION; enough purchases within the loyalty window to LOYALTY.
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`].
    pub fn record_purchase(
        &self,
        id: CustomerId,
        mut purchase: Purchase,
        meta: EntryMeta,
    ) -> Result<Recorded> {
        let m = self.checked(validate_purchase(&mut purchase), "purchase", meta)?;
        self.write(|w| purchase_in(w, id, &purchase, &m, "RecordPurchase"))
    }

    /// Records a refund of (part of) a purchase: in its currency, at most what is left of it,
    /// not before it.
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`] (customer or purchase),
    /// [`StoreError::FailedPrecondition`] (more than is left to refund).
    pub fn record_refund(
        &self,
        id: CustomerId,
        mut refund: Refund,
        meta: EntryMeta,
    ) -> Result<Recorded> {
        let m = self.checked(validate_refund(&mut refund), "refund", meta)?;
        self.write(|w| refund_in(w, id, &refund, &m, "RecordRefund"))
    }

    /// Moves a customer's lifecycle stage by hand: forward freely, backward only with a reason.
    /// With `etag`, only if the customer is still at that version.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`],
    /// [`StoreError::FailedPrecondition`] (backward without a reason).
    pub fn change_stage(
        &self,
        id: CustomerId,
        to: LifecycleStage,
        reason: &str,
        etag: Option<&str>,
    ) -> Result<Customer> {
        let mut reason = reason.to_owned();
        validate_reason(&mut reason, false)?;
        let now = self.now();
        self.write(|w| {
            let mut s = w.subject(id)?;
            crate::customers::check_etag(&s.customer.etag(), etag)?;
            check_manual_move(s.customer.data.lifecycle_stage, to, Some(&reason)).map_err(|e| {
                match e {
                    MoveError::BackwardWithoutReason { from, to } => {
                        StoreError::FailedPrecondition(Precondition::BackwardStageMove {
                            from,
                            to,
                            message: format!("{e}: give a reason"),
                        })
                    }
                }
            })?;
            if s.customer.data.lifecycle_stage == to {
                return Ok(s.customer);
            }
            let actor = self.origin().actor.clone();
            w.move_stage(&mut s, to, &reason, false, &actor, now)?;
            w.finish(s, "ChangeLifecycleStage")
        })
    }

    /// Marks a customer lost (churned), with the reason (`switched to a competitor`). A later
    /// purchase wins them back.
    ///
    /// Errors: [`StoreError::Invalid`] (no reason), [`StoreError::NotFound`].
    pub fn mark_lost(&self, id: CustomerId, reason: &str, meta: EntryMeta) -> Result<Recorded> {
        let mut reason = reason.to_owned();
        let m = self.checked(validate_reason(&mut reason, true), "", meta)?;
        self.record(id, &m, "MarkLost", |w, s| {
            Ok(Outcome::New(w.append(
                s,
                m.at,
                &m.actor,
                Event::Lost {
                    reason: reason.clone(),
                },
            )?))
        })
    }

    /// Records sales' verdict on a lead: qualified (sales-ready) or disqualified (which needs a
    /// reason).
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`].
    pub fn qualify_lead(
        &self,
        id: CustomerId,
        qualified: bool,
        reason: &str,
        meta: EntryMeta,
    ) -> Result<Recorded> {
        let mut reason = reason.to_owned();
        let m = self.checked(validate_reason(&mut reason, !qualified), "", meta)?;
        let verdict = Event::Qualification(Qualification { qualified, reason });
        self.record(id, &m, "QualifyLead", |w, s| {
            Ok(Outcome::New(w.append(
                s,
                m.at,
                &m.actor,
                verdict.clone(),
            )?))
        })
    }
}

/// Records a contact within `w`: see [`Timeline::record_interaction`].
pub(crate) fn interaction_in(
    w: &mut Write<'_>,
    id: CustomerId,
    interaction: &Interaction,
    m: &Meta,
    operation: &str,
) -> Result<Recorded> {
    record_in(w, id, m, operation, &mut |w, s| {
        let referred = interaction.referred_customer_id;
        let referred_first = match referred {
            Some(r) if r == id => {
                return Err(Violations::one(
                    "interaction.referred_customer_id",
                    "a customer cannot refer itself",
                )
                .into());
            }
            Some(r) => {
                if w.customer(r)?.is_none() {
                    return Err(Violations::one(
                        "interaction.referred_customer_id",
                        "no customer has this id",
                    )
                    .into());
                }
                w.summary(r)?.first_purchase
            }
            None => None,
        };
        let entry = w.append(s, m.at, &m.actor, Event::Interaction(interaction.clone()))?;
        if let (Some(first), Some(r)) = (referred_first, referred) {
            crate::timeline::referrals::settle(w, s, r, first)?;
        }
        advocacy(w, s, m.at)?;
        Ok(Outcome::New(entry))
    })
}

/// Records a purchase within `w`: see [`Timeline::record_purchase`].
pub(crate) fn purchase_in(
    w: &mut Write<'_>,
    id: CustomerId,
    purchase: &Purchase,
    m: &Meta,
    operation: &str,
) -> Result<Recorded> {
    let rules = w.store.inner.config.rules;
    record_in(w, id, m, operation, &mut |w, s| {
        let order_key = keys::order(id, &purchase.order_ref);
        if let Some(bytes) = w.get(&order_key)? {
            let first = OrderState::from_bytes(&order_key, &bytes)?;
            let key = keys::timeline(id, first.occurred_at, first.entry);
            return Ok(Outcome::Repeat(w.entry(&key)?));
        }
        let first_before = s.summary.first_purchase;
        let earliest = first_before.is_none_or(|f| m.at < f);
        let order_ref = purchase.order_ref.clone();
        let entry = w.append(s, m.at, &m.actor, Event::Purchase(purchase.clone()))?;
        if earliest {
            // The lead converted with its first purchase, whenever that was recorded: a
            // backdated order earlier than the first so far moves the conversion to it.
            if let Some(before) = first_before {
                drop_conversion(w, id, before)?;
            }
            w.append(s, m.at, "crm", Event::Converted { order_ref })?;
            credit_referrers(w, id, m.at)?;
        }
        // Fewer purchases than the loyalty rule counts cannot fill a window: skip the scan.
        let dense = usize::try_from(s.summary.purchase_count)
            .is_ok_and(|n| n >= rules.loyalty_purchases)
            && has_dense_window(
                &purchases_near(w, id, m.at, rules.loyalty_window)?,
                rules.loyalty_purchases,
                rules.loyalty_window,
            );
        let target = rules.automatic_stage(&s.summary, dense);
        w.move_forward(s, target, m.at)?;
        Ok(Outcome::New(entry))
    })
}

/// Records a refund within `w`: see [`Timeline::record_refund`].
pub(crate) fn refund_in(
    w: &mut Write<'_>,
    id: CustomerId,
    refund: &Refund,
    m: &Meta,
    operation: &str,
) -> Result<Recorded> {
    record_in(w, id, m, operation, &mut |w, s| {
        let order_key = keys::order(id, &refund.order_ref);
        let Some(bytes) = w.get(&order_key)? else {
            return Err(StoreError::NotFound(Resource::Purchase {
                customer: id,
                order_ref: refund.order_ref.clone(),
            }));
        };
        let mut order = OrderState::from_bytes(&order_key, &bytes)?;
        let key = keys::timeline(id, order.occurred_at, order.entry);
        let Event::Purchase(purchase) = w.entry(&key)?.event else {
            return Err(StoreError::Corrupt {
                key: keys::describe(&order_key),
                detail: "an order key points to an entry that is not a purchase".into(),
            });
        };
        let mut v = Violations::default();
        if refund.amount.currency != purchase.amount.currency {
            v.add(
                "refund.amount.currency_code",
                format!(
                    "must be the purchase's currency, {}",
                    purchase.amount.currency
                ),
            );
        }
        if m.at < order.occurred_at {
            v.add("occurred_at", "is before the purchase it refunds");
        }
        v.into_result(())?;
        let left = purchase
            .amount
            .amount_minor
            .saturating_sub(order.refunded_minor);
        if refund.amount.amount_minor > left {
            return Err(StoreError::FailedPrecondition(
                Precondition::RefundExceedsPurchase {
                    order_ref: refund.order_ref.clone(),
                    left,
                    currency: purchase.amount.currency.clone(),
                    asked: refund.amount.amount_minor,
                },
            ));
        }
        order.refunded_minor += refund.amount.amount_minor;
        w.put_raw(&order_key, order.to_bytes());
        Ok(Outcome::New(w.append(
            s,
            m.at,
            &m.actor,
            Event::Refund(refund.clone()),
        )?))
    })
}
