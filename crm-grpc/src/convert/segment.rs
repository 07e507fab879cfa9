//! Segments between `crm.v1` messages and `crm-core` types.

use crm_core::{Segment, SegmentData, SegmentId, Violations};

use super::time_to_proto;
use crate::pb;

/// A segment as a message.
pub fn segment_to_proto(s: &Segment) -> pb::Segment {
    pb::Segment {
        id: s.id.to_string(),
        name: s.data.name.clone(),
        description: s.data.description.clone(),
        filter: s.data.filter.clone(),
        create_time: Some(time_to_proto(s.create_time)),
        update_time: Some(time_to_proto(s.update_time)),
        etag: s.etag(),
        purpose: super::privacy::purpose_to_proto(s.data.purpose),
    }
}

/// The writable fields of a `Segment` message.
pub fn segment_from_proto(s: pb::Segment) -> SegmentData {
    let pb::Segment {
        id: _,
        name,
        description,
        filter,
        create_time: _,
        update_time: _,
        etag: _,
        purpose,
    } = s;
    SegmentData {
        name,
        description,
        filter,
        purpose: super::privacy::purpose_from_proto(purpose),
    }
}

/// Parses a segment id, naming `field` in the violation.
pub fn parse_segment_id(field: &str, text: &str) -> Result<SegmentId, Violations> {
    text.trim()
        .parse()
        .map_err(|e: String| Violations::one(field, e))
}
