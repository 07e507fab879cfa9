//! The duplicate and merge methods of `crm.v1.CustomerService`.

use crm_core::merge::{FieldSource, MergeRules};
use crm_core::{Customer, CustomerId, Violations};
use crm_store::{Store, StoreError};
use tonic::{Response, Status};

use crate::convert::{Sight, customer_view, parse_id};
use crate::pb;
use crate::services::common::blocking;
use crate::status::{Fields, invalid};

fn view(s: &Store, c: &Customer, sight: Sight) -> Result<pb::Customer, StoreError> {
    Ok(customer_view(c, &s.insights().insight(c)?, sight))
}

/// FindDuplicates.
pub(crate) async fn find(
    store: Store,
    request: pb::FindDuplicatesRequest,
    sight: Sight,
) -> Result<Response<pb::FindDuplicatesResponse>, Status> {
    let pb::FindDuplicatesRequest {
        min_score,
        max_groups,
    } = request;
    let mut v = Violations::default();
    let min_score = if min_score == 0.0 { 0.8 } else { min_score };
    if !(0.0..=1.0).contains(&min_score) || min_score.is_nan() {
        v.add("min_score", "must be between 0 and 1");
    }
    let limit = match max_groups {
        0 => 100,
        n if (1..=1000).contains(&n) => n as usize,
        _ => {
            v.add("max_groups", "must be 1 to 1,000 (0: 100)");
            0
        }
    };
    v.into_result(()).map_err(invalid)?;
    let groups = blocking(store, Fields::Request, move |s| {
        let groups = s.customers().find_duplicates(min_score, limit)?;
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let mut customers = Vec::with_capacity(g.members.len());
            for id in &g.members {
                match s.customers().get(*id) {
                    Ok(c) => customers.push(view(s, &c, sight)?),
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            out.push(pb::DuplicateGroup {
                customers,
                score: g.score,
                evidence: g.evidence.iter().map(|e| e.name().to_owned()).collect(),
            });
        }
        Ok(out)
    })
    .await?;
    Ok(Response::new(pb::FindDuplicatesResponse { groups }))
}

fn rules_from_proto(
    v: &mut Violations,
    rules: std::collections::HashMap<String, String>,
) -> MergeRules {
    let mut out = MergeRules::new();
    for (field, source) in rules {
        let parsed = match source.trim() {
            "" | "DEFAULT" => Some(FieldSource::Default),
            "SURVIVOR" => Some(FieldSource::Survivor),
            "NEWEST" => Some(FieldSource::Newest),
            "OLDEST" => Some(FieldSource::Oldest),
            id => match parse_id("id", id) {
                Ok(id) => Some(FieldSource::From(id)),
                Err(_) => {
                    v.add(
                        format!("field_rules[{field}]"),
                        format!(
                            "{source:?} is not SURVIVOR, NEWEST, OLDEST, DEFAULT or a customer id"
                        ),
                    );
                    None
                }
            },
        };
        if let Some(p) = parsed {
            out.insert(field, p);
        }
    }
    out
}

/// MergeCustomers.
pub(crate) async fn merge(
    store: Store,
    request: pb::MergeCustomersRequest,
    sight: Sight,
) -> Result<Response<pb::MergeCustomersResponse>, Status> {
    let pb::MergeCustomersRequest {
        survivor_id,
        merged_ids,
        field_rules,
    } = request;
    let mut v = Violations::default();
    let survivor = parse_id("survivor_id", &survivor_id)
        .map_err(|e| v.0.extend(e.0))
        .unwrap_or(CustomerId(0));
    let mut merged = Vec::new();
    for (i, id) in merged_ids.iter().enumerate() {
        match parse_id(&format!("merged_ids[{i}]"), id) {
            Ok(id) => merged.push(id),
            Err(e) => v.0.extend(e.0),
        }
    }
    let rules = rules_from_proto(&mut v, field_rules);
    v.into_result(()).map_err(invalid)?;
    let response = blocking(store, Fields::Request, move |s| {
        let record = s.customers().merge(survivor, &merged, &rules)?;
        let survivor = s.customers().get(record.survivor.id)?;
        Ok(pb::MergeCustomersResponse {
            survivor: Some(view(s, &survivor, sight)?),
            merge_id: record.id,
        })
    })
    .await?;
    Ok(Response::new(response))
}

/// UnmergeCustomers.
pub(crate) async fn unmerge(
    store: Store,
    request: pb::UnmergeCustomersRequest,
    sight: Sight,
) -> Result<Response<pb::UnmergeCustomersResponse>, Status> {
    let merge_id = request.merge_id;
    if merge_id == 0 {
        return Err(invalid(Violations::one("merge_id", "is required")));
    }
    let response = blocking(store, Fields::Request, move |s| {
        let restored = s.customers().unmerge(merge_id)?;
        let record = s.customers().merge_record(merge_id)?;
        let survivor = s.customers().get(record.survivor.id)?;
        Ok(pb::UnmergeCustomersResponse {
            survivor: Some(view(s, &survivor, sight)?),
            restored: restored
                .iter()
                .map(|c| view(s, c, sight))
                .collect::<Result<_, _>>()?,
        })
    })
    .await?;
    Ok(Response::new(response))
}
