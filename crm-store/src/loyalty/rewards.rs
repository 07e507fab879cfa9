//! The reward catalog (`k id` -> a reward; `Mlast_reward`), and redeeming a reward: the points
//! and a unit of stock in one write.

use crm_core::CustomerId;
use crm_core::loyalty::reward::validate_reward;
use crm_core::loyalty::{EntryKind, Reward, RewardData, Source};

use super::family::Member;
use super::{Loyalty, insufficient};
use crate::error::{Precondition, Resource, Result, StoreError};
use crate::kv::codec::{self, Stored};
use crate::kv::family::{Family, Kept};
use crate::kv::keys::{self, LOYALTY_REWARD, META_LAST_REWARD};
use crate::write::Write;

impl Stored for Reward {}

/// The fields of a reward an update can name.
pub const REWARD_FIELDS: [&str; 6] = [
    "name",
    "description",
    "cost_points",
    "stock",
    "active_from",
    "active_until",
];

pub(crate) fn reward_key(id: u64) -> [u8; 9] {
    let mut k = [LOYALTY_REWARD; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The reward family: rewards imply nothing else.
#[derive(Debug)]
pub(crate) struct RewardFamily;

impl Family for RewardFamily {
    type Record = Reward;
    const NAME: &'static str = "loyalty reward";
    const PREFIX: &'static [u8] = &[LOYALTY_REWARD];

    fn key(r: &Reward) -> Vec<u8> {
        reward_key(r.id).to_vec()
    }

    fn keep(_: &Reward, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }
}

fn existing(w: &mut Write<'_>, id: u64) -> Result<Reward> {
    w.read(&reward_key(id), &|| format!("reward {id}"))?
        .ok_or(StoreError::NotFound(Resource::Reward(id)))
}

/// A reward's etag.
pub fn reward_etag(r: &Reward) -> String {
    format!("v{}", r.version)
}

impl Loyalty<'_> {
    /// Adds a reward to the catalog. Errors: [`StoreError::Invalid`].
    pub fn create_reward(&self, mut data: RewardData) -> Result<Reward> {
        validate_reward(&mut data).map_err(|v| v.prefixed("reward"))?;
        self.write(|w| {
            let id = w.count(META_LAST_REWARD)? + 1;
            w.put_raw(META_LAST_REWARD, id.to_be_bytes());
            let now = w.store.now();
            let reward = Reward {
                id,
                data: data.clone(),
                create_time: now,
                update_time: now,
                version: 1,
            };
            w.put_record::<RewardFamily>(None, Some(&reward))?;
            w.log_configuration("CreateReward", format!("reward {id}"), Vec::new())?;
            Ok(reward)
        })
    }

    /// A reward. Errors: [`StoreError::NotFound`].
    pub fn reward(&self, id: u64) -> Result<Reward> {
        match self.inner.engine.get(reward_key(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("reward {id}")),
            None => Err(StoreError::NotFound(Resource::Reward(id))),
        }
    }

    /// Every reward, in creation order.
    pub fn rewards(&self) -> Result<Vec<Reward>> {
        let mut out = Vec::new();
        for item in self.inner.engine.scan_prefix(&[LOYALTY_REWARD]) {
            let (key, value) = item?;
            out.push(codec::decode(&value, &|| keys::describe(&key))?);
        }
        Ok(out)
    }

    /// Changes the fields `mask` names (of [`REWARD_FIELDS`]); with `etag`, only at that
    /// version. Errors: [`StoreError::Invalid`], [`StoreError::NotFound`],
    /// [`StoreError::Aborted`].
    pub fn update_reward(
        &self,
        id: u64,
        data: RewardData,
        mask: &[String],
        etag: Option<&str>,
    ) -> Result<Reward> {
        crate::customers::check_mask(mask, &REWARD_FIELDS)?;
        self.write(|w| {
            let old = existing(w, id)?;
            crate::customers::check_etag(&reward_etag(&old), etag)?;
            let mut new = old.clone();
            for f in mask {
                let (d, n) = (&data, &mut new.data);
                match f.as_str() {
                    "name" => n.name = d.name.clone(),
                    "description" => n.description = d.description.clone(),
                    "cost_points" => n.cost_points = d.cost_points,
                    "stock" => n.stock = d.stock,
                    "active_from" => n.active_from = d.active_from,
                    _ => n.active_until = d.active_until,
                }
            }
            validate_reward(&mut new.data).map_err(|v| v.prefixed("reward"))?;
            if new.data == old.data {
                return Ok(old);
            }
            new.version += 1;
            new.update_time = w.store.now().max(old.update_time);
            w.put_record::<RewardFamily>(Some(&old), Some(&new))?;
            w.log_configuration("UpdateReward", format!("reward {id}"), mask.to_vec())?;
            Ok(new)
        })
    }

    /// Removes a reward from the catalog (redemptions made keep naming it).
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`].
    pub fn delete_reward(&self, id: u64, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let old = existing(w, id)?;
            crate::customers::check_etag(&reward_etag(&old), etag)?;
            w.put_record::<RewardFamily>(Some(&old), None)?;
            w.log_configuration("DeleteReward", format!("reward {id}"), Vec::new())
        })
    }

    /// Redeems a reward for a member: its cost in points (from the lots that expire first) and
    /// a unit of its stock, in one write.
    ///
    /// Errors: [`StoreError::NotFound`] (customer, reward), [`StoreError::FailedPrecondition`]
    /// (`INSUFFICIENT_POINTS`, `REWARD_OUT_OF_STOCK`, `REWARD_NOT_ACTIVE`).
    pub fn redeem_reward(&self, customer: CustomerId, reward: u64) -> Result<(Member, Reward)> {
        self.write(|w| {
            w.existing_customer(customer)?;
            let old = existing(w, reward)?;
            let now = w.store.now();
            if !old.data.active_at(now) {
                return Err(StoreError::FailedPrecondition(
                    Precondition::RewardUnavailable {
                        reason: "REWARD_NOT_ACTIVE",
                        message: format!(
                            "reward {reward} cannot be redeemed now (its active dates)"
                        ),
                    },
                ));
            }
            if old.data.stock == Some(0) {
                return Err(StoreError::FailedPrecondition(
                    Precondition::RewardUnavailable {
                        reason: "REWARD_OUT_OF_STOCK",
                        message: format!("reward {reward} is out of stock"),
                    },
                ));
            }
            let program = w.loyalty_program()?;
            let cost = old.data.cost_points;
            let member = w.post(customer, &program, now, |a| {
                a.redeem(
                    cost,
                    now,
                    EntryKind::Redeem,
                    Source::Reward { reward_id: reward },
                )
                .map(|e| vec![e])
                .map_err(insufficient)
            })?;
            let mut new = old.clone();
            if let Some(stock) = &mut new.data.stock {
                *stock -= 1;
                new.version += 1;
                new.update_time = now.max(old.update_time);
                w.put_record::<RewardFamily>(Some(&old), Some(&new))?;
            }
            Ok((member, new))
        })
    }
}
