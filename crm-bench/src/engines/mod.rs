//! The engines compared, behind one trait. Every engine stores the customers of
//! [`crate::data`], numbered `0..size` at load time; a workload names a customer by number.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

mod crm;
mod sled_raw;
mod sqlite;

/// The operations the workloads time.
pub trait Engine: Send + Sync {
    /// Stores customers `0..n` (relaxed durability, as fast as the engine allows).
    fn load(&self, n: u64) -> Result<()>;
    /// Creates customer `n`.
    fn create(&self, n: u64) -> Result<()>;
    /// Reads customer `n` by id, decoded.
    fn get(&self, n: u64) -> Result<()>;
    /// Finds customer `n` by email, decoded.
    fn lookup(&self, n: u64) -> Result<()>;
    /// Reads the first page of 50 customers at a lifecycle stage, decoded.
    fn list_stage(&self, stage: u8) -> Result<()>;
    /// Changes two fields of customer `n` (owner and one custom field); `i` varies the values.
    fn update(&self, n: u64, i: u64) -> Result<()>;
    /// Records purchase `i` of customer `n` with its summary.
    fn purchase(&self, n: u64, i: u64) -> Result<()>;
    /// Switches writes to durable (flushed before they return) or relaxed.
    fn set_durable(&self, durable: bool) -> Result<()>;
    /// Flushes everything (before the disk is measured).
    fn finish(&self) -> Result<()>;
}

/// Opens the engine named `name` in `dir` with a page cache of `cache_bytes`.
pub fn open_engine(name: &str, dir: &Path, cache_bytes: u64) -> Result<Arc<dyn Engine>> {
    Ok(match name {
        "crm" => Arc::new(crm::Crm::open(dir, crm_store::Embedded::Sled, cache_bytes)?),
        // crm-store on the fjall engine.
        "crm-fjall" => Arc::new(crm::Crm::open(
            dir,
            crm_store::Embedded::Fjall,
            cache_bytes,
        )?),
        // crm-store on PostgreSQL: the database is CRM_BENCH_POSTGRES_URL.
        "crm-postgres" => {
            let url = std::env::var("CRM_BENCH_POSTGRES_URL")
                .context("--engine crm-postgres needs CRM_BENCH_POSTGRES_URL")?;
            Arc::new(crm::Crm::open_postgres(dir, &url)?)
        }
        "sled" => Arc::new(sled_raw::RawSled::open(dir, cache_bytes)?),
        "sqlite" => Arc::new(sqlite::Sqlite::open(dir, cache_bytes)?),
        other => {
            bail!("unknown engine {other:?}: use crm, crm-fjall, crm-postgres, sled or sqlite")
        }
    })
}
