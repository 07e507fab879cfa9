//! Segments: saved filters, stored beside the customers (`G id` -> segment, `H name` -> id, the
//! counter `Mlast_segment`). Members are never stored: they are the customers the filter matches
//! when listed or counted, so a segment never goes stale.

use std::ops::Bound;

use crm_core::segment::validate_segment;
use crm_core::{Filter, Segment, SegmentData, SegmentId, Violations};

pub(crate) mod family;

use crate::Store;
use crate::customers::check_etag;
use crate::customers::list::{CustomerPage, ListQuery};
use crate::error::{Resource, Result, StoreError};
use crate::kv::token::Listing;
use crate::kv::{codec, keys};
use crate::write::Write;
use family::SegmentFamily;

crate::store::handle!(
    /// Segments: saved filters, their members listed and counted as they are now.
    Segments,
    segments
);

/// One page of segments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentPage {
    /// The segments, in creation order.
    pub segments: Vec<Segment>,
    /// The token for the next page; empty on the last.
    pub next_page_token: String,
}

/// The fields of a segment an update can name.
pub const SEGMENT_FIELDS: [&str; 4] = ["name", "description", "filter", "purpose"];

fn invalid(v: Violations) -> StoreError {
    v.prefixed("segment").into()
}

impl Store {
    fn segment_filter(&self, id: SegmentId) -> Result<Filter> {
        let segment = self.segments().get(id)?;
        let filter = Filter::parse(&segment.data.filter).map_err(|e| StoreError::Corrupt {
            key: format!("segment {id}"),
            detail: format!("its stored filter no longer parses: {e}"),
        })?;
        // A segment for a purpose never lists anyone whose consent for it does not hold now.
        Ok(match segment.data.purpose {
            Some(purpose) => crm_core::filter::Expr::And(vec![
                filter,
                crm_core::filter::Expr::Term(crm_core::filter::Term::Consent(
                    crm_core::filter::Op::Eq,
                    purpose,
                    true,
                )),
            ]),
            None => filter,
        })
    }
}

/// How the audit trail names a segment.
fn subject(id: SegmentId) -> String {
    format!("segment {id}")
}

/// The fields of a segment that differ (contract names).
fn changed_fields(before: &SegmentData, after: &SegmentData) -> Vec<String> {
    [
        ("name", before.name != after.name),
        ("description", before.description != after.description),
        ("filter", before.filter != after.filter),
        ("purpose", before.purpose != after.purpose),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(field, _)| field.to_owned())
    .collect()
}

/// A segment as a write sees it, which must exist.
fn existing(w: &mut Write<'_>, id: SegmentId) -> Result<Segment> {
    w.read(&keys::segment(id), &|| format!("segment {id}"))?
        .ok_or(StoreError::NotFound(Resource::Segment(id)))
}

/// The part of `Store::verify` the family does not state: the id counter is at or above every
/// segment's id.
pub(crate) fn verify_counter(kv: &crate::kv::Kv, problems: &mut Vec<String>) -> Result<()> {
    let mut highest = 0;
    for item in kv.scan_prefix(&[keys::SEGMENT]) {
        let (key, _) = item?;
        highest = highest.max(keys::trailing_id(&key).map_or(0, |id| id.0));
    }
    let counter = kv
        .get(keys::META_LAST_SEGMENT)?
        .and_then(|v| keys::u64_value(&v))
        .unwrap_or(0);
    if highest > counter {
        problems.push(format!(
            "segment id {highest} is above the segment counter {counter}"
        ));
    }
    Ok(())
}

