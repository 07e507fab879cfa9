//! `crm.v1.TimelineService`: record interactions, purchases and refunds; list timelines.

use crm_core::timeline::{Interaction, Purchase, Refund};
use crm_core::{CustomerId, Violations};
use crm_store::{EntryMeta, Recorded, Store, StoreError, TimelineQuery};
use tonic::{Request, Response, Status};

use crate::convert::parse_id;
use crate::convert::{
    entry_kind_from_proto, entry_to_proto, interaction_from_proto, purchase_from_proto,
    refund_from_proto,
};
use crate::layer::Call;
use crate::pb;
use crate::pb::timeline_service_server::TimelineService;
use crate::services::common::{audited, blocking, entry_meta, page_size_in, respond, time_in};
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

/// A timeline write request: the customer, what it records (converted, or its violations),
/// and the entry's meta fields.
trait RecordRequest {
    /// What the request records.
    type Entity: Send + 'static;
    /// The request's field that carries it.
    const FIELD: &'static str;
    /// The request taken apart.
    fn into_parts(self) -> Parts<Self::Entity>;
}

/// Customer id, the recorded thing, `occurred_at`, actor, request id.
type Parts<T> = (
    String,
    Option<Result<T, Violations>>,
    Option<prost_types::Timestamp>,
    String,
    String,
);

/// Implements [`RecordRequest`] for a request message whose `$field` converts with `$convert`.
macro_rules! record_request {
    ($request:ty, $field:ident, $entity:ty, $convert:path) => {
        impl RecordRequest for $request {
            type Entity = $entity;
            const FIELD: &'static str = stringify!($field);

            fn into_parts(self) -> Parts<$entity> {
                let Self {
                    customer_id,
                    $field,
                    occurred_at,
                    actor,
                    request_id,
                } = self;
                (
                    customer_id,
                    $field.map($convert),
                    occurred_at,
                    actor,
                    request_id,
                )
            }
        }
    };
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

impl TimelineApi {
    /// One timeline write: checks the request (every violation at once), runs `call` on the
    /// blocking pool with the caller's audited store, and answers with the entry and the
    /// customer.
    async fn record<R: RecordRequest>(
        &self,
        request: Request<R>,
        call: impl FnOnce(&Store, CustomerId, R::Entity, EntryMeta) -> Result<Recorded, StoreError>
        + Send
        + 'static,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        let Call {
            caller,
            request_id: header_id,
        } = Call::of(&request)?;
        let (customer_id, entity, occurred_at, actor, request_id) =
            request.into_inner().into_parts();
        let mut v = Violations::default();
        let (id, meta) = entry_meta(&mut v, &customer_id, occurred_at, actor, request_id);
        let entity = match entity {
            None => {
                v.add(R::FIELD, "is required");
                None
            }
            Some(converted) => converted
                .map_err(|e| v.0.extend(e.prefixed(R::FIELD).0))
                .ok(),
        };
        let entity = v.into_result(entity).map_err(invalid)?;
        let entity = entity.ok_or_else(|| invalid(Violations::one(R::FIELD, "is required")))?;
        let store = audited(&self.store, caller, meta.request_id.clone().or(header_id));
        let recorded = blocking(store.clone(), Fields::Request, move |s| {
            call(s, id, entity, meta)
        })
        .await?;
        respond(store, recorded).await
    }
}

#[tonic::async_trait]
impl TimelineService for TimelineApi {
    async fn record_interaction(
        &self,
        request: Request<pb::RecordInteractionRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        self.record(request, |s, id, interaction, meta| {
            s.timeline().record_interaction(id, interaction, meta)
        })
        .await
    }

    async fn record_purchase(
        &self,
        request: Request<pb::RecordPurchaseRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        self.record(request, |s, id, purchase, meta| {
            s.timeline().record_purchase(id, purchase, meta)
        })
        .await
    }

    async fn record_refund(
        &self,
        request: Request<pb::RecordRefundRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        self.record(request, |s, id, refund, meta| {
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
        let mut entry_kinds = Vec::new();
        for (n, k) in kinds.into_iter().enumerate() {
            match entry_kind_from_proto(k) {
                Some(kind) => entry_kinds.push(kind),
                None => v.add(format!("kinds[{n}]"), "is not a timeline entry kind"),
            }
        }
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
