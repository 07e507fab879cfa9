//! Pipelines: created, read, listed, replaced whole with an etag, deleted while no deal is in
//! them. A replacement that moves a stage's probability, category or rotting threshold writes
//! the pipeline's open deals again in the same transaction, so every deal's rotting instant and
//! probability follow the pipeline in force.

use crm_core::Violations;
use crm_core::deals::{Deal, Pipeline, PipelineData, PipelineId};

use super::family::{DealFamily, PipelineFamily};
use super::{Deals, keys, not_now, refused};
use crate::audit::changes::{ChangeKind, EntityKind, EntityRef};
use crate::error::{Resource, Result, StoreError};
use crate::kv::codec;
use crate::write::Write;

/// A pipeline's etag: `v` and its version.
pub fn etag_of(p: &Pipeline) -> String {
    format!("v{}", p.version)
}

fn log_pipeline(w: &mut Write<'_>, p: &Pipeline, kind: ChangeKind, op: &str) -> Result<()> {
    let entity = EntityRef {
        kind: EntityKind::Pipeline,
        id: p.id.0,
    };
    let fields = match kind {
        ChangeKind::Deleted => Vec::new(),
        _ => vec!["name".into(), "stages".into()],
    };
    let now = w.store.now();
    w.log_change(entity, None, kind, p.version, now, fields, op)
}

impl Deals<'_> {
    /// Creates a pipeline. With a `request_id`, a repeat returns the first call's pipeline.
    ///
    /// Errors: [`StoreError::Invalid`] (no name, no stages, a stage key twice, a probability
    /// outside [0, 1]).
    pub fn create_pipeline(
        &self,
        mut data: PipelineData,
        request_id: Option<&str>,
    ) -> Result<Pipeline> {
        let mut v = match data.validate() {
            Ok(()) => Violations::default(),
            Err(v) => v.prefixed("pipeline"),
        };
        let request_id = request_id.map(str::trim).filter(|r| !r.is_empty());
        if let Some(rid) = request_id {
            crate::customers::check_request_id(&mut v, rid);
        }
        v.into_result(())?;
        self.write(|w| {
            if let Some(rid) = request_id
                && let Some(id) = crate::support::created_for(w, 5, rid)?
            {
                return w.pipeline(PipelineId(id));
            }
            let now = w.store.now();
            let id = PipelineId(w.next_id_in(crate::kv::keys::META_LAST_PIPELINE, now)?);
            let p = Pipeline {
                id,
                data: data.clone(),
                version: 1,
                create_time: now,
                update_time: now,
            };
            w.put_record::<PipelineFamily>(None, Some(&p))?;
            log_pipeline(w, &p, ChangeKind::Created, "CreatePipeline")?;
            if let Some(rid) = request_id {
                crate::support::remember_created(w, 5, rid, id.0);
            }
            Ok(p)
        })
    }

    /// Reads a pipeline. Errors: [`StoreError::NotFound`].
    pub fn get_pipeline(&self, id: PipelineId) -> Result<Pipeline> {
        match self.inner.engine.get(keys::pipeline(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("pipeline {id}")),
            None => Err(StoreError::NotFound(Resource::Pipeline(id))),
        }
    }

    /// Every pipeline, oldest first.
    pub fn list_pipelines(&self) -> Result<Vec<Pipeline>> {
        let prefix = [crate::kv::keys::PIPELINE];
        self.inner
            .engine
            .scan_prefix(&prefix)
            .map(|item| {
                let (key, value) = item?;
                codec::decode(&value, &|| crate::kv::keys::describe(&key))
            })
            .collect()
    }

    /// Replaces a pipeline's name and stages; with `etag`, only if it is still that version.
    /// Its deals follow the new stages at once.
    ///
    /// Errors: [`StoreError::Invalid`], [`StoreError::NotFound`], [`StoreError::Aborted`],
    /// [`StoreError::FailedPrecondition`] (`PIPELINE_IN_USE`: a removed stage holds deals).
    pub fn update_pipeline(
        &self,
        id: PipelineId,
        mut data: PipelineData,
        etag: Option<&str>,
    ) -> Result<Pipeline> {
        data.validate().map_err(|v| v.prefixed("pipeline"))?;
        self.write(|w| {
            let old = w.pipeline(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            if old.data == data {
                return Ok(old);
            }
            let now = w.store.now().max(old.update_time);
            let new = Pipeline {
                data: data.clone(),
                version: old.version + 1,
                update_time: now,
                ..old.clone()
            };
            for (key, _) in w.scan_prefix(&keys::by_pipeline_prefix(id))? {
                let Some(deal) = keys::trailing_deal(&key) else { continue };
                let before = w.existing_deal(deal)?;
                if new.data.stage(&before.data.stage).is_none() {
                    return Err(not_now(
                        "PIPELINE_IN_USE",
                        format!(
                            "deal {deal} is in stage {:?}, which the new stages leave out: move it first",
                            before.data.stage
                        ),
                    ));
                }
                let mut after: Deal = before.clone();
                after.settle(&new, now).map_err(refused)?;
                if after != before {
                    w.put_record::<DealFamily>(Some(&before), Some(&after))?;
                }
            }
            w.put_record::<PipelineFamily>(Some(&old), Some(&new))?;
            log_pipeline(w, &new, ChangeKind::Updated, "UpdatePipeline")?;
            Ok(new)
        })
    }

    /// Deletes a pipeline no deal is in; with `etag`, only if it is still that version.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Aborted`],
    /// [`StoreError::FailedPrecondition`] (`PIPELINE_IN_USE`).
    pub fn delete_pipeline(&self, id: PipelineId, etag: Option<&str>) -> Result<()> {
        self.write(|w| {
            let old = w.pipeline(id)?;
            crate::customers::check_etag(&etag_of(&old), etag)?;
            let deals = w.scan_prefix_first(&keys::by_pipeline_prefix(id), 1)?;
            if let Some((key, _)) = deals.first() {
                let deal = keys::trailing_deal(key)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                return Err(not_now(
                    "PIPELINE_IN_USE",
                    format!("deal {deal} is in this pipeline: delete or move its deals first"),
                ));
            }
            w.put_record::<PipelineFamily>(Some(&old), None)?;
            log_pipeline(w, &old, ChangeKind::Deleted, "DeletePipeline")
        })
    }
}
