//! `crm.v1.LoyaltyService`: the program, members' points, the reward catalog.

use crm_core::Violations;
use crm_core::loyalty::Source;
use crm_store::Store;
use crm_store::loyalty::Balance;
use tonic::{Request, Response, Status};

use crate::convert::loyalty::{
    account_to_proto, entry_to_proto, kind_from_proto, program_from_proto, program_to_proto,
    reward_from_proto, reward_to_proto,
};
use crate::convert::parse_id;
use crate::layer::Call;
use crate::pb;
use crate::pb::loyalty_service_server::LoyaltyService;
use crate::services::common::{audited, blocking, enums_in, non_empty, page_size, time_in};
use crate::status::{Fields, invalid};

/// The loyalty service over a store.
#[derive(Clone, Debug)]
pub struct LoyaltyApi {
    store: Store,
}

impl LoyaltyApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        LoyaltyApi { store }
    }

    fn as_caller<T>(&self, request: &Request<T>) -> Result<Store, Status> {
        let Call { caller, request_id } = Call::of(request)?;
        Ok(audited(&self.store, caller, request_id))
    }
}

fn reward_id(field: &str, text: &str) -> Result<u64, Status> {
    text.trim().parse().map_err(|_| {
        invalid(Violations::one(
            field,
            format!("{text:?} is not a reward id (a decimal number)"),
        ))
    })
}

fn customer(field: &str, text: &str) -> Result<crm_core::CustomerId, Status> {
    parse_id(field, text).map_err(invalid)
}

/// The member's account now, after a write.
fn account_now(
    s: &Store,
    id: crm_core::CustomerId,
) -> Result<pb::LoyaltyAccount, crm_store::StoreError> {
    let now = s.now();
    let b: Balance = s.loyalty().balance(id, Some(now))?;
    Ok(account_to_proto(&b, now))
}

#[tonic::async_trait]
impl LoyaltyService for LoyaltyApi {
    async fn get_loyalty_program(
        &self,
        _request: Request<pb::GetLoyaltyProgramRequest>,
    ) -> Result<Response<pb::LoyaltyProgram>, Status> {
        let p = blocking(self.store.clone(), Fields::Request, |s| {
            s.loyalty().program()
        })
        .await?;
        Ok(Response::new(program_to_proto(&p)))
    }

