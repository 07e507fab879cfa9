//! `crm.v1.SegmentService`: saved filters, their member counts and member pages.

use crm_core::{Segment, SegmentData, SegmentId, Violations};
use crm_store::Store;
use tonic::{Request, Response, Status};

use crate::auth::require;
use crate::call::{observe, request_id};
use crate::convert::time_to_proto;
use crate::customer_service::{blocking, list_response, non_empty, page_size};
use crate::keys::Role;
use crate::pb;
use crate::pb::segment_service_server::SegmentService;
use crate::status::{Fields, invalid};
use crate::timeline_service::store_for;

/// The segment service over a store.
#[derive(Clone, Debug)]
pub struct SegmentApi {
    store: Store,
}

impl SegmentApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        SegmentApi { store }
    }
}

fn segment_to_proto(s: &Segment) -> pb::Segment {
    pb::Segment {
        id: s.id.to_string(),
        name: s.data.name.clone(),
        description: s.data.description.clone(),
        filter: s.data.filter.clone(),
        create_time: Some(time_to_proto(s.create_time)),
        update_time: Some(time_to_proto(s.update_time)),
        etag: s.etag(),
    }
}

fn segment_from_proto(s: pb::Segment) -> SegmentData {
    let pb::Segment {
        id: _,
        name,
        description,
        filter,
        create_time: _,
        update_time: _,
        etag: _,
    } = s;
    SegmentData {
        name,
        description,
        filter,
    }
}

fn parse_id(field: &str, text: &str) -> Result<SegmentId, Status> {
    text.trim()
        .parse()
        .map_err(|e: String| invalid(Violations::one(field, e)))
}

#[tonic::async_trait]
impl SegmentService for SegmentApi {
    async fn create_segment(
        &self,
        request: Request<pb::CreateSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let header_id = request_id(&request);
        observe("CreateSegment", header_id.clone().as_deref(), async {
            let caller = require(&request, Role::Writer)?;
            let store = store_for(&self.store, caller, header_id);
            let pb::CreateSegmentRequest { segment } = request.into_inner();
            let Some(segment) = segment else {
                return Err(invalid(Violations::one("segment", "is required")));
            };
            let data = segment_from_proto(segment);
            let created = blocking(store, Fields::Request, move |s| s.create_segment(data)).await?;
            Ok(Response::new(segment_to_proto(&created)))
        })
        .await
    }

    async fn get_segment(
        &self,
        request: Request<pb::GetSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        observe("GetSegment", request_id(&request).as_deref(), async {
            require(&request, Role::Reader)?;
            let id = parse_id("id", &request.into_inner().id)?;
            let found = blocking(self.store.clone(), Fields::Request, move |s| {
                s.get_segment(id)
            })
            .await?;
            Ok(Response::new(segment_to_proto(&found)))
        })
        .await
    }

    async fn list_segments(
        &self,
        request: Request<pb::ListSegmentsRequest>,
    ) -> Result<Response<pb::ListSegmentsResponse>, Status> {
        observe("ListSegments", request_id(&request).as_deref(), async {
            require(&request, Role::Reader)?;
            let pb::ListSegmentsRequest {
                page_size: size,
                page_token,
            } = request.into_inner();
            let size = page_size(size)?;
            let page = blocking(self.store.clone(), Fields::Request, move |s| {
                s.list_segments(size, &page_token)
            })
            .await?;
            Ok(Response::new(pb::ListSegmentsResponse {
                segments: page.segments.iter().map(segment_to_proto).collect(),
                next_page_token: page.next_page_token,
            }))
        })
        .await
    }

    async fn update_segment(
        &self,
        request: Request<pb::UpdateSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let header_id = request_id(&request);
        observe("UpdateSegment", header_id.clone().as_deref(), async {
            let caller = require(&request, Role::Writer)?;
            let store = store_for(&self.store, caller, header_id);
            let pb::UpdateSegmentRequest {
                segment,
                update_mask,
                etag,
            } = request.into_inner();
            let Some(segment) = segment else {
                return Err(invalid(Violations::one("segment", "is required")));
            };
            let id = parse_id("segment.id", &segment.id)?;
            let etag = non_empty(etag).or_else(|| non_empty(segment.etag.clone()));
            let mask: Vec<String> = match update_mask {
                Some(m) if !m.paths.is_empty() => m.paths,
                // No mask: the fields the request sets.
                _ => [
                    ("name", &segment.name),
                    ("description", &segment.description),
                    ("filter", &segment.filter),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(f, _)| f.to_owned())
                .collect(),
            };
            if mask.is_empty() {
                return Err(invalid(Violations::one(
                    "update_mask",
                    "name the fields to update, or set them in segment",
                )));
            }
            let patch = segment_from_proto(segment);
            let updated = blocking(store, Fields::Request, move |s| {
                s.update_segment(id, patch, &mask, etag.as_deref())
            })
            .await?;
            Ok(Response::new(segment_to_proto(&updated)))
        })
        .await
    }

    async fn delete_segment(
        &self,
        request: Request<pb::DeleteSegmentRequest>,
    ) -> Result<Response<pb::DeleteSegmentResponse>, Status> {
        let header_id = request_id(&request);
        observe("DeleteSegment", header_id.clone().as_deref(), async {
            let caller = require(&request, Role::Writer)?;
            let store = store_for(&self.store, caller, header_id);
            let pb::DeleteSegmentRequest { id, etag } = request.into_inner();
            let segment_id = parse_id("id", &id)?;
            let etag = non_empty(etag);
            blocking(store, Fields::Request, move |s| {
                s.delete_segment(segment_id, etag.as_deref())
            })
            .await?;
            Ok(Response::new(pb::DeleteSegmentResponse {
                id: segment_id.to_string(),
            }))
        })
        .await
    }

    async fn count_segment_members(
        &self,
        request: Request<pb::CountSegmentMembersRequest>,
    ) -> Result<Response<pb::CountSegmentMembersResponse>, Status> {
        observe(
            "CountSegmentMembers",
            request_id(&request).as_deref(),
            async {
                require(&request, Role::Reader)?;
                let id = parse_id("id", &request.into_inner().id)?;
                let count = blocking(self.store.clone(), Fields::Request, move |s| {
                    s.count_segment_members(id)
                })
                .await?;
                Ok(Response::new(pb::CountSegmentMembersResponse {
                    count: i64::try_from(count).unwrap_or(i64::MAX),
                }))
            },
        )
        .await
    }

    async fn list_segment_members(
        &self,
        request: Request<pb::ListSegmentMembersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        observe(
            "ListSegmentMembers",
            request_id(&request).as_deref(),
            async {
                require(&request, Role::Reader)?;
                let pb::ListSegmentMembersRequest {
                    id,
                    page_size: size,
                    page_token,
                } = request.into_inner();
                let id = parse_id("id", &id)?;
                let size = page_size(size)?;
                let response = blocking(self.store.clone(), Fields::Request, move |s| {
                    let query = s.segment_members_query(id, size, page_token)?;
                    Ok(list_response(s.list_customers_with_insights(&query)?))
                })
                .await?;
                Ok(Response::new(response))
            },
        )
        .await
    }
}
