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
            ..SledOptions::new("")
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

/// Makes a test of every conformance story with `$on`.
macro_rules! every_story {
    ($on:ident) => {
        $on!(
            multi_key_writes_are_atomic,
            concurrent_transactions_serialize,
            ranges_are_ordered_and_bounded,
            snapshots_are_stable,
            snapshots_let_writers_commit,
            savepoints_undo_what_came_after,
            sync_makes_commits_durable,
            reopen_keeps_everything,
            reads_in_place_match_get,
        );
    };
}

every_story!(on_sled);

/// The same stories on fjall (feature `fjall`).
#[cfg(feature = "fjall")]
mod fjall {
    use std::path::PathBuf;

    use crm_store::engine::Engine;
    use crm_store::engine::conformance;
    use crm_store::engine::fjall::{FjallEngine, FjallOptions};

    /// Keys that start with `b` or `k` in keyspaces of their own: the stories' ranges cross
    /// from one keyspace to another.
    const OWN: &[u8] = b"bk";

    fn fjall_in(dir: PathBuf, own: &'static [u8]) -> impl Fn() -> Box<dyn Engine> {
        move || {
            let engine = FjallEngine::open(&FjallOptions {
                cache_bytes: 8 << 20,
                own_keyspaces: own.to_vec(),
                ..FjallOptions::new(dir.clone())
            });
            match engine {
                Ok(e) => Box::new(e),
                Err(e) => panic!("cannot open fjall in {}: {e}", dir.display()),
            }
        }
    }

    macro_rules! on_fjall {
        ($($story:ident),* $(,)?) => {$(
            #[test]
            fn $story() {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                conformance::$story(&fjall_in(dir.path().join("engine"), &[]));
            }
        )*};
    }

    every_story!(on_fjall);

    /// The same stories with some keys in keyspaces of their own.
    mod split {
        use super::*;

        macro_rules! on_split_fjall {
            ($($story:ident),* $(,)?) => {$(
                #[test]
                fn $story() {
                    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                    conformance::$story(&fjall_in(dir.path().join("engine"), OWN));
                }
            )*};
        }

        every_story!(on_split_fjall);
    }

    /// A directory remembers its engine: each engine refuses the other's, naming both.
    #[test]
    fn a_directory_of_one_engine_is_refused_by_the_other() {
        use crm_store::engine::sled::{SledEngine, SledOptions};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (sled_dir, fjall_dir) = (dir.path().join("sled"), dir.path().join("fjall"));
        drop(SledEngine::open(&SledOptions::new(&sled_dir)).unwrap_or_else(|e| panic!("{e}")));
        drop(FjallEngine::open(&FjallOptions::new(&fjall_dir)).unwrap_or_else(|e| panic!("{e}")));
        let Err(refused) = FjallEngine::open(&FjallOptions::new(&sled_dir)) else {
            panic!("fjall opened a sled directory");
        };
        assert!(
            refused.to_string().contains("holds a sled store"),
            "{refused}"
        );
        let Err(refused) = SledEngine::open(&SledOptions::new(&fjall_dir)) else {
            panic!("sled opened a fjall directory");
        };
        assert!(
            refused.to_string().contains("holds a fjall store"),
            "{refused}"
        );
    }

