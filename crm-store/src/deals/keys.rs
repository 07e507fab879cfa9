//! The deals domain's keys, under the first bytes `keys.rs` allocates to it:
//!
//! - `p id` -> a pipeline;
//! - `d id` -> a deal;
//! - `f 1 status id` -> empty: deals by status;
//! - `f 2 customer id` -> empty: a customer's deals;
//! - `f 3 owner 0 id` -> empty: deals by owner;
//! - `f 4 stage 0 id` -> empty: deals by stage key;
//! - `f 5 rots_at id` -> empty: open deals by the instant they start rotting, so
//!   `rotting = true` at any instant is the range up to it;
//! - `f 6 pipeline id` -> empty: a pipeline's deals.

use chrono::{DateTime, Utc};
use crm_core::CustomerId;
use crm_core::deals::{DealId, DealStatus, PipelineId};

use crate::kv::keys::{DEAL, DEAL_KEPT, PIPELINE, time_bytes};

const BY_STATUS: u8 = 1;
const BY_CUSTOMER: u8 = 2;
const BY_OWNER: u8 = 3;
const BY_STAGE: u8 = 4;
const ROTS_AT: u8 = 5;
const BY_PIPELINE: u8 = 6;

pub(crate) fn pipeline(id: PipelineId) -> [u8; 9] {
    let mut k = [PIPELINE; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn deal(id: DealId) -> [u8; 9] {
    let mut k = [DEAL; 9];
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

fn with_id(mut key: Vec<u8>, id: DealId) -> Vec<u8> {
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

fn text(kind: u8, t: &str) -> Vec<u8> {
    let mut k = vec![DEAL_KEPT, kind];
    k.extend_from_slice(t.as_bytes());
    k.push(0);
    k
}

pub(crate) fn by_status_prefix(s: DealStatus) -> Vec<u8> {
    vec![DEAL_KEPT, BY_STATUS, s as u8]
}

pub(crate) fn by_status(s: DealStatus, id: DealId) -> Vec<u8> {
    with_id(by_status_prefix(s), id)
}

pub(crate) fn by_customer_prefix(c: CustomerId) -> Vec<u8> {
    let mut k = vec![DEAL_KEPT, BY_CUSTOMER];
    k.extend_from_slice(&c.0.to_be_bytes());
    k
}

pub(crate) fn by_customer(c: CustomerId, id: DealId) -> Vec<u8> {
    with_id(by_customer_prefix(c), id)
}

pub(crate) fn by_owner_prefix(owner: &str) -> Vec<u8> {
    text(BY_OWNER, owner)
}

pub(crate) fn by_owner(owner: &str, id: DealId) -> Vec<u8> {
    with_id(by_owner_prefix(owner), id)
}

pub(crate) fn by_stage_prefix(stage: &str) -> Vec<u8> {
    text(BY_STAGE, stage)
}

pub(crate) fn by_stage(stage: &str, id: DealId) -> Vec<u8> {
    with_id(by_stage_prefix(stage), id)
}

pub(crate) fn rots_at_start() -> Vec<u8> {
    vec![DEAL_KEPT, ROTS_AT]
}

/// The rotting schedule's keys at or before `t` sort below this.
pub(crate) fn rots_at_before(t: DateTime<Utc>) -> Vec<u8> {
    let mut k = rots_at_start();
    k.extend_from_slice(&time_bytes(t));
    k
}

pub(crate) fn rots_at(t: DateTime<Utc>, id: DealId) -> Vec<u8> {
    with_id(rots_at_before(t), id)
}

pub(crate) fn by_pipeline_prefix(p: PipelineId) -> Vec<u8> {
    let mut k = vec![DEAL_KEPT, BY_PIPELINE];
    k.extend_from_slice(&p.0.to_be_bytes());
    k
}

pub(crate) fn by_pipeline(p: PipelineId, id: DealId) -> Vec<u8> {
    with_id(by_pipeline_prefix(p), id)
}

/// The deal id an `f` entry ends with.
pub(crate) fn trailing_deal(key: &[u8]) -> Option<DealId> {
    let tail = key.len().checked_sub(8).map(|at| &key[at..])?;
    Some(DealId(u64::from_be_bytes(tail.try_into().ok()?)))
}
