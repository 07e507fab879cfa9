//! `crm.v1.DealService`: pipelines, deals, and the forecast.

use crm_core::Violations;
use crm_core::deals::{Deal, DealId, ForecastQuery, PipelineId};
use crm_store::Store;
use crm_store::deals::DealQuery;
use tonic::{Request, Response, Status};

use crate::convert::deals::{
    date_in, deal_from_proto, deal_id, deal_to_proto, forecast_to_proto, hex_id,
    pipeline_from_proto, pipeline_to_proto,
};
use crate::layer::Call;
use crate::pb;
use crate::pb::deal_service_server::DealService;
use crate::services::common::{audited, blocking, non_empty, page_size, time_in};
use crate::status::{Fields, invalid};

/// The deal service over a store.
#[derive(Clone, Debug)]
pub struct DealApi {
    store: Store,
}

impl DealApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        DealApi { store }
    }

    fn as_caller<T>(&self, request: &Request<T>) -> Result<Store, Status> {
        let Call { caller, request_id } = Call::of(request)?;
        Ok(audited(&self.store, caller, request_id))
    }
}

fn pipeline_id(field: &str, text: &str) -> Result<PipelineId, Status> {
    hex_id(field, text).map_err(invalid)
}

fn id_of(field: &str, text: &str) -> Result<DealId, Status> {
    deal_id(field, text).map_err(invalid)
}

fn one(store: &Store, d: &Deal) -> Response<pb::Deal> {
    Response::new(deal_to_proto(d, store.now()))
}

#[tonic::async_trait]
impl DealService for DealApi {
    async fn create_pipeline(
        &self,
        request: Request<pb::CreatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let store = self.as_caller(&request)?;
        let pb::CreatePipelineRequest {
            pipeline,
            request_id,
        } = request.into_inner();
        let Some(pipeline) = pipeline else {
            return Err(invalid(Violations::one("pipeline", "is required")));
        };
        let data = pipeline_from_proto(pipeline).map_err(|v| invalid(v.prefixed("pipeline")))?;
        let rid = non_empty(request_id);
        let p = blocking(store, Fields::Request, move |s| {
            s.deals().create_pipeline(data, rid.as_deref())
        })
        .await?;
        Ok(Response::new(pipeline_to_proto(&p)))
    }

    async fn get_pipeline(
        &self,
        request: Request<pb::GetPipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let id = pipeline_id("id", &request.into_inner().id)?;
        let p = blocking(self.store.clone(), Fields::Request, move |s| {
            s.deals().get_pipeline(id)
        })
        .await?;
        Ok(Response::new(pipeline_to_proto(&p)))
    }

    async fn list_pipelines(
        &self,
        _request: Request<pb::ListPipelinesRequest>,
    ) -> Result<Response<pb::ListPipelinesResponse>, Status> {
        let all = blocking(self.store.clone(), Fields::Request, |s| {
            s.deals().list_pipelines()
        })
        .await?;
        Ok(Response::new(pb::ListPipelinesResponse {
            pipelines: all.iter().map(pipeline_to_proto).collect(),
        }))
    }

