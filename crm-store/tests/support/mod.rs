//! What the store's test stories share: opening a store on the engine under test, and walking
//! every page of a listing.
//!
//! The stories are written against the engine contract: `open` puts the store on the engine
//! `CRM_TEST_ENGINE` names (`sled`, the default). An engine this build does not know fails the
//! test rather than skipping it.

// Not every story uses every helper; helpers fail the test by panicking.
#![allow(dead_code, clippy::panic)]

use crm_core::{CustomerId, Filter, OrderBy};
use crm_store::{ListQuery, Store, StoreConfig};

/// Opens a store with `config` on the engine under test. On PostgreSQL (`CRM_TEST_ENGINE=
/// postgres`, database `CRM_TEST_POSTGRES_URL`), the store's schema is named after
/// `config.path`, so opening the same directory again opens the same store.
pub fn open(config: StoreConfig) -> Store {
    let engine = std::env::var("CRM_TEST_ENGINE").unwrap_or_else(|_| "sled".into());
    let opened = match engine.as_str() {
        "sled" => Store::open_with(config),
        "fjall" => Store::open_with(config.engine(crm_store::Embedded::Fjall)),
        #[cfg(feature = "postgres")]
        "postgres" => on_postgres(config),
        other => panic!("CRM_TEST_ENGINE={other}: this build has no such engine"),
    };
    opened.unwrap_or_else(|e| panic!("open on {engine}: {e}"))
}

#[cfg(feature = "postgres")]
fn on_postgres(config: StoreConfig) -> crm_store::Result<Store> {
    use std::hash::{Hash, Hasher};

    use crm_store::engine::postgres::{PostgresEngine, PostgresOptions};

    let url = std::env::var("CRM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| panic!("CRM_TEST_ENGINE=postgres needs CRM_TEST_POSTGRES_URL"));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    config.path.hash(&mut hasher);
    let mut options = PostgresOptions::new(url);
    options.schema = format!("store_{:016x}", hasher.finish());
    options.pool_size = 4;
    let engine = PostgresEngine::open(&options)?;
    Store::open_on(std::sync::Arc::new(engine), config)
}

/// Opens a store in `dir` with the default configuration on the engine under test.
pub fn open_in(dir: &std::path::Path) -> Store {
    open(StoreConfig::new(dir))
}

/// Every customer a listing returns, page by page, in order.
pub fn walk(store: &Store, filter: &Filter, order: OrderBy, page_size: usize) -> Vec<CustomerId> {
    let mut query = ListQuery {
        filter: filter.clone(),
        order_by: order,
        page_size,
        page_token: String::new(),
    };
    let mut ids = Vec::new();
    loop {
        let page = store
            .customers()
            .list(&query)
            .unwrap_or_else(|e| panic!("list {filter:?}: {e}"));
        ids.extend(page.customers.iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        query.page_token = page.next_page_token;
    }
}

/// How many cases a property test runs: `n` on the embedded engines, half on PostgreSQL.
///
/// The properties are about the store's logic, which is the same on every engine (the engine's
/// own contract is the conformance suite's, run in full on each). On PostgreSQL every case
/// creates a schema and every write is a round trip and a commit on the server, so the same
/// cases take several times longer: in CI the longest property took six minutes there.
/// `CRM_TEST_CASES` sets the number on every engine (for a long run).
pub fn cases(n: u32) -> u32 {
    if let Some(set) = std::env::var("CRM_TEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return set;
    }
    match std::env::var("CRM_TEST_ENGINE").as_deref() {
        Ok("postgres") => n.div_ceil(2),
        _ => n,
    }
}
