//! `crm.v1.AutomationService`: rules, their firings, dry runs.

use crm_core::Violations;
use crm_core::tasks::RuleId;
use crm_store::Store;
use tonic::{Request, Response, Status};

use crate::convert::automation::{
    dry_run_to_proto, firing_to_proto, rule_from_proto, rule_to_proto,
};
use crate::convert::deals::hex_id;
use crate::layer::Call;
use crate::pb;
use crate::pb::automation_service_server::AutomationService;
use crate::services::common::{audited, blocking, non_empty, page_size};
use crate::status::{Fields, invalid};

/// The automation service over a store.
#[derive(Clone, Debug)]
pub struct AutomationApi {
    store: Store,
}

impl AutomationApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        AutomationApi { store }
    }

    fn as_caller<T>(&self, request: &Request<T>) -> Result<Store, Status> {
        let Call { caller, request_id } = Call::of(request)?;
        Ok(audited(&self.store, caller, request_id))
    }
}

fn id_of(field: &str, text: &str) -> Result<RuleId, Status> {
    hex_id(field, text).map_err(invalid)
}

fn rule_in(rule: Option<pb::Rule>) -> Result<crm_core::automation::RuleData, Status> {
    let Some(rule) = rule else {
        return Err(invalid(Violations::one("rule", "is required")));
    };
    rule_from_proto(rule).map_err(|v| invalid(v.prefixed("rule")))
}

#[tonic::async_trait]
impl AutomationService for AutomationApi {
    async fn create_rule(
        &self,
        request: Request<pb::CreateRuleRequest>,
    ) -> Result<Response<pb::Rule>, Status> {
        let store = self.as_caller(&request)?;
        let pb::CreateRuleRequest { rule, request_id } = request.into_inner();
        let data = rule_in(rule)?;
        let rid = non_empty(request_id);
        let r = blocking(store, Fields::Request, move |s| {
            s.automation().create_rule(data, rid.as_deref())
        })
        .await?;
        Ok(Response::new(rule_to_proto(&r)))
    }

    async fn get_rule(
        &self,
        request: Request<pb::GetRuleRequest>,
    ) -> Result<Response<pb::Rule>, Status> {
        let id = id_of("id", &request.into_inner().id)?;
        let r = blocking(self.store.clone(), Fields::Request, move |s| {
            s.automation().get_rule(id)
        })
        .await?;
        Ok(Response::new(rule_to_proto(&r)))
    }

    async fn list_rules(
        &self,
        _request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        let rules = blocking(self.store.clone(), Fields::Request, |s| {
            s.automation().list_rules()
        })
        .await?;
        Ok(Response::new(pb::ListRulesResponse {
            rules: rules.iter().map(rule_to_proto).collect(),
        }))
    }

    async fn update_rule(
        &self,
        request: Request<pb::UpdateRuleRequest>,
    ) -> Result<Response<pb::Rule>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateRuleRequest { rule, etag } = request.into_inner();
        let id = id_of("rule.id", rule.as_ref().map_or("", |r| r.id.as_str()))?;
        let etag =
            non_empty(etag).or_else(|| rule.as_ref().and_then(|r| non_empty(r.etag.clone())));
        let data = rule_in(rule)?;
        let r = blocking(store, Fields::Request, move |s| {
            s.automation().update_rule(id, data, etag.as_deref())
        })
        .await?;
        Ok(Response::new(rule_to_proto(&r)))
    }

    async fn delete_rule(
        &self,
        request: Request<pb::DeleteRuleRequest>,
    ) -> Result<Response<pb::DeleteRuleResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::DeleteRuleRequest { id, etag } = request.into_inner();
        let id = id_of("id", &id)?;
        let etag = non_empty(etag);
        blocking(store, Fields::Request, move |s| {
            s.automation().delete_rule(id, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeleteRuleResponse {}))
    }

    async fn list_rule_firings(
        &self,
        request: Request<pb::ListRuleFiringsRequest>,
    ) -> Result<Response<pb::ListRuleFiringsResponse>, Status> {
        let pb::ListRuleFiringsRequest {
            rule_id,
            page_size: size,
            page_token,
        } = request.into_inner();
        let id = id_of("rule_id", &rule_id)?;
        let size = page_size(size)?;
        let (firings, next) = blocking(self.store.clone(), Fields::Request, move |s| {
            let page = s.automation().firings_page(id, size, &page_token)?;
            if page.0.is_empty() {
                // No firings: the rule must exist for the answer to mean "none yet".
                s.automation().get_rule(id)?;
            }
            Ok(page)
        })
        .await?;
        Ok(Response::new(pb::ListRuleFiringsResponse {
            firings: firings.iter().map(firing_to_proto).collect(),
            next_page_token: next,
        }))
    }

    async fn dry_run_rule(
        &self,
        request: Request<pb::DryRunRuleRequest>,
    ) -> Result<Response<pb::DryRunRuleResponse>, Status> {
        let pb::DryRunRuleRequest { rule, days } = request.into_inner();
        let data = rule_in(rule)?;
        let Ok(days) = u32::try_from(days) else {
            return Err(invalid(Violations::one("days", "must be within 1 and 365")));
        };
        let out = blocking(self.store.clone(), Fields::Request, move |s| {
            s.automation().dry_run(data, days)
        })
        .await?;
        Ok(Response::new(dry_run_to_proto(&out)))
    }
}
