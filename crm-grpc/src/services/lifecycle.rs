//! `crm.v1.LifecycleService`: manual stage moves, losses, lead qualification, and the
//! lead-scoring model.

use crm_core::{LifecycleStage, Violations};
use crm_store::Store;
use tonic::{Request, Response, Status};

use crate::convert::{customer_view, model_from_proto, model_to_proto};
use crate::convert::{parse_id, stage_from_proto};
use crate::layer::Call;
use crate::pb;
use crate::pb::lifecycle_service_server::LifecycleService;
use crate::services::common::blocking;
use crate::services::common::{audited, entry_meta, point_read, respond};
use crate::status::{Fields, invalid};

/// The lifecycle service over a store.
#[derive(Clone, Debug)]
pub struct LifecycleApi {
    store: Store,
}

impl LifecycleApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        LifecycleApi { store }
    }
}

#[tonic::async_trait]
impl LifecycleService for LifecycleApi {
    async fn change_lifecycle_stage(
        &self,
        request: Request<pb::ChangeLifecycleStageRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let sight = Call::sight_of(&request);
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::ChangeLifecycleStageRequest {
            customer_id,
            lifecycle_stage,
            reason,
            etag,
        } = request.into_inner();
        let mut v = Violations::default();
        let id = parse_id("customer_id", &customer_id)
            .map_err(|e| v.0.extend(e.0))
            .ok();
        let stage: Option<LifecycleStage> = match pb::LifecycleStage::try_from(lifecycle_stage) {
            Ok(pb::LifecycleStage::Unspecified) | Err(_) => {
                v.add("lifecycle_stage", "set a stage (AWARENESS ... ADVOCACY)");
                None
            }
            Ok(s) => Some(stage_from_proto(s)),
        };
        let (Some(id), Some(stage)) = v.into_result((id, stage)).map_err(invalid)? else {
            return Err(invalid(Violations::one("customer_id", "is required")));
        };
        let store = audited(&self.store, caller, header_id);
        let (customer, insight) = blocking(store, Fields::Request, move |s| {
            let etag = Some(etag.as_str()).filter(|e| !e.trim().is_empty());
            let c = s.timeline().change_stage(id, stage, &reason, etag)?;
            let i = s.insights().insight(&c)?;
            Ok((c, i))
        })
        .await?;
        Ok(Response::new(customer_view(&customer, &insight, sight)))
    }

    async fn mark_lost(
        &self,
        request: Request<pb::MarkLostRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        let sight = Call::sight_of(&request);
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::MarkLostRequest {
            customer_id,
            reason,
            occurred_at,
            request_id,
        } = request.into_inner();
        let mut v = Violations::default();
        let (id, meta) = entry_meta(&mut v, &customer_id, occurred_at, String::new(), request_id);
        v.into_result(()).map_err(invalid)?;
        let store = audited(&self.store, caller, meta.request_id.clone().or(header_id));
        let recorded = blocking(store.clone(), Fields::Request, move |s| {
            s.timeline().mark_lost(id, &reason, meta)
        })
        .await?;
        respond(store, recorded, sight).await
    }

    async fn qualify_lead(
        &self,
        request: Request<pb::QualifyLeadRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        let sight = Call::sight_of(&request);
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::QualifyLeadRequest {
            customer_id,
            qualified,
            reason,
            request_id,
        } = request.into_inner();
        let mut v = Violations::default();
        let (id, meta) = entry_meta(&mut v, &customer_id, None, String::new(), request_id);
        v.into_result(()).map_err(invalid)?;
        let store = audited(&self.store, caller, meta.request_id.clone().or(header_id));
        let recorded = blocking(store.clone(), Fields::Request, move |s| {
            s.timeline().qualify_lead(id, qualified, &reason, meta)
        })
        .await?;
        respond(store, recorded, sight).await
    }

    async fn get_scoring_model(
        &self,
        _request: Request<pb::GetScoringModelRequest>,
    ) -> Result<Response<pb::ScoringModel>, Status> {
        let model = point_read(&self.store, Fields::Request, |s| {
            Ok(s.insights().scoring_model())
        })
        .await?;
        Ok(Response::new(model_to_proto(&model)))
    }

    async fn update_scoring_model(
        &self,
        request: Request<pb::UpdateScoringModelRequest>,
    ) -> Result<Response<pb::ScoringModel>, Status> {
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::UpdateScoringModelRequest { model, etag } = request.into_inner();
        let Some(model) = model else {
            return Err(invalid(Violations::one("model", "is required")));
        };
        let model = model_from_proto(model).map_err(|v| invalid(v.prefixed("model")))?;
        let store = audited(&self.store, caller, header_id);
        let model = blocking(store, Fields::Request, move |s| {
            let etag = Some(etag.as_str()).filter(|e| !e.trim().is_empty());
            s.insights()
                .replace_scoring_model(model, etag)
                .map_err(|e| match e {
                    crm_store::StoreError::Invalid(v) => v.prefixed("model").into(),
                    other => other,
                })
        })
        .await?;
        Ok(Response::new(model_to_proto(&model)))
    }
}
