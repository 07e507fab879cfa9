//! The bulk methods of `crm.v1.CustomerService`: batch create and upsert, streaming import and
//! export. Each item's error is the status the item alone would have had, with its fields named
//! within the item.

use std::pin::Pin;

use crm_core::{Customer, CustomerData, Filter, UpdateMask, Violations};
use crm_store::customers::bulk::{ItemResult, MAX_BATCH_ITEMS, Upserted};
use crm_store::customers::import::{ImportEntry, ImportEvent, ImportRow, Imported};
use crm_store::{Store, StoreError};
use tokio_stream::{Stream, StreamExt};
use tonic::{Response, Status, Streaming};

use crate::convert::{
    Sight, customer_from_proto, customer_view, entry_to_proto, interaction_from_proto,
    purchase_from_proto, refund_from_proto, time_from_proto,
};
use crate::pb;
use crate::services::common::blocking;
use crate::status::{Fields, from_store, invalid, invalid_in, item_status};

/// How long an import stream may go without a message before it is ended.
const IMPORT_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// A stream of answers.
pub(crate) type Answers<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn check_count(field: &str, n: usize) -> Result<(), Status> {
    if n == 0 || n > MAX_BATCH_ITEMS {
        return Err(invalid(Violations::one(
            field,
            format!("holds {n} items; send 1 to {MAX_BATCH_ITEMS}"),
        )));
    }
    Ok(())
}

fn failed(status: &Status) -> pb::BatchItemResult {
    pb::BatchItemResult {
        customer: None,
        error: Some(item_status(status)),
        action: pb::ItemAction::Unspecified.into(),
    }
}

fn succeeded(
    s: &Store,
    c: &Customer,
    action: pb::ItemAction,
    sight: Sight,
) -> Result<pb::BatchItemResult, StoreError> {
    Ok(pb::BatchItemResult {
        customer: Some(customer_view(c, &s.insights().insight(c)?, sight)),
        error: None,
        action: action.into(),
    })
}

/// An upsert's mask from the request: absent means every field but the stage.
fn mask_from(mask: Option<prost_types::FieldMask>) -> Result<Option<UpdateMask>, Status> {
    match mask {
        Some(m) if !m.paths.is_empty() => UpdateMask::parse(&m.paths).map(Some).map_err(invalid),
        _ => Ok(None),
    }
}

/// Converts each item; the ones that fail to convert get their result now, the others go on.
fn convert_each<T>(
    items: Vec<T>,
    fields: Fields,
    convert: impl Fn(T) -> Result<CustomerData, Violations>,
) -> Vec<Result<CustomerData, Status>> {
    items
        .into_iter()
        .map(|item| convert(item).map_err(|v| invalid_in(fields, v)))
        .collect()
}

/// Puts the store's results back in the places of the items that reached it.
fn merge<R>(
    converted: Vec<Result<CustomerData, Status>>,
    mut stored: impl Iterator<Item = R>,
    mut each: impl FnMut(R) -> pb::BatchItemResult,
) -> Vec<pb::BatchItemResult> {
    converted
        .iter()
        .map(|c| match c {
            Err(status) => failed(status),
            Ok(_) => stored.next().map_or_else(
                || {
                    failed(&Status::internal(
                        "the store answered fewer items than it was given",
                    ))
                },
                &mut each,
            ),
        })
        .collect()
}

/// BatchCreateCustomers.
pub(crate) async fn batch_create(
    store: Store,
    request: pb::BatchCreateCustomersRequest,
    sight: Sight,
) -> Result<Response<pb::BatchCreateCustomersResponse>, Status> {
    check_count("requests", request.requests.len())?;
    let now = chrono::Utc::now();
    let rids: Vec<Option<String>> = request
        .requests
        .iter()
        .map(|r| Some(r.request_id.trim().to_owned()).filter(|r| !r.is_empty()))
        .collect();
    let converted = convert_each(request.requests, Fields::InCustomer, |r| match r.customer {
        Some(c) => customer_from_proto(c, now),
        None => Err(Violations::one("customer", "is required")),
    });
    let items: Vec<(CustomerData, Option<String>)> = converted
        .iter()
        .zip(rids)
        .filter_map(|(c, rid)| c.as_ref().ok().map(|c| (c.clone(), rid)))
        .collect();
    let results = blocking(store, Fields::Request, move |s| {
        let stored = s.customers().batch_create(items)?;
        let answered: Vec<pb::BatchItemResult> = stored
            .into_iter()
            .map(|r: ItemResult<Customer>| match r {
                Ok(c) => succeeded(s, &c, pb::ItemAction::Created, sight)
                    .unwrap_or_else(|e| failed(&from_store(Fields::InCustomer, e))),
                Err(e) => failed(&from_store(Fields::InCustomer, e)),
            })
            .collect();
        Ok(merge(converted, answered.into_iter(), |r| r))
    })
    .await?;
    Ok(Response::new(pb::BatchCreateCustomersResponse { results }))
}

