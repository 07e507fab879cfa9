//! The engine conformance suite on sled: every engine runs these same stories.

// Helpers and setup fail the test by panicking, as tests do.
#![allow(clippy::panic)]

use std::path::PathBuf;

use crm_store::engine::Engine;
use crm_store::engine::conformance;
use crm_store::engine::sled::{SledEngine, SledOptions};

/// Opens a sled engine in `dir` (the same directory every call).
fn sled_in(dir: PathBuf) -> impl Fn() -> Box<dyn Engine> {
    move || {
        let engine = SledEngine::open(&SledOptions {
            path: dir.clone(),
            cache_bytes: 8 << 20,
            flush_every_ms: None,
        });
        match engine {
            Ok(e) => Box::new(e),
            Err(e) => panic!("cannot open sled in {}: {e}", dir.display()),
        }
    }
}

macro_rules! on_sled {
    ($($story:ident),* $(,)?) => {$(
        #[test]
        fn $story() {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            conformance::$story(&sled_in(dir.path().join("engine")));
        }
    )*};
}

on_sled!(
    multi_key_writes_are_atomic,
    concurrent_transactions_serialize,
    ranges_are_ordered_and_bounded,
    snapshots_are_stable,
    sync_makes_commits_durable,
    reopen_keeps_everything,
);