    /// A new store on fjall keeps customer records in a keyspace of their own: a customer
    /// created through the store is there, alone, when fjall opens the directory.
    #[test]
    fn a_new_store_keeps_customer_records_apart() {
        use crm_store::{Embedded, Store, StoreConfig};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("store");
        let store = Store::open_with(StoreConfig::new(&path).engine(Embedded::Fjall))
            .unwrap_or_else(|e| panic!("{e}"));
        let ada = store
            .customers()
            .create(crm_core::CustomerData::organization("Ada Ltd"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        let engine = FjallEngine::open(&FjallOptions::new(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(engine.own_keyspaces(), b"C");
        drop(engine);
        // fjall itself: the records' keyspace holds the record and nothing else.
        let db = fjall::Database::builder(&path)
            .open()
            .unwrap_or_else(|e| panic!("{e}"));
        let records = db
            .keyspace("crm-43", fjall::KeyspaceCreateOptions::default)
            .unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<Vec<u8>> = records
            .iter()
            .map(|g| g.key().unwrap_or_else(|e| panic!("{e}")).to_vec())
            .collect();
        assert_eq!(keys, [[&b"C"[..], &ada.id.0.to_be_bytes()].concat()]);
    }

    /// A store the previous release wrote (every key in one keyspace) opens as it is: its
    /// customers read, it takes new ones, `verify` is clean, and it stays in one keyspace. A
    /// backup of it restored into a new directory, as `crm-server migrate` does, is the same
    /// store with its records in a keyspace of their own.
    #[test]
    fn a_store_of_one_keyspace_opens_as_it_is_and_migrates_into_two() {
        use crm_store::{Embedded, Store, StoreConfig};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let old = dir.path().join("old");
        let config = |path: &std::path::Path| StoreConfig::new(path).engine(Embedded::Fjall);
        let names = |store: &Store| -> Vec<String> {
            let page = store
                .customers()
                .list(&crm_store::ListQuery {
                    page_size: 100,
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("{e}"));
            page.customers
                .iter()
                .map(|c| c.data.display_name.clone())
                .collect()
        };
        let create = |store: &Store, name: &str| {
            store
                .customers()
                .create(crm_core::CustomerData::organization(name), None)
                .unwrap_or_else(|e| panic!("{e}"));
        };
        let one_keyspace = |path: &std::path::Path| {
            FjallEngine::open(&FjallOptions::new(path)).unwrap_or_else(|e| panic!("{e}"))
        };

        let written = Store::open_on(Arc::new(one_keyspace(&old)), config(&old))
            .unwrap_or_else(|e| panic!("{e}"));
        create(&written, "Acme");
        create(&written, "Globex");
        drop(written);

        let reopened = Store::open_with(config(&old)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&reopened), ["Acme", "Globex"]);
        create(&reopened, "Initech");
        assert!(
            reopened
                .verify()
                .unwrap_or_else(|e| panic!("{e}"))
                .is_clean()
        );
        let mut backup = Vec::new();
        reopened
            .backup(&mut backup)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(reopened);
        assert_eq!(one_keyspace(&old).own_keyspaces(), b"");

        let new = dir.path().join("new");
        let (copy, _) =
            crm_store::restore(&backup[..], &new, config(&new)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&copy), ["Acme", "Globex", "Initech"]);
        assert!(copy.verify().unwrap_or_else(|e| panic!("{e}")).is_clean());
        drop(copy);
        assert_eq!(one_keyspace(&new).own_keyspaces(), b"C");
    }

    /// A creation interrupted before the main keyspace was made leaves a keyspace of its own
    /// behind: the stores opened next keep it, whatever their options say, so no key moves
    /// between one opening and the next.
    #[test]
    fn an_interrupted_creation_keeps_the_keyspace_it_made() {
        use crm_store::engine::Decision;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("store");
        let db = fjall::Database::builder(&path)
            .open()
            .unwrap_or_else(|e| panic!("{e}"));
        db.keyspace("crm-62", fjall::KeyspaceCreateOptions::default)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(db);
        for opening in 0..2 {
            let engine =
                FjallEngine::open(&FjallOptions::new(&path)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(engine.own_keyspaces(), b"b");
            if opening == 0 {
                engine
                    .transact_once(&mut |tx| {
                        tx.put(b"b1", b"kept");
                        Decision::Commit
                    })
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            assert_eq!(
                engine.get(b"b1").unwrap_or_else(|e| panic!("{e}")),
                Some(b"kept".to_vec())
            );
        }
    }

    /// A store keeps the split it was created with, whatever it is reopened with: one created
    /// before keyspaces of their own (all in one, as the previous release wrote it) stays
    /// whole, and one created with them keeps them. Its keys read the same either way.
    #[test]
    fn a_store_keeps_the_keyspaces_it_was_created_with() {
        use crm_store::engine::{Decision, KeyRange};
        use std::ops::Bound;
        let whole: KeyRange = (Bound::Unbounded, Bound::Unbounded);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (created, reopened) in [(&b""[..], OWN), (OWN, &b""[..]), (OWN, &b"ab"[..])] {
            let path = dir.path().join(format!("{created:?}-{reopened:?}"));
            let engine = fjall_in(path.clone(), created)();
            engine
                .transact_once(&mut |tx| {
                    for key in [&b"a1"[..], b"b1", b"b2", b"c1", b"k1", b"z1"] {
                        tx.put(key, key);
                    }
                    Decision::Commit
                })
                .unwrap_or_else(|e| panic!("{e}"));
            drop(engine);
            let engine = FjallEngine::open(&FjallOptions {
                own_keyspaces: reopened.to_vec(),
                ..FjallOptions::new(&path)
            })
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(engine.own_keyspaces(), created.to_vec());
            let keys: Vec<Vec<u8>> = engine
                .range(whole.clone(), false)
                .map(|e| e.unwrap_or_else(|e| panic!("{e}")).0)
                .collect();
            assert_eq!(keys, [&b"a1"[..], b"b1", b"b2", b"c1", b"k1", b"z1"]);
            assert_eq!(
                engine.get(b"k1").unwrap_or_else(|e| panic!("{e}")),
                Some(b"k1".to_vec())
            );
        }
    }
}

/// The same stories on PostgreSQL, each in a schema of its own, when `CRM_TEST_POSTGRES_URL`
/// names a database (CI sets it; without it they say so and do nothing).
#[cfg(feature = "postgres")]
mod postgres {
    use crm_store::engine::Engine;
    use crm_store::engine::conformance;
    use crm_store::engine::postgres::{PostgresEngine, PostgresOptions};

    fn url() -> Option<String> {
        let url = std::env::var("CRM_TEST_POSTGRES_URL").ok();
        if url.is_none() {
            eprintln!("CRM_TEST_POSTGRES_URL is not set: the PostgreSQL engine was not tested");
        }
        url
    }

    fn postgres_in(url: String, schema: String) -> impl Fn() -> Box<dyn Engine> {
        move || {
            let mut options = PostgresOptions::new(url.clone());
            options.schema = schema.clone();
            match PostgresEngine::open(&options) {
                Ok(e) => Box::new(e),
                Err(e) => panic!("cannot open PostgreSQL schema {schema}: {e}"),
            }
        }
    }

    macro_rules! on_postgres {
        ($($story:ident),* $(,)?) => {$(
            #[test]
            fn $story() {
                let Some(url) = url() else { return };
                let schema = format!("conf_{}_{}", stringify!($story), std::process::id());
                PostgresEngine::drop_schema(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
                conformance::$story(&postgres_in(url.clone(), schema.clone()));
                PostgresEngine::drop_schema(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
            }
        )*};
    }

    every_story!(on_postgres);
}