fn upserted_result(s: &Store, r: ItemResult<Upserted>, sight: Sight) -> pb::BatchItemResult {
    let (c, action) = match r {
        Ok(Upserted::Created(c)) => (c, pb::ItemAction::Created),
        Ok(Upserted::Updated(c)) => (c, pb::ItemAction::Updated),
        Ok(Upserted::Unchanged(c)) => (c, pb::ItemAction::Unchanged),
        Err(e) => return failed(&from_store(Fields::Request, e)),
    };
    succeeded(s, &c, action, sight).unwrap_or_else(|e| failed(&from_store(Fields::Request, e)))
}

/// BatchUpsertCustomers.
pub(crate) async fn batch_upsert(
    store: Store,
    request: pb::BatchUpsertCustomersRequest,
    sight: Sight,
) -> Result<Response<pb::BatchUpsertCustomersResponse>, Status> {
    check_count("customers", request.customers.len())?;
    let mask = mask_from(request.update_mask)?;
    let now = chrono::Utc::now();
    let converted = convert_each(request.customers, Fields::Request, |c| {
        customer_from_proto(c, now)
    });
    let items: Vec<CustomerData> = converted
        .iter()
        .filter_map(|c| c.as_ref().ok().cloned())
        .collect();
    let results = blocking(store, Fields::Request, move |s| {
        let stored = s.customers().batch_upsert(items, mask.as_ref())?;
        let answered: Vec<_> = stored
            .into_iter()
            .map(|r| upserted_result(s, r, sight))
            .collect();
        Ok(merge(converted, answered.into_iter(), |r| r))
    })
    .await?;
    Ok(Response::new(pb::BatchUpsertCustomersResponse { results }))
}

/// An import row from its message: the row, or every violation named within the row.
fn row_from_proto(row: pb::ImportRow) -> Result<ImportRow, Violations> {
    let pb::ImportRow {
        key,
        customer,
        entries,
    } = row;
    let mut v = Violations::default();
    let now = chrono::Utc::now();
    let customer = match customer {
        None => {
            v.add("customer", "is required");
            None
        }
        Some(c) => customer_from_proto(c, now)
            .map_err(|e| v.0.extend(e.prefixed("customer").0))
            .ok(),
    };
    let mut converted = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let pb::ImportEntry {
            occurred_at,
            actor,
            event,
        } = e;
        let at = format!("entries[{i}]");
        let time = match occurred_at.as_ref().map(time_from_proto) {
            None => {
                v.add(format!("{at}.occurred_at"), "is required");
                None
            }
            Some(None) => {
                v.add(format!("{at}.occurred_at"), "is not a valid time");
                None
            }
            Some(Some(t)) => Some(t),
        };
        let event = match event {
            None => Err(Violations::one(
                "event",
                "set purchase, refund or interaction",
            )),
            Some(pb::import_entry::Event::Purchase(p)) => purchase_from_proto(p)
                .map(ImportEvent::Purchase)
                .map_err(|e| e.prefixed("purchase")),
            Some(pb::import_entry::Event::Refund(r)) => refund_from_proto(r)
                .map(ImportEvent::Refund)
                .map_err(|e| e.prefixed("refund")),
            Some(pb::import_entry::Event::Interaction(x)) => interaction_from_proto(x)
                .map(ImportEvent::Interaction)
                .map_err(|e| e.prefixed("interaction")),
        };
        match (time, event) {
            (Some(occurred_at), Ok(event)) => converted.push(ImportEntry {
                occurred_at,
                actor,
                event,
            }),
            (_, Err(e)) => v.0.extend(e.prefixed(&at).0),
            (None, Ok(_)) => {}
        }
    }
    let customer = v.into_result(customer)?;
    Ok(ImportRow {
        key,
        customer: customer.unwrap_or_else(|| CustomerData::person("")),
        entries: converted,
    })
}

