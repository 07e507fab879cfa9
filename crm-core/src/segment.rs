//! Segments: saved filters with a name and a persona — "hot B2B leads in İstanbul", "loyal
//! customers about to sleep". A segment's members are the customers its filter matches, at the
//! moment they are listed or counted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::filter::Filter;
use crate::validate::{Violations, check_text};

/// Longest segment name (characters).
pub const MAX_SEGMENT_NAME_CHARS: usize = 100;
/// Longest persona description (characters).
pub const MAX_PERSONA_CHARS: usize = 2000;

/// A segment's identity, shown as 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SegmentId(pub u64);

impl std::fmt::Display for SegmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for SegmentId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a segment id is 16 hexadecimal digits".into());
        }
        u64::from_str_radix(s, 16)
            .map(SegmentId)
            .map_err(|e| e.to_string())
    }
}

/// What a client writes about a segment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentData {
    /// The segment's name, unique case-insensitively.
    pub name: String,
    /// The persona: who these customers are, for the people who act on the segment.
    pub description: String,
    /// The filter (the ListCustomers language) that selects the members.
    pub filter: String,
    /// The purpose the segment is used for (a marketing list declares `EmailMarketing`): its
    /// members are only the customers whose consent for it holds now.
    pub purpose: Option<crate::privacy::ConsentPurpose>,
}

/// A stored segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Assigned at creation.
    pub id: SegmentId,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub create_time: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub update_time: DateTime<Utc>,
    /// Starts at 1, grows with every update (the etag is `v` and the version).
    pub version: u64,
    /// What the client wrote.
    pub data: SegmentData,
}

impl Segment {
    /// The entity tag (AIP-154).
    pub fn etag(&self) -> String {
        format!("v{}", self.version)
    }
}

/// The key a name is unique under: trimmed and lower-cased.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Checks and normalizes a segment; returns its parsed filter. Field paths are relative to the
/// segment (`name`, `filter`).
pub fn validate_segment(s: &mut SegmentData) -> Result<Filter, Violations> {
    let mut v = Violations::default();
    check_text(&mut v, "name", &mut s.name, MAX_SEGMENT_NAME_CHARS);
    if s.name.is_empty() {
        v.add("name", "is required");
    }
    let trimmed = s.description.trim();
    if trimmed.len() != s.description.len() {
        s.description = trimmed.to_owned();
    }
    if s.description.chars().count() > MAX_PERSONA_CHARS {
        v.add(
            "description",
            format!("must be at most {MAX_PERSONA_CHARS} characters"),
        );
    }
    let filter = Filter::parse(&s.filter).unwrap_or_else(|e| {
        v.add("filter", e.to_string());
        Filter::All
    });
    s.filter = s.filter.trim().to_owned();
    v.into_result(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_needs_a_name_and_a_filter_that_parses() {
        let mut ok = SegmentData {
            purpose: None,
            name: "  Hot B2B leads ".into(),
            description: "Companies ready to buy".into(),
            filter: r#"kind = ORGANIZATION AND lead_temperature = "HOT""#.into(),
        };
        assert!(validate_segment(&mut ok).is_ok());
        assert_eq!(ok.name, "Hot B2B leads");
        assert_eq!(name_key(&ok.name), "hot b2b leads");
        let mut bad = SegmentData {
            purpose: None,
            name: String::new(),
            description: String::new(),
            filter: "kind = ROBOT".into(),
        };
        let fields: Vec<String> = validate_segment(&mut bad)
            .err()
            .unwrap_or_default()
            .0
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["name", "filter"]);
        assert_eq!("00000000000000ff".parse::<SegmentId>(), Ok(SegmentId(255)));
    }
}
