//! `crm.v1.ChangeFeedService`: the change log, streamed from a cursor and then live.
//!
//! Each stream reads the log in batches on the blocking pool and sends into a bounded channel:
//! a slow consumer only slows its own stream. Streams wait for new changes on one signal shared
//! by the whole server ([`FeedPump`]), fed by one thread that waits on the store.

use std::pin::Pin;
use std::time::Duration;

use crm_core::Violations;
use crm_store::{ChangeKind, EntityKind, FeedEvent, FeedQuery, Store};
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::convert::{
    Sight, customer_view, entity_kinds_from_proto, feed_event_to_proto, parse_id,
};
use crate::layer::Call;
use crate::pb;
use crate::pb::change_feed_service_server::ChangeFeedService;
use crate::services::common::blocking;
use crate::status::{Fields, invalid};

/// Events read per batch.
const BATCH: usize = 500;
/// Messages buffered per stream before its reader waits for the consumer.
const BUFFER: usize = 256;

/// The newest acknowledged change, published for every stream of the server by one thread.
#[derive(Clone, Debug)]
pub struct FeedPump {
    position: watch::Receiver<u64>,
}

impl FeedPump {
    /// Starts the thread that follows `store`'s feed until `stop` turns true. (Called from
    /// async code: every read of the store happens on that thread, since a read may block.)
    pub fn start(store: &Store, stop: watch::Receiver<bool>) -> std::io::Result<FeedPump> {
        let (tx, rx) = watch::channel(0);
        let store = store.clone();
        std::thread::Builder::new()
            .name("crm-feed".into())
            .spawn(move || {
                let mut known = 0;
                while !*stop.borrow() {
                    match store
                        .audit()
                        .wait_for_changes(known, Duration::from_millis(500))
                    {
                        Ok(position) if position > known => {
                            known = position;
                            tx.send_replace(position);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "the change feed cannot read the log");
                            std::thread::sleep(Duration::from_millis(500));
                        }
                    }
                }
            })?;
        Ok(FeedPump { position: rx })
    }
}

/// The change feed service.
#[derive(Clone, Debug)]
pub struct ChangeFeedApi {
    store: Store,
    pump: FeedPump,
    stop: watch::Receiver<bool>,
}

impl ChangeFeedApi {
    /// Serves `store`'s feed; streams end when `stop` turns true.
    pub fn new(store: Store, pump: FeedPump, stop: watch::Receiver<bool>) -> Self {
        ChangeFeedApi { store, pump, stop }
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<pb::WatchChangesResponse, Status>> + Send>>;

/// One stream's state.
struct Follow {
    store: Store,
    query: FeedQuery,
    include_state: bool,
    /// What the consumer may see of personal data in the states it gets.
    sight: Sight,
    cursor: u64,
    /// The cursor the consumer last heard of.
    told: u64,
    out: mpsc::Sender<Result<pb::WatchChangesResponse, Status>>,
}

impl Follow {
    /// Sends what the log holds after the cursor; `Ok(false)` once the consumer is gone.
    async fn catch_up(&mut self) -> Result<bool, Status> {
        loop {
            let (query, after) = (self.query.clone(), self.cursor);
            let batch = blocking(self.store.clone(), Fields::Request, move |s| {
                s.audit().read_feed(&query, after, BATCH)
            })
            .await?;
            let full =
                batch.events.len() >= BATCH || batch.cursor > after && batch.events.is_empty();
            for event in batch.events {
                let cursor = event.change.seq;
                let message = self.message(event).await?;
                if self.out.send(Ok(message)).await.is_err() {
                    return Ok(false);
                }
                self.told = cursor;
            }
            self.cursor = batch.cursor;
            if !full {
                break;
            }
        }
        if self.cursor > self.told {
            let progress = pb::WatchChangesResponse {
                event: None,
                cursor: self.cursor,
            };
            if self.out.send(Ok(progress)).await.is_err() {
                return Ok(false);
            }
            self.told = self.cursor;
        }
        Ok(true)
    }

    async fn message(&self, event: FeedEvent) -> Result<pb::WatchChangesResponse, Status> {
        let mut proto = feed_event_to_proto(&event);
        let customer = (event.change.entity.kind == EntityKind::Customer
            && event.change.kind != ChangeKind::Deleted)
            .then_some(crm_core::CustomerId(event.change.entity.id));
        if self.include_state
            && let Some(id) = customer
        {
            let sight = self.sight;
            proto.customer = blocking(self.store.clone(), Fields::Request, move |s| {
                match s.customers().get(id) {
                    Ok(c) => Ok(Some(customer_view(&c, &s.insights().insight(&c)?, sight))),
                    Err(crm_store::StoreError::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        }
        Ok(pb::WatchChangesResponse {
            cursor: proto.cursor,
            event: Some(proto),
        })
    }
}

#[tonic::async_trait]
impl ChangeFeedService for ChangeFeedApi {
    type WatchChangesStream = Events;

    async fn watch_changes(
        &self,
        request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Events>, Status> {
        let sight = Call::sight_of(&request);
        let pb::WatchChangesRequest {
            after,
            kinds,
            customer_id,
            include_state,
        } = request.into_inner();
        let mut v = Violations::default();
        let kinds = entity_kinds_from_proto(&mut v, &kinds);
        let customer_id = if customer_id.trim().is_empty() {
            None
        } else {
            parse_id("customer_id", &customer_id)
                .map_err(|e| v.0.extend(e.0))
                .ok()
        };
        v.into_result(()).map_err(invalid)?;
        let query = FeedQuery { kinds, customer_id };
        // A bad cursor is refused before the stream starts.
        let checked = query.clone();
        blocking(self.store.clone(), Fields::Request, move |s| {
            s.audit().read_feed(&checked, after, 1)
        })
        .await?;
        let (out, rx) = mpsc::channel(BUFFER);
        let mut follow = Follow {
            store: self.store.clone(),
            query,
            include_state,
            sight,
            cursor: after,
            told: after,
            out,
        };
        let (mut position, mut stop) = (self.pump.position.clone(), self.stop.clone());
        tokio::spawn(async move {
            loop {
                match follow.catch_up().await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(status) => {
                        let _ = follow.out.send(Err(status)).await;
                        return;
                    }
                }
                tokio::select! {
                    biased;
                    () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
                        let _ = follow.out.send(Err(Status::unavailable(format!(
                            "the server is shutting down: resume after cursor {}",
                            follow.told
                        )))).await;
                        return;
                    }
                    () = follow.out.closed() => return,
                    changed = position.changed() => if changed.is_err() { return },
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
