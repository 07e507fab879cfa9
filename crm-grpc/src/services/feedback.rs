//! `crm.v1.FeedbackService`: survey answers and reviews on the timeline; the feedback report.

use crm_core::Violations;
use crm_core::feedback::{Response as Answer, Review};
use crm_store::Store;
use tonic::{Request, Response, Status};

use crate::convert::feedback::{feedback_report_to_proto, response_from_proto, review_from_proto};
use crate::convert::parse_segment_id;
use crate::pb;
use crate::pb::feedback_service_server::FeedbackService;
use crate::record_request;
use crate::services::common::{blocking, record, time_in};
use crate::status::{Fields, invalid};

/// The feedback service over a store.
#[derive(Clone, Debug)]
pub struct FeedbackApi {
    store: Store,
}

impl FeedbackApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        FeedbackApi { store }
    }
}

record_request!(
    pb::RecordSurveyResponseRequest,
    response,
    Answer,
    response_from_proto
);
record_request!(pb::RecordReviewRequest, review, Review, review_from_proto);

/// A report's period from its request: both ends required, the end after the start.
pub(crate) fn period(
    v: &mut Violations,
    start: Option<prost_types::Timestamp>,
    end: Option<prost_types::Timestamp>,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let missing = |v: &mut Violations, field: &str| {
        v.add(field, "is required: the report's period");
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH
    };
    let from = match start {
        None => missing(v, "start_time"),
        some => time_in(v, "start_time", some).unwrap_or_default(),
    };
    let to = match end {
        None => missing(v, "end_time"),
        some => time_in(v, "end_time", some).unwrap_or_default(),
    };
    if v.is_empty() && to <= from {
        v.add("end_time", "must be after start_time");
    }
    (from, to)
}

#[tonic::async_trait]
impl FeedbackService for FeedbackApi {
    async fn record_survey_response(
        &self,
        request: Request<pb::RecordSurveyResponseRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        record(&self.store, request, |s, id, answer, meta| {
            s.feedback().record_response(id, answer, meta)
        })
        .await
    }

    async fn record_review(
        &self,
        request: Request<pb::RecordReviewRequest>,
    ) -> Result<Response<pb::TimelineWriteResponse>, Status> {
        record(&self.store, request, |s, id, review, meta| {
            s.feedback().record_review(id, review, meta)
        })
        .await
    }

    async fn get_feedback_report(
        &self,
        request: Request<pb::GetFeedbackReportRequest>,
    ) -> Result<Response<pb::FeedbackReport>, Status> {
        let pb::GetFeedbackReportRequest {
            start_time,
            end_time,
            segment_ids,
        } = request.into_inner();
        let mut v = Violations::default();
        let (from, to) = period(&mut v, start_time, end_time);
        let mut segments = Vec::new();
        for (i, id) in segment_ids.iter().enumerate() {
            match parse_segment_id(&format!("segment_ids[{i}]"), id) {
                Ok(id) => segments.push(id),
                Err(e) => v.0.extend(e.0),
            }
        }
        v.into_result(()).map_err(invalid)?;
        let (report, names) = blocking(self.store.clone(), Fields::Request, move |s| {
            let report = s.feedback().report(from, to, &segments)?;
            let mut names = Vec::new();
            for id in &segments {
                names.push((id.to_string(), s.segments().get(*id)?.data.name));
            }
            Ok((report, names))
        })
        .await?;
        Ok(Response::new(feedback_report_to_proto(&report, &names)))
    }
}
