//! Feedback: what customers say about the business. Survey answers (NPS, CSAT, CES) and product
//! reviews, each a timeline entry that the customer's summary adds up ([`FeedbackSummary`]).
//!
//! | kind | scale | reads as |
//! |---|---|---|
//! | NPS | 0-10 | PROMOTER 9-10, PASSIVE 7-8, DETRACTOR 0-6; NPS = % promoters - % detractors |
//! | CSAT | 1-5 | satisfied at 4-5; CSAT = % of answers that are 4-5 |
//! | CES | 1-7 | the effort it took (1: very easy); reported as its average |
//! | review | 1-5 stars | public or private, about a product (SKU) or the business |
//!
//! **How feedback moves the relationship** ([`crate::relationship`]):
//! - a *risk signal* is a customer's latest NPS answer being a detractor (0-6), or its latest
//!   CSAT answer being 2 or less. A buying customer with a risk signal given after its last
//!   purchase is AT_RISK for `feedback_risk_window` (90 days) after the signal, whatever its
//!   buying rhythm says; a later purchase, or a later better answer of the same kind, lifts it;
//! - a promoter answer (NPS 9-10) from a customer who has bought makes it an advocate (and moves
//!   its stage to ADVOCACY), as an NPS score given in an interaction does.
//!
//! Feedback does not move lead scoring: a lead score measures buying interest, and answering a
//! survey the business sent is not a sign of it.

pub mod report;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::support::TicketId;
use crate::validate::{MAX_ID_CHARS, Violations, check_text};

/// Longest comment or review text (characters).
pub const MAX_FEEDBACK_TEXT_CHARS: usize = 5_000;

/// The kinds of survey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SurveyKind {
    /// Net Promoter Score: would you recommend us (0-10)?
    Nps,
    /// Customer satisfaction (1-5).
    Csat,
    /// Customer effort (1-7).
    Ces,
}

impl SurveyKind {
    /// Every kind.
    pub const ALL: [SurveyKind; 3] = [SurveyKind::Nps, SurveyKind::Csat, SurveyKind::Ces];

    /// The scores a kind takes.
    pub fn range(self) -> std::ops::RangeInclusive<u8> {
        match self {
            SurveyKind::Nps => 0..=10,
            SurveyKind::Csat => 1..=5,
            SurveyKind::Ces => 1..=7,
        }
    }

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            SurveyKind::Nps => "NPS",
            SurveyKind::Csat => "CSAT",
            SurveyKind::Ces => "CES",
        }
    }
}

/// What an NPS answer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NpsCategory {
    /// 0-6.
    Detractor,
    /// 7-8.
    Passive,
    /// 9-10.
    Promoter,
}

impl NpsCategory {
    /// The category of a score.
    pub fn of(score: u8) -> NpsCategory {
        match score {
            0..=6 => NpsCategory::Detractor,
            7..=8 => NpsCategory::Passive,
            _ => NpsCategory::Promoter,
        }
    }

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            NpsCategory::Detractor => "DETRACTOR",
            NpsCategory::Passive => "PASSIVE",
            NpsCategory::Promoter => "PROMOTER",
        }
    }

    /// Parses a contract name, case-insensitively.
    pub fn parse(name: &str) -> Option<NpsCategory> {
        [
            NpsCategory::Detractor,
            NpsCategory::Passive,
            NpsCategory::Promoter,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// A survey answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Which survey kind.
    pub kind: SurveyKind,
    /// The score, in the kind's range.
    pub score: u8,
    /// What the customer wrote.
    pub comment: String,
    /// Where it was answered (`email`, `in_app`, `sms`).
    pub channel: String,
    /// The survey it answers (a name or id in the surveying tool).
    pub survey: String,
    /// The ticket it is about, if any.
    pub ticket_id: Option<TicketId>,
    /// The order it is about, if any.
    pub order_ref: Option<String>,
}

/// A product or business review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// 1-5 stars.
    pub rating: u8,
    /// A headline.
    pub title: String,
    /// The review.
    pub text: String,
    /// The product reviewed (empty: the business).
    pub sku: String,
    /// Published, or kept private.
    pub public: bool,
}

fn check_long(v: &mut Violations, field: &str, text: &mut String) {
    *text = crate::normalize::nfc(text).trim().to_owned();
    if text.chars().count() > MAX_FEEDBACK_TEXT_CHARS {
        v.add(
            field,
            format!("must be at most {MAX_FEEDBACK_TEXT_CHARS} characters"),
        );
    }
    if text
        .chars()
        .any(|c| crate::normalize::is_refused_in_text(c) && !matches!(c, '\n' | '\r' | '\t'))
    {
        v.add(
            field,
            "must not contain control, invisible or direction-changing characters other than \
             line breaks and tabs",
        );
    }
}

