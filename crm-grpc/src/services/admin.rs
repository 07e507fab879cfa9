//! `crm.v1.AdminService`: the audit trail, API keys and the consistency check. Admin role only.

use std::collections::HashMap;
use std::sync::Arc;

use crm_core::Violations;
use crm_store::{AuditQuery, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::convert::{api_key_to_proto, audit_event_to_proto, parse_id, role_from_proto};
use crate::keys::{KeyError, KeyRing};
use crate::pb;
use crate::pb::admin_service_server::AdminService;
use crate::services::common::{blocking, page_size_in, time_in};
use crate::status::{DOMAIN, Fields, invalid};

/// The admin service over a store and its key ring.
#[derive(Clone, Debug)]
pub struct AdminApi {
    store: Store,
    keys: Arc<KeyRing>,
    metrics: Option<PrometheusHandle>,
}

impl AdminApi {
    /// Serves `store` and `keys`.
    pub fn new(store: Store, keys: Arc<KeyRing>) -> Self {
        AdminApi {
            store,
            keys,
            metrics: None,
        }
    }

    /// Answers GetServerMetrics from `handle` (the recorder the process installed).
    pub fn with_metrics(mut self, handle: Option<PrometheusHandle>) -> Self {
        self.metrics = handle;
        self
    }
}

fn key_status(e: KeyError) -> Status {
    let (code, reason) = match &e {
        KeyError::BadName => return invalid(Violations::one("name", e.to_string())),
        KeyError::Exists(name) => {
            // As for customers and segments: the field the caller sent, and the reason.
            let mut details = ErrorDetails::with_error_info(
                "KEY_NAME_TAKEN",
                DOMAIN,
                HashMap::from([("name".to_owned(), name.clone())]),
            );
            details.add_bad_request_violation("name", "is taken by another key");
            return Status::with_error_details(Code::AlreadyExists, e.to_string(), details);
        }
        KeyError::NotFound(_) => (Code::NotFound, "KEY_NOT_FOUND"),
        KeyError::TooMany => (Code::ResourceExhausted, "TOO_MANY_KEYS"),
        KeyError::Io { .. } => (Code::Internal, "KEY_FILE_FAILURE"),
    };
    Status::with_error_details(
        code,
        e.to_string(),
        ErrorDetails::with_error_info(reason, DOMAIN, HashMap::new()),
    )
}

/// The most problems a VerifyStore answer lists (at most 1,000 bytes each): about 1 MB.
const MAX_PROBLEMS_SHOWN: usize = 1000;

/// Key-file work touches the disk: do it off the async threads.
async fn on_keys<T: Send + 'static>(
    keys: Arc<KeyRing>,
    f: impl FnOnce(&KeyRing) -> Result<T, KeyError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(move || f(&keys))
        .await
        .map_err(|e| Status::internal(format!("the request's worker failed: {e}")))?
        .map_err(key_status)
}

/// Bytes per backup message.
const BACKUP_CHUNK: usize = 1 << 20;

type BackupSender = tokio::sync::mpsc::Sender<Result<pb::BackupResponse, Status>>;

/// Writes a backup into a stream's messages, [`BACKUP_CHUNK`] bytes each. A consumer that went
/// away fails the write, which ends the backup.
struct ChunkWriter {
    out: BackupSender,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(BACKUP_CHUNK));
        self.out
            .blocking_send(Ok(pb::BackupResponse {
                data,
                summary: None,
            }))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BACKUP_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

type BackupStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::BackupResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for AdminApi {
    type BackupStream = BackupStream;

    async fn get_server_metrics(
        &self,
        _request: Request<pb::GetServerMetricsRequest>,
    ) -> Result<Response<pb::ServerMetrics>, Status> {
        let Some(handle) = &self.metrics else {
            return Err(Status::with_error_details(
                Code::FailedPrecondition,
                "this server records no metrics: it was started without a metrics recorder",
                ErrorDetails::with_error_info("NO_METRICS_RECORDER", DOMAIN, HashMap::new()),
            ));
        };
        Ok(Response::new(pb::ServerMetrics {
            time: Some(crate::convert::time_to_proto(chrono::Utc::now())),
            prometheus_text: handle.render(),
        }))
    }

    async fn backup(
        &self,
        _request: Request<pb::BackupRequest>,
    ) -> Result<Response<BackupStream>, Status> {
        let (out, rx) = tokio::sync::mpsc::channel(4);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = ChunkWriter {
                out: out.clone(),
                buf: Vec::with_capacity(BACKUP_CHUNK),
            };
            let last = match store.backup(&mut writer) {
                Ok(info) => Ok(pb::BackupResponse {
                    data: Vec::new(),
                    summary: Some(crate::convert::backup_summary_to_proto(&info)),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "a backup stopped");
                    Err(crate::status::from_store(Fields::Request, e))
                }
            };
            let _ = out.blocking_send(last);
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let pb::ListAuditEventsRequest {
            customer_id,
            actor,
            start_time,
            end_time,
            newest_first,
            page_size,
            page_token,
            configuration,
        } = request.into_inner();
        let mut v = Violations::default();
        let customer_id = match customer_id.trim() {
            "" => None,
            text => parse_id("customer_id", text)
                .map_err(|e| v.0.extend(e.0))
                .ok(),
        };
        let start_time = time_in(&mut v, "start_time", start_time);
        let end_time = time_in(&mut v, "end_time", end_time);
        let page_size = page_size_in(&mut v, page_size);
        v.into_result(()).map_err(invalid)?;
        let actor = Some(actor.trim().to_owned()).filter(|a| !a.is_empty());
        let query = AuditQuery {
            configuration,
            customer_id,
            actor,
            start_time,
            end_time,
            newest_first,
            page_size,
            page_token,
        };
        let page = blocking(self.store.clone(), Fields::Request, move |s| {
            s.audit().events(&query)
        })
        .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: page.events.iter().map(audit_event_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn verify_store(
        &self,
        _request: Request<pb::VerifyStoreRequest>,
    ) -> Result<Response<pb::VerifyStoreResponse>, Status> {
        let report = blocking(self.store.clone(), Fields::Request, |s| s.verify()).await?;
        let clean = report.is_clean();
        let mut problems = report.problems;
        // A badly damaged store can have a problem per key: the answer carries the first ones
        // (each at most a few hundred bytes), the log has them all.
        if problems.len() > MAX_PROBLEMS_SHOWN {
            for problem in &problems[MAX_PROBLEMS_SHOWN..] {
                tracing::warn!(problem = %problem, "verify found a problem (not in the answer)");
            }
            let more = problems.len() - MAX_PROBLEMS_SHOWN;
            problems.truncate(MAX_PROBLEMS_SHOWN);
            problems.push(format!(
                "... and {more} more problems (in the server's log)"
            ));
        }
        for problem in &mut problems {
            if problem.len() > 1000 {
                let mut cut = 1000;
                while !problem.is_char_boundary(cut) {
                    cut -= 1;
                }
                problem.truncate(cut);
            }
        }
        Ok(Response::new(pb::VerifyStoreResponse {
            clean,
            customers: report.customers,
            index_entries: report.index_entries,
            unique_keys: report.unique_keys,
            changes: report.changes,
            audit_events: report.audit_events,
            problems,
        }))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let pb::CreateApiKeyRequest { name, role } = request.into_inner();
        let role = role_from_proto(role)
            .ok_or_else(|| invalid(Violations::one("role", "must be READER, WRITER or ADMIN")))?;
        let (secret, record) = on_keys(self.keys.clone(), move |keys| {
            let secret = keys.create(&name, role)?;
            let record = keys
                .list()?
                .into_iter()
                .find(|k| k.name == name)
                .ok_or(KeyError::NotFound(name))?;
            Ok((secret, record))
        })
        .await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            key: Some(api_key_to_proto(&record)),
            secret,
        }))
    }

    async fn list_api_keys(
        &self,
        _request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let keys = on_keys(self.keys.clone(), |keys| keys.list()).await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            keys: keys.iter().map(api_key_to_proto).collect(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let pb::RevokeApiKeyRequest { name } = request.into_inner();
        let record = on_keys(self.keys.clone(), move |keys| {
            keys.revoke(&name)?;
            keys.list()?
                .into_iter()
                .rev()
                .find(|k| k.name == name)
                .ok_or(KeyError::NotFound(name))
        })
        .await?;
        Ok(Response::new(api_key_to_proto(&record)))
    }
}
