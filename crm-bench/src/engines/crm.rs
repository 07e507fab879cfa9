//! crm-store, used as an application links it.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::{Context, Result};
use crm_core::timeline::Purchase;
use crm_core::{CustomerData, CustomerId, Filter, Money, Party, Person, UpdateMask};
use crm_store::{Durability, Embedded, EntryMeta, ListQuery, Store, StoreConfig};

use super::Engine;
use crate::data;

pub struct Crm {
    dir: PathBuf,
    /// The embedded engine under crm-store (sled, fjall); unused on PostgreSQL.
    engine: Embedded,
    cache_bytes: u64,
    /// On PostgreSQL: the database and the schema (durability is the database's).
    postgres: Option<(String, String)>,
    /// `None` only for the moment the store is reopened in another durability mode.
    store: RwLock<Option<Store>>,
    ids: RwLock<Vec<CustomerId>>,
    filters: Vec<Filter>,
    mask: UpdateMask,
}

fn open(dir: &Path, engine: Embedded, durability: Durability, cache_bytes: u64) -> Result<Store> {
    Store::open_with(
        StoreConfig::new(dir)
            .engine(engine)
            .durability(durability)
            .cache_bytes(cache_bytes),
    )
    .context("opening crm-store")
}

fn open_postgres(dir: &Path, url: &str, schema: &str) -> Result<Store> {
    use crm_store::engine::postgres::{PostgresEngine, PostgresOptions};
    let mut options = PostgresOptions::new(url);
    options.schema = schema.into();
    let engine = PostgresEngine::open(&options).context("opening PostgreSQL")?;
    Store::open_on(std::sync::Arc::new(engine), StoreConfig::new(dir))
        .context("opening crm-store on PostgreSQL")
}

impl Crm {
    /// crm-store on the embedded `engine`.
    pub fn open(dir: &Path, engine: Embedded, cache_bytes: u64) -> Result<Crm> {
        let store = open(dir, engine, Durability::Relaxed, cache_bytes)?;
        Crm::on(dir, engine, cache_bytes, store, None)
    }

    fn on(
        dir: &Path,
        engine: Embedded,
        cache_bytes: u64,
        store: Store,
        postgres: Option<(String, String)>,
    ) -> Result<Crm> {
        let filters = crm_core::LifecycleStage::ALL
            .iter()
            .map(|s| Filter::parse(&format!("lifecycle_stage = {}", s.name())))
            .collect::<Result<_, _>>()?;
        Ok(Crm {
            dir: dir.to_path_buf(),
            engine,
            store: RwLock::new(Some(store)),
            cache_bytes,
            postgres,
            ids: RwLock::new(Vec::new()),
            filters,
            mask: UpdateMask::parse(&["owner", "attributes.plan"])?,
        })
    }

    /// crm-store on PostgreSQL (`url`), in a schema of its own that starts empty.
    pub fn open_postgres(dir: &Path, url: &str) -> Result<Crm> {
        let schema = format!("bench_{}", std::process::id());
        crm_store::engine::postgres::PostgresEngine::drop_schema(url, &schema)?;
        let store = open_postgres(dir, url, &schema)?;
        Crm::on(
            dir,
            Embedded::Sled,
            0,
            store,
            Some((url.to_owned(), schema)),
        )
    }

    fn store(&self) -> Result<Store> {
        let guard = self.store.read().unwrap_or_else(|e| e.into_inner());
        guard.clone().context("the store failed to reopen")
    }

    fn id(&self, n: u64) -> CustomerId {
        let ids = self.ids.read().unwrap_or_else(|e| e.into_inner());
        ids.get(n as usize).copied().unwrap_or(CustomerId(0))
    }
}

impl Engine for Crm {
    fn load(&self, n: u64) -> Result<()> {
        let store = self.store()?;
        let mut ids = Vec::with_capacity(n as usize);
        for i in 0..n {
            ids.push(store.customers().create(data::customer_data(i), None)?.id);
        }
        *self.ids.write().unwrap_or_else(|e| e.into_inner()) = ids;
        store.flush()?;
        Ok(())
    }

    fn create(&self, n: u64) -> Result<()> {
        self.store()?
            .customers()
            .create(data::customer_data(n), None)?;
        Ok(())
    }

    fn get(&self, n: u64) -> Result<()> {
        self.store()?.customers().get(self.id(n))?;
        Ok(())
    }

    fn lookup(&self, n: u64) -> Result<()> {
        self.store()?.customers().lookup_by_email(&data::email(n))?;
        Ok(())
    }

    fn list_stage(&self, stage: u8) -> Result<()> {
        let page = self.store()?.customers().list(&ListQuery {
            filter: self.filters[stage as usize % 6].clone(),
            page_size: 50,
            ..ListQuery::default()
        })?;
        anyhow::ensure!(!page.customers.is_empty(), "an empty page");
        Ok(())
    }

    fn update(&self, n: u64, i: u64) -> Result<()> {
        let mut patch = CustomerData::new(Party::Person(Person::default()));
        patch.owner = Some(format!("owner{}", i % 20 + 100));
        patch.attributes.insert("plan".into(), format!("plan{i}"));
        self.store()?
            .customers()
            .update(self.id(n), &patch, &self.mask, None)?;
        Ok(())
    }

    fn purchase(&self, n: u64, i: u64) -> Result<()> {
        let purchase = Purchase {
            order_ref: format!("SO-{i}"),
            amount: Money::new("TRY", 10_000 + i as i64),
            line_items: Vec::new(),
        };
        self.store()?
            .timeline()
            .record_purchase(self.id(n), purchase, EntryMeta::default())?;
        Ok(())
    }

    fn set_durable(&self, durable: bool) -> Result<()> {
        if self.postgres.is_some() {
            // Every PostgreSQL commit is durable when acknowledged: there is no relaxed mode.
            return Ok(());
        }
        let mut guard = self.store.write().unwrap_or_else(|e| e.into_inner());
        let mode = if durable {
            Durability::Durable
        } else {
            Durability::Relaxed
        };
        // Close the store (the last handle) before opening it again in the other mode.
        if let Some(old) = guard.take() {
            old.flush()?;
        }
        *guard = Some(open(&self.dir, self.engine, mode, self.cache_bytes)?);
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        self.store()?.flush()?;
        Ok(())
    }
}
