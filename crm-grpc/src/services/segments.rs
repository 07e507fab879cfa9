//! `crm.v1.SegmentService`: saved filters, their member counts and member pages.

use crm_core::Violations;
use crm_store::Store;
use tonic::{Request, Response, Status};

use crate::convert::{parse_segment_id, segment_from_proto, segment_to_proto};
use crate::layer::Call;
use crate::pb;
use crate::pb::segment_service_server::SegmentService;
use crate::services::common::audited;
use crate::services::common::{blocking, list_response, non_empty, page_size};
use crate::status::{Fields, invalid};

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

#[tonic::async_trait]
impl SegmentService for SegmentApi {
    async fn create_segment(
        &self,
        request: Request<pb::CreateSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let store = audited(&self.store, caller, header_id);
        let pb::CreateSegmentRequest { segment } = request.into_inner();
        let Some(segment) = segment else {
            return Err(invalid(Violations::one("segment", "is required")));
        };
        let data = segment_from_proto(segment);
        let created = blocking(store, Fields::Request, move |s| s.segments().create(data)).await?;
        Ok(Response::new(segment_to_proto(&created)))
    }

    async fn get_segment(
        &self,
        request: Request<pb::GetSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let id = parse_segment_id("id", &request.into_inner().id).map_err(invalid)?;
        let found = blocking(self.store.clone(), Fields::Request, move |s| {
            s.segments().get(id)
        })
        .await?;
        Ok(Response::new(segment_to_proto(&found)))
    }

    async fn list_segments(
        &self,
        request: Request<pb::ListSegmentsRequest>,
    ) -> Result<Response<pb::ListSegmentsResponse>, Status> {
        let pb::ListSegmentsRequest {
            page_size: size,
            page_token,
        } = request.into_inner();
        let size = page_size(size)?;
        let page = blocking(self.store.clone(), Fields::Request, move |s| {
            s.segments().list(size, &page_token)
        })
        .await?;
        Ok(Response::new(pb::ListSegmentsResponse {
            segments: page.segments.iter().map(segment_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_segment(
        &self,
        request: Request<pb::UpdateSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let store = audited(&self.store, caller, header_id);
        let pb::UpdateSegmentRequest {
            segment,
            update_mask,
            etag,
        } = request.into_inner();
        let Some(segment) = segment else {
            return Err(invalid(Violations::one("segment", "is required")));
        };
        let id = parse_segment_id("segment.id", &segment.id).map_err(invalid)?;
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
            s.segments().update(id, patch, &mask, etag.as_deref())
        })
        .await?;
        Ok(Response::new(segment_to_proto(&updated)))
    }

    async fn delete_segment(
        &self,
        request: Request<pb::DeleteSegmentRequest>,
    ) -> Result<Response<pb::DeleteSegmentResponse>, Status> {
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let store = audited(&self.store, caller, header_id);
        let pb::DeleteSegmentRequest { id, etag } = request.into_inner();
        let segment_id = parse_segment_id("id", &id).map_err(invalid)?;
        let etag = non_empty(etag);
        blocking(store, Fields::Request, move |s| {
            s.segments().delete(segment_id, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeleteSegmentResponse {
            id: segment_id.to_string(),
        }))
    }

    async fn count_segment_members(
        &self,
        request: Request<pb::CountSegmentMembersRequest>,
    ) -> Result<Response<pb::CountSegmentMembersResponse>, Status> {
        let id = parse_segment_id("id", &request.into_inner().id).map_err(invalid)?;
        let count = blocking(self.store.clone(), Fields::Request, move |s| {
            s.segments().count(id)
        })
        .await?;
        Ok(Response::new(pb::CountSegmentMembersResponse {
            count: i64::try_from(count).unwrap_or(i64::MAX),
        }))
    }

    async fn list_segment_members(
        &self,
        request: Request<pb::ListSegmentMembersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let sight = Call::sight_of(&request);
        let pb::ListSegmentMembersRequest {
            id,
            page_size: size,
            page_token,
        } = request.into_inner();
        let id = parse_segment_id("id", &id).map_err(invalid)?;
        let size = page_size(size)?;
        let response = blocking(self.store.clone(), Fields::Request, move |s| {
            let query = s.segments().members_query(id, size, page_token)?;
            Ok(list_response(
                s.customers().list_with_insights(&query)?,
                sight,
            ))
        })
        .await?;
        Ok(Response::new(response))
    }
}