fn row_result(key: String, index: u64, r: Result<Imported, Status>) -> pb::ImportRowResult {
    let mut out = pb::ImportRowResult {
        key,
        index,
        ..Default::default()
    };
    match r {
        Err(status) => out.error = Some(item_status(&status)),
        Ok(Imported::AlreadyImported { customer_id }) => {
            out.action = pb::ItemAction::AlreadyImported.into();
            out.customer_id = customer_id.to_string();
        }
        Ok(Imported::Written { upserted, entries }) => {
            out.action = match *upserted {
                Upserted::Created(_) => pb::ItemAction::Created,
                Upserted::Updated(_) => pb::ItemAction::Updated,
                Upserted::Unchanged(_) => pb::ItemAction::Unchanged,
            }
            .into();
            out.customer_id = upserted.customer().id.to_string();
            out.entries_recorded = u32::try_from(entries).unwrap_or(u32::MAX);
        }
    }
    out
}

/// ImportCustomers: each request message's rows in one store call, answered in order.
pub(crate) async fn import(
    store: Store,
    mut rows_in: Streaming<pb::ImportCustomersRequest>,
) -> Result<Response<Answers<pb::ImportCustomersResponse>>, Status> {
    let (out, answers) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut options: Option<(bool, Option<UpdateMask>)> = None;
        let mut index = 0u64;
        loop {
            let message = match tokio::time::timeout(IMPORT_IDLE, rows_in.next()).await {
                Ok(Some(message)) => message,
                Ok(None) => return,
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "no import message for {} s: the stream is ended; resume by sending the \
                     rows again",
                    IMPORT_IDLE.as_secs()
                ))),
            };
            let answer = match message {
                Err(status) => Err(status),
                Ok(message) => {
                    if options.is_none() {
                        match mask_from(message.update_mask.clone()) {
                            Ok(mask) => options = Some((message.dry_run, mask)),
                            Err(status) => {
                                let _ = out.send(Err(status)).await;
                                return;
                            }
                        }
                    }
                    let (dry_run, mask) = options.clone().unwrap_or_default();
                    import_message(&store, message.rows, dry_run, mask, &mut index).await
                }
            };
            let stop = answer.is_err();
            if out.send(answer).await.is_err() || stop {
                return;
            }
        }
    });
    Ok(Response::new(Box::pin(
        tokio_stream::wrappers::ReceiverStream::new(answers),
    )))
}

async fn import_message(
    store: &Store,
    rows: Vec<pb::ImportRow>,
    dry_run: bool,
    mask: Option<UpdateMask>,
    index: &mut u64,
) -> Result<pb::ImportCustomersResponse, Status> {
    if rows.len() > MAX_BATCH_ITEMS {
        return Err(invalid(Violations::one(
            "rows",
            format!(
                "holds {} rows; send at most {MAX_BATCH_ITEMS} per message",
                rows.len()
            ),
        )));
    }
    let first = *index;
    *index += rows.len() as u64;
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let converted: Vec<Result<ImportRow, Status>> = rows
        .into_iter()
        .map(|r| row_from_proto(r).map_err(|v| invalid_in(Fields::InRow, v)))
        .collect();
    let valid: Vec<ImportRow> = converted
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    let stored = blocking(store.clone(), Fields::Request, move |s| {
        s.customers().import(&valid, mask.as_ref(), dry_run)
    })
    .await?;
    let mut stored = stored.into_iter();
    let results = converted
        .into_iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (c, key))| {
            let r = match c {
                Err(status) => Err(status),
                Ok(_) => match stored.next() {
                    Some(Ok(done)) => Ok(done),
                    Some(Err(e)) => Err(from_store(Fields::InRow, e)),
                    None => Err(Status::internal(
                        "the store answered fewer rows than it was given",
                    )),
                },
            };
            row_result(key, first + i as u64, r)
        })
        .collect();
    Ok(pb::ImportCustomersResponse { results })
}

/// ExportCustomers: one snapshot, streamed as it is read.
pub(crate) async fn export(
    store: Store,
    request: pb::ExportCustomersRequest,
    sight: Sight,
) -> Result<Response<Answers<pb::ExportCustomersResponse>>, Status> {
    let pb::ExportCustomersRequest {
        filter,
        include_timeline,
    } = request;
    let filter =
        Filter::parse(&filter).map_err(|e| invalid(Violations::one("filter", e.to_string())))?;
    let (out, answers) = tokio::sync::mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        let done = store
            .customers()
            .export(&filter, include_timeline, |cursor, e| {
                let message = pb::ExportCustomersResponse {
                    customer: Some(customer_view(&e.customer, &e.insight, sight)),
                    timeline: e.timeline.iter().map(entry_to_proto).collect(),
                    cursor,
                };
                out.blocking_send(Ok(message)).is_ok()
            });
        if let Err(e) = done {
            let _ = out.blocking_send(Err(from_store(Fields::Request, e)));
        }
    });
    Ok(Response::new(Box::pin(
        tokio_stream::wrappers::ReceiverStream::new(answers),
    )))
}