/// Validates and normalizes a survey answer.
pub fn validate_response(r: &mut Response) -> Result<(), Violations> {
    let mut v = Violations::default();
    if !r.kind.range().contains(&r.score) {
        v.add(
            "score",
            format!(
                "{} is outside {}'s range {}-{}",
                r.score,
                r.kind.name(),
                r.kind.range().start(),
                r.kind.range().end()
            ),
        );
    }
    check_long(&mut v, "comment", &mut r.comment);
    check_text(&mut v, "channel", &mut r.channel, MAX_ID_CHARS);
    check_text(&mut v, "survey", &mut r.survey, MAX_ID_CHARS);
    if let Some(order) = &mut r.order_ref {
        check_text(&mut v, "order_ref", order, MAX_ID_CHARS);
        if order.is_empty() {
            r.order_ref = None;
        }
    }
    v.into_result(())
}

/// Validates and normalizes a review.
pub fn validate_review(r: &mut Review) -> Result<(), Violations> {
    let mut v = Violations::default();
    if !(1..=5).contains(&r.rating) {
        v.add("rating", format!("{} is outside 1-5", r.rating));
    }
    check_text(
        &mut v,
        "title",
        &mut r.title,
        crate::timeline::MAX_SUBJECT_CHARS,
    );
    check_long(&mut v, "text", &mut r.text);
    check_text(&mut v, "sku", &mut r.sku, MAX_ID_CHARS);
    v.into_result(())
}

/// A count and a sum of scores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Their scores added.
    pub sum: u64,
}

impl Tally {
    fn add(&mut self, score: u8) {
        self.count += 1;
        self.sum += u64::from(score);
    }

    /// The average score.
    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }
}

/// The latest score of a kind. Two at the same instant: the lower one stands, so the summary
/// does not depend on arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    /// When it was given.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub at: DateTime<Utc>,
    /// The score.
    pub score: u8,
}

fn keep_latest(slot: &mut Option<Latest>, at: DateTime<Utc>, score: u8) {
    let newer = match slot {
        None => true,
        Some(l) => at > l.at || (at == l.at && score < l.score),
    };
    if newer {
        *slot = Some(Latest { at, score });
    }
}

/// What a customer's feedback adds up to (part of its summary; order-independent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackSummary {
    /// NPS answers.
    pub nps: Tally,
    /// CSAT answers.
    pub csat: Tally,
    /// CES answers.
    pub ces: Tally,
    /// Reviews (their ratings).
    pub reviews: Tally,
    /// NPS answers by category: detractors, passives, promoters.
    pub nps_categories: [u64; 3],
    /// The latest NPS answer.
    pub last_nps: Option<Latest>,
    /// The latest CSAT answer.
    pub last_csat: Option<Latest>,
    /// The latest CES answer.
    pub last_ces: Option<Latest>,
    /// The latest review's rating.
    pub last_review: Option<Latest>,
}

impl FeedbackSummary {
    /// Adds a survey answer given at `at`.
    pub fn add_response(&mut self, at: DateTime<Utc>, r: &Response) {
        match r.kind {
            SurveyKind::Nps => {
                self.nps.add(r.score);
                self.nps_categories[NpsCategory::of(r.score) as usize] += 1;
                keep_latest(&mut self.last_nps, at, r.score);
            }
            SurveyKind::Csat => {
                self.csat.add(r.score);
                keep_latest(&mut self.last_csat, at, r.score);
            }
            SurveyKind::Ces => {
                self.ces.add(r.score);
                keep_latest(&mut self.last_ces, at, r.score);
            }
        }
    }

    /// Adds a review given at `at`.
    pub fn add_review(&mut self, at: DateTime<Utc>, r: &Review) {
        self.reviews.add(r.rating);
        keep_latest(&mut self.last_review, at, r.rating);
    }

    /// The category of the latest NPS answer.
    pub fn nps_category(&self) -> Option<NpsCategory> {
        self.last_nps.map(|l| NpsCategory::of(l.score))
    }

    /// When the latest risk signal was given: the later of the latest NPS answer if it is a
    /// detractor and the latest CSAT answer if it is 2 or less.
    pub fn risk_signal(&self) -> Option<DateTime<Utc>> {
        let nps = self.last_nps.filter(|l| l.score <= 6).map(|l| l.at);
        let csat = self.last_csat.filter(|l| l.score <= 2).map(|l| l.at);
        nps.max(csat)
    }
}
