//! SegmentFamily as a family: the segment (`G id`) and its name, unique case-insensitively (`H name`).

use crm_core::Segment;
use crm_core::segment::name_key;

use crate::error::UniqueField;
use crate::kv::family::{Family, Kept};
use crate::kv::keys;

/// The segment family.
#[derive(Debug)]
pub(crate) struct SegmentFamily;

impl Family for SegmentFamily {
    type Record = Segment;
    const NAME: &'static str = "segment";
    const PREFIX: &'static [u8] = &[keys::SEGMENT];

    fn key(s: &Segment) -> Vec<u8> {
        keys::segment(s.id).to_vec()
    }

    fn keep(s: &Segment, kept: &mut Kept) {
        kept.unique(
            keys::segment_name(&name_key(&s.data.name)),
            s.id.0.to_be_bytes(),
            UniqueField::SegmentName,
            s.data.name.clone(),
        );
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        vec![vec![keys::SEGMENT_NAME]]
    }

    fn owner_of(_key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        Some(keys::segment(crm_core::SegmentId(keys::u64_value(value)?)).to_vec())
    }
}
