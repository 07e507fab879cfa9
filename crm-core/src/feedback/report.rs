//! The feedback report: NPS (% promoters - % detractors), CSAT (% of answers that are 4-5),
//! average CES and response counts, for a period, month by month, and per segment.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};

use super::{NpsCategory, SurveyKind, Tally};

/// The figures of a set of answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedbackFigures {
    /// NPS answers.
    pub nps: Tally,
    /// NPS answers by category: detractors, passives, promoters.
    pub nps_categories: [u64; 3],
    /// CSAT answers.
    pub csat: Tally,
    /// CSAT answers of 4 or 5.
    pub csat_satisfied: u64,
    /// CES answers.
    pub ces: Tally,
    /// Reviews.
    pub reviews: Tally,
}

impl FeedbackFigures {
    /// Counts a survey answer.
    pub fn add(&mut self, kind: SurveyKind, score: u8) {
        match kind {
            SurveyKind::Nps => {
                self.nps.count += 1;
                self.nps.sum += u64::from(score);
                self.nps_categories[NpsCategory::of(score) as usize] += 1;
            }
            SurveyKind::Csat => {
                self.csat.count += 1;
                self.csat.sum += u64::from(score);
                if score >= 4 {
                    self.csat_satisfied += 1;
                }
            }
            SurveyKind::Ces => {
                self.ces.count += 1;
                self.ces.sum += u64::from(score);
            }
        }
    }

    /// Counts a review.
    pub fn add_review(&mut self, rating: u8) {
        self.reviews.count += 1;
        self.reviews.sum += u64::from(rating);
    }

    /// NPS: % promoters - % detractors (-100 to 100), once there is an answer.
    pub fn nps_score(&self) -> Option<f64> {
        let n = self.nps.count;
        (n > 0).then(|| {
            let [detractors, _, promoters] = self.nps_categories;
            100.0 * (promoters as f64 - detractors as f64) / n as f64
        })
    }

    /// CSAT: % of answers that are 4-5.
    pub fn csat_percent(&self) -> Option<f64> {
        let n = self.csat.count;
        (n > 0).then(|| 100.0 * self.csat_satisfied as f64 / n as f64)
    }
}

/// The feedback report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedbackReport {
    /// Over the whole period.
    pub total: FeedbackFigures,
    /// Per calendar month (UTC), `YYYY-MM`.
    pub months: BTreeMap<String, FeedbackFigures>,
    /// Per segment (by name), over the period, when segments were asked for.
    pub segments: BTreeMap<String, FeedbackFigures>,
}

/// One answer or review, as the report counts it.
#[derive(Clone, Copy, Debug)]
pub enum Counted {
    /// A survey answer.
    Answer(SurveyKind, u8),
    /// A review's rating.
    Review(u8),
}

impl FeedbackReport {
    /// Counts one answer given at `at` by a customer in `segments`.
    pub fn add(&mut self, at: DateTime<Utc>, what: Counted, segments: &[String]) {
        let month = format!("{:04}-{:02}", at.year(), at.month());
        let figures = std::iter::once(&mut self.total)
            .chain(std::iter::once(self.months.entry(month).or_default()));
        let count = |f: &mut FeedbackFigures| match what {
            Counted::Answer(kind, score) => f.add(kind, score),
            Counted::Review(rating) => f.add_review(rating),
        };
        figures.for_each(count);
        for s in segments {
            count(self.segments.entry(s.clone()).or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_is_promoters_less_detractors() {
        let mut f = FeedbackFigures::default();
        for score in [10, 9, 9, 8, 3] {
            f.add(SurveyKind::Nps, score);
        }
        f.add(SurveyKind::Csat, 5);
        f.add(SurveyKind::Csat, 2);
        assert_eq!(f.nps_score(), Some(40.0));
        assert_eq!(f.csat_percent(), Some(50.0));
    }
}
