//! `crm.v1.TimelineService`: record interactions, purchases and refunds; list timelines.

use crm_core::Violations;
use crm_core::timeline::{Interaction, Purchase, Refund};
use crm_store::{Store, TimelineQuery};
use tonic::{Request, Response, Status};

use crate::convert::parse_id;
use crate::convert::{
    entry_kind_from_proto, entry_to_proto, interaction_from_proto, purchase_from_proto,
    refund_from_proto,
};
use crate::pb;
use crate::pb::timeline_service_server::TimelineService;
use crate::record_request;
use crate::services::common::{blocking, enums_in, page_size_in, record, time_in};
use crate::status::{Fields, invalid};

/// The timeline service over a store.
#[derive(Clone, Debug)]
pub struct TimelineApi {
    store: Store,
}

impl TimelineApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        TimelineApi { store }
    }
}

record_request!(
    pb::RecordInteractionRequest,
    interaction,
    Interaction,
    interaction_from_proto
);
record_request!(
    pb::RecordPurchaseRequest,
    purchase,
    Purchase,
    purchase_from_proto
);
record_request!(pb::RecordRefundRequest, refund, Refund, refund_from_proto);

#[tonic::async_trait]
impl TimelineService for TimelineApi {
    async fn record_interaction(
        &self,
        request: Request<pb::RecordInteractionRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        record(&self.store, request, |s, id, interaction, meta| {
            s.timeline().record_interaction(id, interaction, meta)
        })
        .await
    }

    async fn record_purchase(
        &self,
        request: Request<pb::RecordPurchaseRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        record(&self.store, request, |s, id, purchase, meta| {
            s.timeline().record_purchase(id, purchase, meta)
        })
        .await
    }

    async fn record_refund(
        &self,
        request: Request<pb::RecordRefundRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        record(&self.store, request, |s, id, refund, meta| {
            s.timeline().record_refund(id, refund, meta)
        })
        .await
    }

    async fn list_timeline(
        &self,
        request: Request<pb::ListTimelineRequest>,
    ) -> Result<Response<pb::ListTimelineResponse>, Status> {
        let pb::ListTimelineRequest {
            customer_id,
            kinds,
            start_time,
            end_time,
            newest_first,
            page_size,
            page_token,
        } = request.into_inner();
        let mut v = Violations::default();
        let id = parse_id("customer_id", &customer_id)
            .map_err(|e| v.0.extend(e.0))
            .ok();
        let entry_kinds = enums_in(
            &mut v,
            "kinds",
            kinds,
            entry_kind_from_proto,
            "a timeline entry kind",
        );
        let start_time = time_in(&mut v, "start_time", start_time);
        let end_time = time_in(&mut v, "end_time", end_time);
        let page_size = page_size_in(&mut v, page_size);
        v.into_result(()).map_err(invalid)?;
        let query = TimelineQuery {
            customer_id: id,
            kinds: entry_kinds,
            start_time,
            end_time,
            newest_first,
            page_size,
            page_token,
        };
        let page = blocking(self.store.clone(), Fields::Request, move |s| {
            s.timeline().list(&query)
        })
        .await?;
        Ok(Response::new(pb::ListTimelineResponse {
            entries: page.entries.iter().map(entry_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
