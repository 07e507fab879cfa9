//! What the services share (qdrant's `*_common.rs`): running store calls, audited stores, page
//! sizes, and the parts of a timeline write that the timeline and lifecycle services both take.

use crm_core::CustomerId;
use crm_core::{Insight, Violations};
use crm_store::{CustomerPage, EntryMeta, Origin, Recorded, Store, StoreError};
use tonic::{Request, Response, Status};

use crate::layer::Call;

use crate::convert::{Sight, customer_view, entry_to_proto, parse_id, time_from_proto};
use crate::layer::Caller;
use crate::pb;
use crate::status::{Fields, from_store, invalid};

/// Runs a store call on the blocking pool (store calls may wait for a disk flush).
pub(crate) async fn blocking<T, F>(store: Store, fields: Fields, call: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || call(&store)).await {
        Ok(result) => result.map_err(|e| from_store(fields, e)),
        Err(e) => Err(Status::internal(format!(
            "the request's worker failed: {e}"
        ))),
    }
}

/// Runs a point read (a few key lookups, no flush to wait for). On an embedded engine it runs
/// on the calling task: the hand-off to the blocking pool would cost more than the read (a read
/// that misses the cache waits for the disk on this worker). On an engine over the network
/// (PostgreSQL) every read waits for round trips, so it goes to the blocking pool like listings,
/// scans and writes ([`blocking`]).
pub(crate) async fn point_read<T, F>(store: &Store, fields: Fields, call: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    if store.shared() {
        return blocking(store.clone(), fields, call).await;
    }
    call(store).map_err(|e| from_store(fields, e))
}

/// A page size from the request: 0 and above as given; negative is INVALID_ARGUMENT.
pub(crate) fn page_size(n: i32) -> Result<usize, Status> {
    usize::try_from(n).map_err(|_| invalid(Violations::one("page_size", "must not be negative")))
}

/// A trimmed text, or `None` when blank.
pub(crate) fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_owned())
    }
}

/// A page of customers as a message, each with what was derived about it when it was listed.
pub(crate) fn list_response(
    (page, insights): (CustomerPage, Vec<Insight>),
    sight: Sight,
) -> pb::ListCustomersResponse {
    pb::ListCustomersResponse {
        customers: page
            .customers
            .iter()
            .zip(&insights)
            .map(|(c, i)| customer_view(c, i, sight))
            .collect(),
        next_page_token: page.next_page_token,
    }
}

/// A time from the request, or `None`; an invalid one is a violation of `field`.
pub(crate) fn time_in(
    v: &mut Violations,
    field: &str,
    t: Option<prost_types::Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = t?;
    let time = time_from_proto(&t);
    if time.is_none() {
        v.add(
            field,
            "is not a valid time (0001-01-01 to 9999-12-31, nanos 0 to 999,999,999)",
        );
    }
    time
}

/// A list of enum values from the request, each converted by `convert`; one it does not know
/// (unspecified or undefined) is a violation of `field[i]`, named as `what`.
pub(crate) fn enums_in<T>(
    v: &mut Violations,
    field: &str,
    values: Vec<i32>,
    convert: fn(i32) -> Option<T>,
    what: &str,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        match convert(value) {
            Some(t) => out.push(t),
            None => v.add(format!("{field}[{i}]"), format!("{value} is not {what}")),
        }
    }
    out
}

/// A page size from the request (0 and above as given); a negative one is a violation.
pub(crate) fn page_size_in(v: &mut Violations, n: i32) -> usize {
    usize::try_from(n).unwrap_or_else(|_| {
        v.add("page_size", "must not be negative");
        0
    })
}

/// The store, with writes audited as the caller's (and the request id).
pub(crate) fn audited(store: &Store, caller: Caller, request_id: Option<String>) -> Store {
    if let Some(id) = &request_id {
        crate::layer::record_request_id(id);
    }
    store.with_origin(Origin {
        actor: caller.name,
        request_id,
        source: caller.origin,
    })
}

/// The common fields of a timeline write, checked: customer id, time, actor, request id.
pub(crate) fn entry_meta(
    v: &mut Violations,
    customer_id: &str,
    occurred_at: Option<prost_types::Timestamp>,
    actor: String,
    request_id: String,
) -> (crm_core::CustomerId, EntryMeta) {
    let id = parse_id("customer_id", customer_id)
        .map_err(|e| v.0.extend(e.0))
        .unwrap_or(crm_core::CustomerId(0));
    let occurred_at = time_in(v, "occurred_at", occurred_at);
    let meta = EntryMeta {
        occurred_at,
        actor: Some(actor).filter(|a| !a.trim().is_empty()),
        request_id: Some(request_id).filter(|r| !r.trim().is_empty()),
    };
    (id, meta)
}

/// A timeline write's result as a response, the customer with what is derived about it.
pub(crate) async fn respond(
    store: Store,
    recorded: Recorded,
    sight: Sight,
) -> Result<Response<pb::TimelineWriteResponse>, Status> {
    let customer = recorded.customer.clone();
    let insight = blocking(store, Fields::Request, move |s| {
        s.insights().insight(&customer)
    })
    .await?;
    Ok(Response::new(pb::TimelineWriteResponse {
        entry: Some(entry_to_proto(&recorded.entry)),
        customer: Some(customer_view(&recorded.customer, &insight, sight)),
        duplicate: recorded.duplicate,
    }))
}

/// A timeline write request: the customer, what it records (converted, or its violations),
/// and the entry's meta fields.
pub(crate) trait RecordRequest {
    /// What the request records.
    type Entity: Send + 'static;
    /// The request's field that carries it.
    const FIELD: &'static str;
    /// The request taken apart.
    fn into_parts(self) -> Parts<Self::Entity>;
}

/// Customer id, the recorded thing, `occurred_at`, actor, request id.
pub(crate) type Parts<T> = (
    String,
    Option<Result<T, Violations>>,
    Option<prost_types::Timestamp>,
    String,
    String,
);

/// Implements [`RecordRequest`] for a request message whose `$field` converts with `$convert`.
#[macro_export]
macro_rules! record_request {
    ($request:ty, $field:ident, $entity:ty, $convert:path) => {
        impl $crate::services::common::RecordRequest for $request {
            type Entity = $entity;
            const FIELD: &'static str = stringify!($field);

            fn into_parts(self) -> $crate::services::common::Parts<$entity> {
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

/// One timeline write: checks the request (every violation at once), runs `call` on the
/// blocking pool with the caller's audited store, and answers with the entry and the
/// customer.
pub(crate) async fn record<R: RecordRequest>(
    store: &Store,
    request: Request<R>,
    call: impl FnOnce(&Store, CustomerId, R::Entity, EntryMeta) -> Result<Recorded, StoreError>
    + Send
    + 'static,
) -> Result<Response<pb::TimelineWriteResponse>, Status> {
    let who = Call::of(&request)?;
    let sight = who.sight();
    let Call {
        caller,
        request_id: header_id,
    } = who;
    let (customer_id, entity, occurred_at, actor, request_id) = request.into_inner().into_parts();
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
    let store = audited(store, caller, meta.request_id.clone().or(header_id));
    let recorded = blocking(store.clone(), Fields::Request, move |s| {
        call(s, id, entity, meta)
    })
    .await?;
    respond(store, recorded, sight).await
}
