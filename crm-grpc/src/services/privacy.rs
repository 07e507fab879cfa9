//! `crm.v1.PrivacyService`: consent records, the subject's export, erasure, retention.

use crm_core::Violations;
use crm_store::Store;
use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status};

use crate::convert::privacy::{
    plan_to_proto, record_from_proto, retention_from_proto, retention_to_proto,
};
use crate::convert::{customer_view, parse_id};
use crate::layer::Call;
use crate::pb;
use crate::pb::privacy_service_server::PrivacyService;
use crate::services::bulk::Answers;
use crate::services::common::{audited, blocking, non_empty};
use crate::status::{Fields, invalid};

/// The privacy service over a store.
#[derive(Clone, Debug)]
pub struct PrivacyApi {
    store: Store,
}

impl PrivacyApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        PrivacyApi { store }
    }

    fn as_caller<T>(&self, request: &Request<T>) -> Result<Store, Status> {
        let Call { caller, request_id } = Call::of(request)?;
        Ok(audited(&self.store, caller, request_id))
    }
}

#[tonic::async_trait]
impl PrivacyService for PrivacyApi {
    type ExportCustomerDataStream = Answers<pb::ExportCustomerDataResponse>;

    async fn record_consent(
        &self,
        request: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let sight = Call::sight_of(&request);
        let store = self.as_caller(&request)?;
        let pb::RecordConsentRequest {
            customer_id,
            record,
        } = request.into_inner();
        let mut v = Violations::default();
        let id = parse_id("customer_id", &customer_id)
            .map_err(|e| v.0.extend(e.0))
            .ok();
        let record = match record {
            None => {
                v.add("record", "is required");
                None
            }
            Some(r) => record_from_proto(r, store.now())
                .map_err(|e| v.0.extend(e.prefixed("record").0))
                .ok(),
        };
        let (id, record) = v.into_result((id, record)).map_err(invalid)?;
        let (Some(id), Some(mut record)) = (id, record) else {
            return Err(invalid(Violations::one("record", "is required")));
        };
        crm_core::privacy::validate_consent_record(&mut record, store.now())
            .map_err(|v| invalid(v.prefixed("record")))?;
        let view = blocking(store, Fields::Request, move |s| {
            let c = s.privacy().record_consent(id, record)?;
            Ok(customer_view(&c, &s.insights().insight(&c)?, sight))
        })
        .await?;
        Ok(Response::new(view))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<Self::ExportCustomerDataStream>, Status> {
        let store = self.as_caller(&request)?;
        let pb::ExportCustomerDataRequest { customer_id } = request.into_inner();
        let id = parse_id("customer_id", &customer_id).map_err(invalid)?;
        let items = blocking(store, Fields::Request, move |s| s.privacy().export(id)).await?;
        let answers = tokio_stream::iter(items).map(|item| {
            Ok(pb::ExportCustomerDataResponse {
                section: item.section.name().to_owned(),
                json: item.json.to_string(),
            })
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn erase_customer(
        &self,
        request: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let sight = Call::sight_of(&request);
        let store = self.as_caller(&request)?;
        let pb::EraseCustomerRequest {
            customer_id,
            reason,
        } = request.into_inner();
        let id = parse_id("customer_id", &customer_id).map_err(invalid)?;
        let view = blocking(store, Fields::Request, move |s| {
            let c = s.privacy().erase(id, &reason)?;
            Ok(customer_view(&c, &s.insights().insight(&c)?, sight))
        })
        .await?;
        Ok(Response::new(view))
    }

    async fn get_retention_policy(
        &self,
        request: Request<pb::GetRetentionPolicyRequest>,
    ) -> Result<Response<pb::RetentionPolicy>, Status> {
        let store = self.as_caller(&request)?;
        let policy = blocking(store, Fields::Request, |s| s.privacy().retention_policy()).await?;
        Ok(Response::new(retention_to_proto(&policy)))
    }

    async fn update_retention_policy(
        &self,
        request: Request<pb::UpdateRetentionPolicyRequest>,
    ) -> Result<Response<pb::RetentionPolicy>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateRetentionPolicyRequest { policy, etag } = request.into_inner();
        let Some(policy) = policy else {
            return Err(invalid(Violations::one("policy", "is required")));
        };
        let policy = retention_from_proto(policy);
        let etag = non_empty(etag);
        let stored = blocking(store, Fields::Request, move |s| {
            s.privacy().set_retention_policy(&policy, etag.as_deref())
        })
        .await?;
        Ok(Response::new(retention_to_proto(&stored)))
    }

    async fn plan_retention(
        &self,
        request: Request<pb::PlanRetentionRequest>,
    ) -> Result<Response<pb::RetentionPlan>, Status> {
        let store = self.as_caller(&request)?;
        let pb::PlanRetentionRequest { policy } = request.into_inner();
        let policy = policy.map(retention_from_proto);
        let plan = blocking(store, Fields::Request, move |s| {
            let version = s.privacy().retention_policy()?.version;
            let plan = s.privacy().retention_plan(policy.as_ref())?;
            Ok(plan_to_proto(
                &plan,
                if policy.is_some() { 0 } else { version },
            ))
        })
        .await?;
        Ok(Response::new(plan))
    }

    async fn apply_retention(
        &self,
        request: Request<pb::ApplyRetentionRequest>,
    ) -> Result<Response<pb::RetentionPlan>, Status> {
        let store = self.as_caller(&request)?;
        let run = blocking(store, Fields::Request, |s| s.privacy().apply_retention()).await?;
        Ok(Response::new(plan_to_proto(&run.done, run.policy_version)))
    }
}
