//! `crm.v1.TimelineService`: record interactions, purchases and refunds; list timelines.

use crm_core::Violations;
use crm_store::{EntryMeta, Recorded, Store, StoreError, TimelineQuery};
use tonic::{Request, Response, Status};

use crate::convert::{
    entry_kind_from_proto, entry_to_proto, interaction_from_proto, purchase_from_proto,
    refund_from_proto,
};
use crate::convert::{parse_id, time_from_proto};
use crate::layer::{Call, Caller};
use crate::pb;
use crate::pb::timeline_service_server::TimelineService;
use crate::services::common::{audited, blocking, entry_meta, respond};
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

fn required<T>(v: &mut Violations, field: &str, x: Option<T>) -> Option<T> {
    if x.is_none() {
        v.add(field, "is required");
    }
    x
}

/// A converted message, or its violations (named under `prefix`) added to `v`.
fn converted<T>(v: &mut Violations, prefix: &str, r: Result<T, Violations>) -> Option<T> {
    r.map_err(|e| v.0.extend(e.prefixed(prefix).0)).ok()
}

/// A decoded timeline write: who asks, the violations found so far, and the entry's meta.
struct Write {
    caller: Caller,
    header_id: Option<String>,
    v: Violations,
    meta: EntryMeta,
}

impl TimelineApi {
    /// Refuses the write if anything was invalid (`entity` is `None` only then); otherwise
    /// runs `call` on the blocking pool with the caller's audited store and answers with the
    /// entry and the customer.
    async fn record<T: Send + 'static>(
        &self,
        w: Write,
        entity: Option<T>,
        call: impl FnOnce(&Store, T, EntryMeta) -> Result<Recorded, StoreError> + Send + 'static,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        let Write {
            caller,
            header_id,
            v,
            meta,
        } = w;
        v.into_result(()).map_err(invalid)?;
        let entity = entity.ok_or_else(|| invalid(Violations::one("request", "is incomplete")))?;
        let store = audited(&self.store, caller, meta.request_id.clone().or(header_id));
        let recorded = blocking(store.clone(), Fields::Request, move |s| {
            call(s, entity, meta)
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
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::RecordInteractionRequest {
            customer_id,
            interaction,
            occurred_at,
            actor,
            request_id,
        } = request.into_inner();
        let mut v = Violations::default();
        let (id, meta) = entry_meta(&mut v, &customer_id, occurred_at, actor, request_id);
        let interaction = required(&mut v, "interaction", interaction)
            .and_then(|i| converted(&mut v, "interaction", interaction_from_proto(i)));
        let write = Write {
            caller,
            header_id,
            v,
            meta,
        };
        self.record(write, interaction, move |s, i, meta| {
            s.timeline().record_interaction(id, i, meta)
        })
        .await
    }

    async fn record_purchase(
        &self,
        request: Request<pb::RecordPurchaseRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::RecordPurchaseRequest {
            customer_id,
            purchase,
            occurred_at,
            actor,
            request_id,
        } = request.into_inner();
        let mut v = Violations::default();
        let (id, meta) = entry_meta(&mut v, &customer_id, occurred_at, actor, request_id);
        let purchase = required(&mut v, "purchase", purchase)
            .and_then(|p| converted(&mut v, "purchase", purchase_from_proto(p)));
        let write = Write {
            caller,
            header_id,
            v,
            meta,
        };
        self.record(write, purchase, move |s, p, meta| {
            s.timeline().record_purchase(id, p, meta)
        })
        .await
    }

    async fn record_refund(
        &self,
        request: Request<pb::RecordRefundRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::RecordRefundRequest {
            customer_id,
            refund,
            occurred_at,
            actor,
            request_id,
        } = request.into_inner();
        let mut v = Violations::default();
        let (id, meta) = entry_meta(&mut v, &customer_id, occurred_at, actor, request_id);
        let refund = required(&mut v, "refund", refund)
            .and_then(|r| converted(&mut v, "refund", refund_from_proto(r)));
        let write = Write {
            caller,
            header_id,
            v,
            meta,
        };
        self.record(write, refund, move |s, r, meta| {
            s.timeline().record_refund(id, r, meta)
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
        let mut time = |t: Option<prost_types::Timestamp>, field: &str| {
            t.and_then(|t| {
                time_from_proto(&t).or_else(|| {
                    v.add(field, "is not a valid time");
                    None
                })
            })
        };
        let (start_time, end_time) = (time(start_time, "start_time"), time(end_time, "end_time"));
        let page_size = usize::try_from(page_size).unwrap_or_else(|_| {
            v.add("page_size", "must not be negative");
            0
        });
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