    async fn update_pipeline(
        &self,
        request: Request<pb::UpdatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdatePipelineRequest { pipeline, etag } = request.into_inner();
        let Some(pipeline) = pipeline else {
            return Err(invalid(Violations::one("pipeline", "is required")));
        };
        let id = pipeline_id("pipeline.id", &pipeline.id)?;
        let etag = non_empty(etag).or_else(|| non_empty(pipeline.etag.clone()));
        let data = pipeline_from_proto(pipeline).map_err(|v| invalid(v.prefixed("pipeline")))?;
        let p = blocking(store, Fields::Request, move |s| {
            s.deals().update_pipeline(id, data, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pipeline_to_proto(&p)))
    }

    async fn delete_pipeline(
        &self,
        request: Request<pb::DeletePipelineRequest>,
    ) -> Result<Response<pb::DeletePipelineResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::DeletePipelineRequest { id, etag } = request.into_inner();
        let id = pipeline_id("id", &id)?;
        let etag = non_empty(etag);
        blocking(store, Fields::Request, move |s| {
            s.deals().delete_pipeline(id, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeletePipelineResponse {}))
    }

    async fn create_deal(
        &self,
        request: Request<pb::CreateDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let store = self.as_caller(&request)?;
        let pb::CreateDealRequest { deal, request_id } = request.into_inner();
        let Some(deal) = deal else {
            return Err(invalid(Violations::one("deal", "is required")));
        };
        let data = deal_from_proto(deal, None).map_err(|v| invalid(v.prefixed("deal")))?;
        let rid = non_empty(request_id);
        let d = blocking(store.clone(), Fields::Request, move |s| {
            s.deals().create_deal(data, rid.as_deref())
        })
        .await?;
        Ok(one(&store, &d))
    }

    async fn get_deal(
        &self,
        request: Request<pb::GetDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let id = id_of("id", &request.into_inner().id)?;
        let d = blocking(self.store.clone(), Fields::Request, move |s| {
            s.deals().get_deal(id)
        })
        .await?;
        Ok(one(&self.store, &d))
    }

    async fn list_deals(
        &self,
        request: Request<pb::ListDealsRequest>,
    ) -> Result<Response<pb::ListDealsResponse>, Status> {
        let pb::ListDealsRequest {
            filter,
            page_size: size,
            page_token,
        } = request.into_inner();
        let query = DealQuery {
            filter,
            page_size: page_size(size)?,
            page_token,
        };
        let page = blocking(self.store.clone(), Fields::Request, move |s| {
            s.deals().list_deals(&query)
        })
        .await?;
        Ok(Response::new(pb::ListDealsResponse {
            deals: page
                .deals
                .iter()
                .map(|d| deal_to_proto(d, page.as_of))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_deal(
        &self,
        request: Request<pb::UpdateDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateDealRequest {
            deal,
            update_mask,
            etag,
        } = request.into_inner();
        let Some(deal) = deal else {
            return Err(invalid(Violations::one("deal", "is required")));
        };
        let id = id_of("deal.id", &deal.id)?;
        let etag = non_empty(etag).or_else(|| non_empty(deal.etag.clone()));
        let mask = update_mask.map(|m| m.paths).unwrap_or_default();
        let data = deal_from_proto(deal, Some(&mask)).map_err(|v| invalid(v.prefixed("deal")))?;
        let d = blocking(store.clone(), Fields::Request, move |s| {
            s.deals().update_deal(id, data, &mask, etag.as_deref())
        })
        .await?;
        Ok(one(&store, &d))
    }

    async fn delete_deal(
        &self,
        request: Request<pb::DeleteDealRequest>,
    ) -> Result<Response<pb::DeleteDealResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::DeleteDealRequest { id, etag } = request.into_inner();
        let id = id_of("id", &id)?;
        let etag = non_empty(etag);
        blocking(store, Fields::Request, move |s| {
            s.deals().delete_deal(id, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeleteDealResponse {}))
    }

    async fn move_deal(
        &self,
        request: Request<pb::MoveDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let store = self.as_caller(&request)?;
        let pb::MoveDealRequest { id, stage, etag } = request.into_inner();
        let id = id_of("id", &id)?;
        if stage.trim().is_empty() {
            return Err(invalid(Violations::one("stage", "is required")));
        }
        let etag = non_empty(etag);
        let d = blocking(store.clone(), Fields::Request, move |s| {
            s.deals().move_deal(id, &stage, etag.as_deref())
        })
        .await?;
        Ok(one(&store, &d))
    }

    async fn close_deal(
        &self,
        request: Request<pb::CloseDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let store = self.as_caller(&request)?;
        let pb::CloseDealRequest {
            id,
            won,
            reason,
            record_purchase,
            etag,
        } = request.into_inner();
        let id = id_of("id", &id)?;
        let etag = non_empty(etag);
        let d = blocking(store.clone(), Fields::Request, move |s| {
            s.deals()
                .close_deal(id, won, &reason, record_purchase, etag.as_deref())
        })
        .await?;
        Ok(one(&store, &d))
    }

    async fn reopen_deal(
        &self,
        request: Request<pb::ReopenDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let store = self.as_caller(&request)?;
        let pb::ReopenDealRequest { id, stage, etag } = request.into_inner();
        let id = id_of("id", &id)?;
        if stage.trim().is_empty() {
            return Err(invalid(Violations::one("stage", "is required")));
        }
        let etag = non_empty(etag);
        let d = blocking(store.clone(), Fields::Request, move |s| {
            s.deals().reopen_deal(id, &stage, etag.as_deref())
        })
        .await?;
        Ok(one(&store, &d))
    }

    async fn get_forecast(
        &self,
        request: Request<pb::GetForecastRequest>,
    ) -> Result<Response<pb::Forecast>, Status> {
        let pb::GetForecastRequest {
            period_start,
            period_end,
            owner,
            pipeline_id: pipeline,
            as_of,
        } = request.into_inner();
        let mut v = Violations::default();
        let start = date_in(&mut v, "period_start", &period_start);
        let end = date_in(&mut v, "period_end", &period_end);
        let as_of = time_in(&mut v, "as_of", as_of);
        let pipeline = match non_empty(pipeline) {
            Some(p) => hex_id::<PipelineId>("pipeline_id", &p)
                .map_err(|e| v.0.extend(e.0))
                .ok(),
            None => None,
        };
        v.into_result(()).map_err(invalid)?;
        let as_of = as_of.unwrap_or_else(|| self.store.now());
        let query = ForecastQuery {
            start,
            end,
            owner: non_empty(owner),
            pipeline,
            as_of,
        };
        let f = blocking(self.store.clone(), Fields::Request, move |s| {
            s.deals().forecast(&query)
        })
        .await?;
        Ok(Response::new(forecast_to_proto(&f, as_of)))
    }
}