    async fn update_loyalty_program(
        &self,
        request: Request<pb::UpdateLoyaltyProgramRequest>,
    ) -> Result<Response<pb::LoyaltyProgram>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateLoyaltyProgramRequest { program, etag } = request.into_inner();
        let Some(program) = program else {
            return Err(invalid(Violations::one("program", "is required")));
        };
        let program = program_from_proto(program);
        let etag = non_empty(etag);
        let p = blocking(store, Fields::Request, move |s| {
            s.loyalty().update_program(program, etag.as_deref())
        })
        .await?;
        Ok(Response::new(program_to_proto(&p)))
    }

    async fn get_loyalty_account(
        &self,
        request: Request<pb::GetLoyaltyAccountRequest>,
    ) -> Result<Response<pb::LoyaltyAccount>, Status> {
        let pb::GetLoyaltyAccountRequest { customer_id, as_of } = request.into_inner();
        let id = customer("customer_id", &customer_id)?;
        let mut v = Violations::default();
        let as_of = time_in(&mut v, "as_of", as_of);
        v.into_result(()).map_err(invalid)?;
        let account = blocking(self.store.clone(), Fields::Request, move |s| {
            let t = as_of.unwrap_or_else(|| s.now());
            let b = s.loyalty().balance(id, Some(t))?;
            Ok(account_to_proto(&b, t))
        })
        .await?;
        Ok(Response::new(account))
    }

    async fn list_loyalty_entries(
        &self,
        request: Request<pb::ListLoyaltyEntriesRequest>,
    ) -> Result<Response<pb::ListLoyaltyEntriesResponse>, Status> {
        let pb::ListLoyaltyEntriesRequest {
            customer_id,
            kinds,
            page_size: size,
            page_token,
        } = request.into_inner();
        let mut v = Violations::default();
        let id = parse_id("customer_id", &customer_id)
            .map_err(|e| v.0.extend(e.0))
            .ok();
        let wanted = enums_in(
            &mut v,
            "kinds",
            kinds,
            kind_from_proto,
            "a ledger entry kind",
        );
        v.into_result(()).map_err(invalid)?;
        let size = page_size(size)?;
        let id = id.ok_or_else(|| invalid(Violations::one("customer_id", "is required")))?;
        let (entries, next) = blocking(self.store.clone(), Fields::Request, move |s| {
            s.loyalty().list_entries(id, &wanted, size, &page_token)
        })
        .await?;
        Ok(Response::new(pb::ListLoyaltyEntriesResponse {
            entries: entries.iter().map(entry_to_proto).collect(),
            next_page_token: next,
        }))
    }

    async fn redeem_points(
        &self,
        request: Request<pb::RedeemPointsRequest>,
    ) -> Result<Response<pb::LoyaltyAccount>, Status> {
        let store = self.as_caller(&request)?;
        let pb::RedeemPointsRequest {
            customer_id,
            points,
        } = request.into_inner();
        let id = customer("customer_id", &customer_id)?;
        let account = blocking(store, Fields::Request, move |s| {
            s.loyalty().redeem_points(id, points, Source::Points)?;
            account_now(s, id)
        })
        .await?;
        Ok(Response::new(account))
    }

    async fn redeem_reward(
        &self,
        request: Request<pb::RedeemRewardRequest>,
    ) -> Result<Response<pb::RedeemRewardResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::RedeemRewardRequest {
            customer_id,
            reward_id: reward,
        } = request.into_inner();
        let id = customer("customer_id", &customer_id)?;
        let reward = reward_id("reward_id", &reward)?;
        let (account, reward) = blocking(store, Fields::Request, move |s| {
            let (_, reward) = s.loyalty().redeem_reward(id, reward)?;
            Ok((account_now(s, id)?, reward))
        })
        .await?;
        Ok(Response::new(pb::RedeemRewardResponse {
            account: Some(account),
            reward: Some(reward_to_proto(&reward)),
        }))
    }

    async fn adjust_points(
        &self,
        request: Request<pb::AdjustPointsRequest>,
    ) -> Result<Response<pb::LoyaltyAccount>, Status> {
        let store = self.as_caller(&request)?;
        let pb::AdjustPointsRequest {
            customer_id,
            points,
            reason,
        } = request.into_inner();
        let id = customer("customer_id", &customer_id)?;
        let account = blocking(store, Fields::Request, move |s| {
            s.loyalty().adjust_points(id, points, &reason)?;
            account_now(s, id)
        })
        .await?;
        Ok(Response::new(account))
    }

    async fn create_reward(
        &self,
        request: Request<pb::CreateRewardRequest>,
    ) -> Result<Response<pb::Reward>, Status> {
        let store = self.as_caller(&request)?;
        let Some(reward) = request.into_inner().reward else {
            return Err(invalid(Violations::one("reward", "is required")));
        };
        let data = reward_from_proto(reward).map_err(|v| invalid(v.prefixed("reward")))?;
        let created = blocking(store, Fields::Request, move |s| {
            s.loyalty().create_reward(data)
        })
        .await?;
        Ok(Response::new(reward_to_proto(&created)))
    }

    async fn get_reward(
        &self,
        request: Request<pb::GetRewardRequest>,
    ) -> Result<Response<pb::Reward>, Status> {
        let id = reward_id("id", &request.into_inner().id)?;
        let r = blocking(self.store.clone(), Fields::Request, move |s| {
            s.loyalty().reward(id)
        })
        .await?;
        Ok(Response::new(reward_to_proto(&r)))
    }

    async fn list_rewards(
        &self,
        _request: Request<pb::ListRewardsRequest>,
    ) -> Result<Response<pb::ListRewardsResponse>, Status> {
        let rewards = blocking(self.store.clone(), Fields::Request, |s| {
            s.loyalty().rewards()
        })
        .await?;
        Ok(Response::new(pb::ListRewardsResponse {
            rewards: rewards.iter().map(reward_to_proto).collect(),
        }))
    }

    async fn update_reward(
        &self,
        request: Request<pb::UpdateRewardRequest>,
    ) -> Result<Response<pb::Reward>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateRewardRequest {
            reward,
            update_mask,
            etag,
        } = request.into_inner();
        let Some(reward) = reward else {
            return Err(invalid(Violations::one("reward", "is required")));
        };
        let id = reward_id("reward.id", &reward.id)?;
        let etag = non_empty(etag).or_else(|| non_empty(reward.etag.clone()));
        let mask = update_mask.map(|m| m.paths).unwrap_or_default();
        let data = reward_from_proto(reward).map_err(|v| invalid(v.prefixed("reward")))?;
        let r = blocking(store, Fields::Request, move |s| {
            s.loyalty().update_reward(id, data, &mask, etag.as_deref())
        })
        .await?;
        Ok(Response::new(reward_to_proto(&r)))
    }

    async fn get_loyalty_report(
        &self,
        request: Request<pb::GetLoyaltyReportRequest>,
    ) -> Result<Response<pb::LoyaltyReport>, Status> {
        let pb::GetLoyaltyReportRequest {
            as_of,
            period_start,
        } = request.into_inner();
        let mut v = Violations::default();
        let as_of = time_in(&mut v, "as_of", as_of);
        let start = time_in(&mut v, "period_start", period_start);
        v.into_result(()).map_err(invalid)?;
        let r = blocking(self.store.clone(), Fields::Request, move |s| {
            let to = as_of.unwrap_or_else(|| s.now());
            let from = start.unwrap_or(to - chrono::Duration::days(365));
            s.loyalty().report(from, to)
        })
        .await?;
        let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        Ok(Response::new(pb::LoyaltyReport {
            members: n(r.members),
            by_tier: r
                .by_tier
                .iter()
                .map(|(tier, count)| pb::TierCount {
                    tier: tier.clone(),
                    members: n(*count),
                })
                .collect(),
            points_issued: r.issued,
            points_redeemed: r.redeemed,
            points_expired: r.expired,
            points_reversed: r.reversed,
            points_outstanding: r.outstanding,
            liability: r
                .liability
                .iter()
                .map(|(c, m)| pb::LiabilityAmount {
                    currency_code: c.clone(),
                    amount_minor: *m,
                })
                .collect(),
            redemption_rate_percent: r.redemption_rate_percent(),
            member_repeat_purchase_percent: r.member_repeat_percent(),
            non_member_repeat_purchase_percent: r.other_repeat_percent(),
        }))
    }

    async fn delete_reward(
        &self,
        request: Request<pb::DeleteRewardRequest>,
    ) -> Result<Response<pb::DeleteRewardResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::DeleteRewardRequest { id, etag } = request.into_inner();
        let rid = reward_id("id", &id)?;
        let etag = non_empty(etag);
        blocking(store, Fields::Request, move |s| {
            s.loyalty().delete_reward(rid, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeleteRewardResponse {
            id: rid.to_string(),
        }))
    }
}