impl Segments<'_> {
    /// Saves a segment. Errors: [`StoreError::Invalid`] (no name, a filter that does not parse),
    /// [`StoreError::AlreadyExists`] (the name, case-insensitively).
    pub fn create(&self, mut data: SegmentData) -> Result<Segment> {
        validate_segment(&mut data).map_err(invalid)?;
        let now = self.now();
        self.write(|w| {
            let last = w.count(keys::META_LAST_SEGMENT)?;
            let segment = Segment {
                id: SegmentId(last + 1),
                create_time: now,
                update_time: now,
                version: 1,
                data: data.clone(),
            };
            w.put_raw(keys::META_LAST_SEGMENT, segment.id.0.to_be_bytes());
            w.put_record::<SegmentFamily>(None, Some(&segment))?;
            let blank = SegmentData::default();
            let fields = changed_fields(&blank, &segment.data);
            w.log_configuration("CreateSegment", subject(segment.id), fields)?;
            Ok(segment)
        })
    }

    /// Reads a segment. Errors: [`StoreError::NotFound`].
    pub fn get(&self, id: SegmentId) -> Result<Segment> {
        match self.inner.engine.get(keys::segment(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("segment {id}")),
            None => Err(StoreError::NotFound(Resource::Segment(id))),
        }
    }

    /// Lists segments in creation order, `page_size` at a time (0: 50; at most 1000).
    pub fn list(&self, page_size: usize, page_token: &str) -> Result<SegmentPage> {
        let page_size = crate::customers::list::page_size(page_size);
        let start = match self.open_token(page_token, Listing::Segments, "", &[keys::SEGMENT])? {
            None => Bound::Included(vec![keys::SEGMENT]),
            Some(after) => Bound::Excluded(after),
        };
        let mut segments = Vec::new();
        let mut scan =
            self.inner
                .engine
                .scan(start, Bound::Excluded(vec![keys::SEGMENT + 1]), false);
        let mut bytes = 0;
        let mut cut = false;
        for item in scan.by_ref() {
            let (key, value) = item?;
            bytes += value.len() + 64;
            segments.push(codec::decode::<Segment>(&value, &|| keys::describe(&key))?);
            cut = segments.len() == page_size || bytes >= crate::customers::list::MAX_PAGE_BYTES;
            if cut {
                break;
            }
        }
        let more = cut && scan.next().is_some();
        let next_page_token = match segments.last() {
            Some(s) if more => self
                .inner
                .tokens
                .seal(Listing::Segments, "", &keys::segment(s.id)),
            _ => String::new(),
        };
        Ok(SegmentPage {
            segments,
            next_page_token,
        })
    }

    /// Updates the fields `mask` names (`name`, `description`, `filter`, `purpose`; empty: all) from
    /// `patch`; with `etag`, only if the segment is still at that version.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`], [`StoreError::Invalid`],
    /// [`StoreError::AlreadyExists`].
    pub fn update(
        &self,
        id: SegmentId,
        patch: SegmentData,
        mask: &[String],
        etag: Option<&str>,
    ) -> Result<Segment> {
        let mut v = Violations::default();
        for path in mask {
            if !SEGMENT_FIELDS.contains(&path.as_str()) {
                v.add(
                    "update_mask",
                    format!(
                        "{path:?} is not a field of a segment (name, description, filter, purpose)"
                    ),
                );
            }
        }
        v.into_result(())?;
        let now = self.now();
        self.write(|w| {
            let current = existing(w, id)?;
            check_etag(&current.etag(), etag)?;
            let all = mask.is_empty();
            let wants = |f: &str| all || mask.iter().any(|m| m == f);
            let mut data = current.data.clone();
            if wants("name") {
                data.name = patch.name.clone();
            }
            if wants("description") {
                data.description = patch.description.clone();
            }
            if wants("filter") {
                data.filter = patch.filter.clone();
            }
            if wants("purpose") {
                data.purpose = patch.purpose;
            }
            validate_segment(&mut data).map_err(invalid)?;
            if data == current.data {
                return Ok(current);
            }
            let fields = changed_fields(&current.data, &data);
            let updated = Segment {
                update_time: now.max(current.update_time),
                version: current.version + 1,
                data,
                ..current.clone()
            };
            w.put_record::<SegmentFamily>(Some(&current), Some(&updated))?;
            w.log_configuration("UpdateSegment", subject(id), fields)?;
            Ok(updated)
        })
    }

    /// Deletes a segment (never its members). Errors: [`StoreError::NotFound`],
    /// [`StoreError::Aborted`].
    pub fn delete(&self, id: SegmentId, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let current = existing(w, id)?;
            check_etag(&current.etag(), etag)?;
            w.put_record::<SegmentFamily>(Some(&current), None)?;
            w.log_configuration("DeleteSegment", subject(id), Vec::new())
        })
    }

    /// One page of a segment's members: exactly `ListCustomers` with the segment's filter.
    pub fn members(
        &self,
        id: SegmentId,
        page_size: usize,
        page_token: String,
    ) -> Result<CustomerPage> {
        self.customers()
            .list(&self.segments().members_query(id, page_size, page_token)?)
    }

    /// The listing of a segment's members: its filter, in `create_time` order (for
    /// [`Store::list_customers_with_insights`]).
    ///
    /// Errors: [`StoreError::NotFound`] (no such segment).
    pub fn members_query(
        &self,
        id: SegmentId,
        page_size: usize,
        page_token: String,
    ) -> Result<ListQuery> {
        Ok(ListQuery {
            filter: self.segment_filter(id)?,
            page_size,
            page_token,
            ..ListQuery::default()
        })
    }

    /// How many customers the segment's filter matches now. A filter of equalities on kind
    /// and stage (or none) is answered from the counts kept in the write batch, one equality
    /// on relationship status or lead temperature from the derived index; any other filter by
    /// one streaming pass over the customers its best index names (all of them without one).
    pub fn count(&self, id: SegmentId) -> Result<u64> {
        let filter = self.segment_filter(id)?;
        if let Some(n) = self.count_without_records(&filter)? {
            return Ok(n);
        }
        let mut count = 0;
        let mut page_token = String::new();
        loop {
            let page = self.customers().list(&ListQuery {
                filter: filter.clone(),
                page_size: crate::customers::list::MAX_PAGE_SIZE,
                page_token,
                ..ListQuery::default()
            })?;
            count += page.customers.len() as u64;
            if page.next_page_token.is_empty() {
                return Ok(count);
            }
            page_token = page.next_page_token;
        }
    }
}

/// A version-1 segment (before `purpose`) as today's, for no purpose.
pub(crate) fn legacy_v1(body: &[u8]) -> std::result::Result<Segment, String> {
    #[derive(serde::Deserialize)]
    struct DataV1 {
        name: String,
        description: String,
        filter: String,
    }
    #[derive(serde::Deserialize)]
    struct SegmentV1 {
        id: SegmentId,
        #[serde(with = "chrono::serde::ts_microseconds")]
        create_time: chrono::DateTime<chrono::Utc>,
        #[serde(with = "chrono::serde::ts_microseconds")]
        update_time: chrono::DateTime<chrono::Utc>,
        version: u64,
        data: DataV1,
    }
    let old: SegmentV1 = codec::body(body)?;
    Ok(Segment {
        id: old.id,
        create_time: old.create_time,
        update_time: old.update_time,
        version: old.version,
        data: SegmentData {
            name: old.data.name,
            description: old.data.description,
            filter: old.data.filter,
            purpose: None,
        },
    })
}
