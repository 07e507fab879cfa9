//! Deals and pipelines as families: what a deal implies (its indexes and its place in the
//! rotting schedule), stated once for the write path and `verify`.

use crm_core::deals::{Deal, Pipeline};

use super::keys;
use crate::kv::family::{Family, Kept};
use crate::kv::keys::{DEAL, DEAL_KEPT, PIPELINE};

/// The deal family.
#[derive(Debug)]
pub(crate) struct DealFamily;

impl Family for DealFamily {
    type Record = Deal;
    const NAME: &'static str = "deal";
    const PREFIX: &'static [u8] = &[DEAL];

    fn key(d: &Deal) -> Vec<u8> {
        keys::deal(d.id).to_vec()
    }

    fn keep(d: &Deal, kept: &mut Kept) {
        kept.index(keys::by_status(d.status, d.id), []);
        kept.index(keys::by_customer(d.data.customer_id, d.id), []);
        if let Some(o) = &d.data.owner {
            kept.index(keys::by_owner(o, d.id), []);
        }
        kept.index(keys::by_stage(&d.data.stage, d.id), []);
        if let Some(t) = d.rots_at {
            kept.index(keys::rots_at(t, d.id), []);
        }
        kept.index(keys::by_pipeline(d.data.pipeline_id, d.id), []);
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        vec![vec![DEAL_KEPT]]
    }

    fn describe(key: &[u8]) -> String {
        match keys::trailing_deal(key) {
            Some(id) if key.len() == 9 => format!("deal {id}"),
            _ => crate::kv::keys::describe(key),
        }
    }

    fn owner_of(key: &[u8], _value: &[u8]) -> Option<Vec<u8>> {
        keys::trailing_deal(key).map(|id| keys::deal(id).to_vec())
    }
}

/// The pipeline family: pipelines imply nothing else.
#[derive(Debug)]
pub(crate) struct PipelineFamily;

impl Family for PipelineFamily {
    type Record = Pipeline;
    const NAME: &'static str = "pipeline";
    const PREFIX: &'static [u8] = &[PIPELINE];

    fn key(p: &Pipeline) -> Vec<u8> {
        keys::pipeline(p.id).to_vec()
    }

    fn keep(_: &Pipeline, _: &mut Kept) {}

    fn kept_prefixes() -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn describe(key: &[u8]) -> String {
        match key.get(1..9).and_then(|b| b.try_into().ok()) {
            Some(b) => format!(
                "pipeline {}",
                crm_core::deals::PipelineId(u64::from_be_bytes(b))
            ),
            None => crate::kv::keys::describe(key),
        }
    }
}
