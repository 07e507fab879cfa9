//! Feedback between `crm.v1` messages and `crm-core` types: survey answers, reviews, a
//! customer's feedback summary, the feedback report.

use crm_core::Violations;
use crm_core::feedback::report::{FeedbackFigures, FeedbackReport};
use crm_core::feedback::{FeedbackSummary, NpsCategory, Response, Review, SurveyKind, Tally};

use super::time_to_proto;
use crate::pb;

fn kind_to_proto(k: SurveyKind) -> pb::SurveyKind {
    match k {
        SurveyKind::Nps => pb::SurveyKind::Nps,
        SurveyKind::Csat => pb::SurveyKind::Csat,
        SurveyKind::Ces => pb::SurveyKind::Ces,
    }
}

/// A score from the contract: negative or above 255 stays out of every range (the range check
/// names it).
fn score_in(v: &mut Violations, field: &str, n: i32) -> u8 {
    u8::try_from(n).unwrap_or_else(|_| {
        v.add(field, format!("{n} is outside the range"));
        0
    })
}

/// A survey answer from its message.
pub fn response_from_proto(r: pb::SurveyResponse) -> Result<Response, Violations> {
    let pb::SurveyResponse {
        kind,
        score,
        comment,
        channel,
        survey,
        ticket_id,
        order_ref,
    } = r;
    let mut v = Violations::default();
    let kind = match pb::SurveyKind::try_from(kind) {
        Ok(pb::SurveyKind::Nps) => SurveyKind::Nps,
        Ok(pb::SurveyKind::Csat) => SurveyKind::Csat,
        Ok(pb::SurveyKind::Ces) => SurveyKind::Ces,
        _ => {
            v.add("kind", "set the kind of survey: NPS, CSAT or CES");
            SurveyKind::Nps
        }
    };
    let score = score_in(&mut v, "score", score);
    let ticket_id = match ticket_id.trim() {
        "" => None,
        text => match text.parse() {
            Ok(id) => Some(id),
            Err(e) => {
                v.add("ticket_id", e);
                None
            }
        },
    };
    v.into_result(Response {
        kind,
        score,
        comment,
        channel,
        survey,
        ticket_id,
        order_ref: Some(order_ref).filter(|o| !o.trim().is_empty()),
    })
}

/// A survey answer as a message.
pub fn response_to_proto(r: &Response) -> pb::SurveyResponse {
    pb::SurveyResponse {
        kind: kind_to_proto(r.kind) as i32,
        score: i32::from(r.score),
        comment: r.comment.clone(),
        channel: r.channel.clone(),
        survey: r.survey.clone(),
        ticket_id: r.ticket_id.map(|t| t.to_string()).unwrap_or_default(),
        order_ref: r.order_ref.clone().unwrap_or_default(),
    }
}

/// A review from its message.
pub fn review_from_proto(r: pb::Review) -> Result<Review, Violations> {
    let pb::Review {
        rating,
        title,
        text,
        sku,
        public,
    } = r;
    let mut v = Violations::default();
    let rating = score_in(&mut v, "rating", rating);
    v.into_result(Review {
        rating,
        title,
        text,
        sku,
        public,
    })
}

/// A review as a message.
pub fn review_to_proto(r: &Review) -> pb::Review {
    pb::Review {
        rating: i32::from(r.rating),
        title: r.title.clone(),
        text: r.text.clone(),
        sku: r.sku.clone(),
        public: r.public,
    }
}

fn tally(t: &Tally) -> pb::ScoreTally {
    pb::ScoreTally {
        count: i64::try_from(t.count).unwrap_or(i64::MAX),
        average: t.average().unwrap_or(0.0),
    }
}

/// A customer's feedback summary as a message.
pub fn feedback_summary_to_proto(f: &FeedbackSummary) -> pb::FeedbackSummary {
    let score = |l: Option<crm_core::feedback::Latest>| l.map(|l| i32::from(l.score));
    pb::FeedbackSummary {
        nps: Some(tally(&f.nps)),
        csat: Some(tally(&f.csat)),
        ces: Some(tally(&f.ces)),
        reviews: Some(tally(&f.reviews)),
        last_nps: score(f.last_nps),
        nps_category: match f.nps_category() {
            None => pb::NpsCategory::Unspecified,
            Some(NpsCategory::Detractor) => pb::NpsCategory::Detractor,
            Some(NpsCategory::Passive) => pb::NpsCategory::Passive,
            Some(NpsCategory::Promoter) => pb::NpsCategory::Promoter,
        } as i32,
        last_csat: score(f.last_csat),
        last_ces: score(f.last_ces),
        last_review_rating: score(f.last_review),
        risk_signal_time: f.risk_signal().map(time_to_proto),
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A report's figures as a message.
pub fn figures_to_proto(f: &FeedbackFigures) -> pb::FeedbackFigures {
    let [detractors, passives, promoters] = f.nps_categories;
    pb::FeedbackFigures {
        nps_responses: count(f.nps.count),
        promoters: count(promoters),
        passives: count(passives),
        detractors: count(detractors),
        nps: f.nps_score(),
        csat_responses: count(f.csat.count),
        csat_percent: f.csat_percent(),
        ces_responses: count(f.ces.count),
        ces_average: f.ces.average(),
        reviews: count(f.reviews.count),
        review_average: f.reviews.average(),
    }
}

/// The feedback report as a message; `segments` names each segment asked for (id, name), in
/// the order asked.
pub fn feedback_report_to_proto(
    r: &FeedbackReport,
    segments: &[(String, String)],
) -> pb::FeedbackReport {
    pb::FeedbackReport {
        total: Some(figures_to_proto(&r.total)),
        months: r
            .months
            .iter()
            .map(|(month, f)| pb::FeedbackMonth {
                month: month.clone(),
                figures: Some(figures_to_proto(f)),
            })
            .collect(),
        segments: segments
            .iter()
            .map(|(id, name)| pb::FeedbackSegment {
                segment_id: id.clone(),
                name: name.clone(),
                figures: Some(figures_to_proto(
                    &r.segments.get(name).cloned().unwrap_or_default(),
                )),
            })
            .collect(),
    }
}
