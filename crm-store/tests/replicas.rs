//! Several stores on one PostgreSQL database, as several crm-server replicas run: uniqueness,
//! etags, the change log's order, the scoring model and leases hold across them. Runs when
//! `CRM_TEST_POSTGRES_URL` names a database (CI sets it); without it, it says so.

// Helpers and setup fail the test by panicking, as tests do.
#![allow(clippy::panic)]
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use crm_core::{CustomerData, Email, UpdateMask};
use crm_store::engine::postgres::{PostgresEngine, PostgresOptions};
use crm_store::{Store, StoreConfig, StoreError, UniqueField};

/// `n` stores ("replicas") on one fresh schema.
fn replicas(n: usize, schema: &str) -> Option<Vec<Store>> {
    let Ok(url) = std::env::var("CRM_TEST_POSTGRES_URL") else {
        eprintln!("CRM_TEST_POSTGRES_URL is not set: the replica stories did not run");
        return None;
    };
    PostgresEngine::drop_schema(&url, schema).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let stores = (0..n)
        .map(|_| {
            let mut options = PostgresOptions::new(url.clone());
            options.schema = schema.into();
            options.pool_size = 8;
            let engine = PostgresEngine::open(&options).unwrap_or_else(|e| panic!("{e}"));
            Store::open_on(Arc::new(engine), StoreConfig::new(dir.path()))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    Some(stores)
}

fn with_email(name: &str, email: &str) -> CustomerData {
    let mut c = CustomerData::person(name);
    c.emails.push(Email {
        address: email.into(),
        label: String::new(),
        primary: true,
    });
    c
}

#[test]
fn three_replicas_agree_on_uniqueness_etags_the_log_the_model_and_leases() {
    let schema = format!("replicas_{}", std::process::id());
    let Some(stores) = replicas(3, &schema) else {
        return;
    };

    // 24 writers through the three replicas race for one email: exactly one wins.
    let outcomes: Vec<Result<String, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let store = stores[i % 3].clone();
                s.spawn(move || {
                    store
                        .customers()
                        .create(with_email(&format!("W{i}"), "race@example.com"), None)
                        .map(|c| c.id.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("a writer panicked")))
            .collect()
    });
    let winners: Vec<_> = outcomes.iter().filter(|o| o.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(
            matches!(
                lost,
                StoreError::AlreadyExists {
                    field: UniqueField::Email { index: 0 },
                    ..
                }
            ),
            "{lost:?}"
        );
    }
    let winner = stores[1]
        .customers()
        .lookup_by_email("race@example.com")
        .unwrap_or_else(|e| panic!("{e}"));

    // Every replica updates with the same etag: exactly one succeeds, the others are told.
    let etag = winner.etag();
    let mask = UpdateMask::parse(&["owner"]).unwrap_or_else(|e| panic!("{e}"));
    let updates: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (store, etag, mask) = (stores[i % 3].clone(), etag.clone(), mask.clone());
                let mut patch = winner.data.clone();
                patch.owner = Some(format!("owner{i}"));
                let id = winner.id;
                s.spawn(move || {
                    store
                        .customers()
                        .update(id, &patch, &mask, Some(&etag))
                        .map(drop)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("an updater panicked")))
            .collect()
    });
    assert_eq!(
        updates.iter().filter(|u| u.is_ok()).count(),
        1,
        "{updates:?}"
    );
    assert!(
        updates
            .iter()
            .filter_map(|u| u.as_ref().err())
            .all(|e| matches!(e, StoreError::Aborted { .. })),
        "{updates:?}"
    );

    // Concurrent creates through all three: the change log, read through any replica, is
    // gap-free and holds every acknowledged write once.
    let created: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let store = stores[i % 3].clone();
                s.spawn(move || {
                    (0..5)
                        .map(|j| {
                            store
                                .customers()
                                .create(CustomerData::person(format!("P{i}-{j}")), None)
                                .map(|c| c.id.to_string())
                                .unwrap_or_else(|e| panic!("{e}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| panic!("a creator panicked")))
            .collect()
    });
    assert_eq!(created.len(), 120);
    for store in &stores {
        let log = store
            .audit()
            .changes(0, 10_000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            log.windows(2).all(|w| w[1].seq == w[0].seq + 1),
            "the log has a gap"
        );
        let logged: std::collections::BTreeSet<String> = log
            .iter()
            .filter_map(|c| c.customer_id.map(|id| id.to_string()))
            .collect();
        assert!(
            created.iter().all(|id| logged.contains(id)),
            "a create is not logged"
        );
    }

    // A model replaced through one replica is the model of all of them.
    let mut model = stores[0].insights().scoring_model().as_ref().clone();
    model.hot_threshold = model
        .hot_threshold
        .saturating_sub(1)
        .max(model.warm_threshold + 1);
    let replaced = stores[0]
        .insights()
        .replace_scoring_model(model, None)
        .unwrap_or_else(|e| panic!("{e}"));
    for store in &stores {
        assert_eq!(store.insights().scoring_model().version, replaced.version);
    }

    // A lease is held by one replica at a time, and its holder can renew it.
    let ttl = Duration::from_secs(30);
    let taken: Vec<bool> = stores
        .iter()
        .map(|s| s.take_lease("story", ttl).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(taken, [true, false, false]);
    assert!(
        stores[0]
            .take_lease("story", ttl)
            .unwrap_or_else(|e| panic!("{e}"))
    );
    assert!(
        !stores[2]
            .take_lease("story", ttl)
            .unwrap_or_else(|e| panic!("{e}"))
    );

    // Every replica sees one consistent store.
    for store in &stores {
        let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!(report.customers, 121);
    }
    if let Ok(url) = std::env::var("CRM_TEST_POSTGRES_URL") {
        drop(stores);
        PostgresEngine::drop_schema(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn tables_or_data_of_another_version_are_refused() {
    let Ok(url) = std::env::var("CRM_TEST_POSTGRES_URL") else {
        eprintln!("CRM_TEST_POSTGRES_URL is not set: the version story did not run");
        return;
    };
    let schema = format!("versions_{}", std::process::id());
    PostgresEngine::drop_schema(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
    let mut options = PostgresOptions::new(url.clone());
    options.schema = schema.clone();
    let open = || PostgresEngine::open(&options);

    // crm's own data format, one level up: another version is UnsupportedFormat, as on sled.
    {
        let engine = open().unwrap_or_else(|e| panic!("{e}"));
        crm_store::engine::transact(&engine, |tx| {
            tx.put(b"Mformat", &[9]);
            Ok::<_, crm_store::engine::EngineError>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let refused = Store::open_on(Arc::new(engine), StoreConfig::new(dir.path()));
        assert!(
            matches!(
                refused,
                Err(StoreError::UnsupportedFormat { supported: 3, .. })
            ),
            "{refused:?}"
        );
    }

    // The tables themselves, at another version of crm's schema: refused before anything runs.
    let mut client = postgres_client(&url);
    client
        .batch_execute(&format!("UPDATE {schema}.crm_schema SET version = 99"))
        .unwrap_or_else(|e| panic!("{e}"));
    match open() {
        Err(e) => assert!(e.to_string().contains("version 99"), "{e}"),
        Ok(_) => panic!("tables of version 99 were opened"),
    }
    PostgresEngine::drop_schema(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
}

fn postgres_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_statement_past_its_time_limit_is_a_timeout_and_writes_nothing() {
    let Ok(url) = std::env::var("CRM_TEST_POSTGRES_URL") else {
        eprintln!("CRM_TEST_POSTGRES_URL is not set: the timeout story did not run");
        return;
    };
    let schema = format!("timeouts_{}", std::process::id());
    PostgresEngine::drop_schema(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
    let mut options = PostgresOptions::new(url.clone());
    options.schema = schema.clone();
    options.statement_timeout = Duration::from_millis(20);
    let engine = PostgresEngine::open(&options).unwrap_or_else(|e| panic!("{e}"));
    // One transaction writing 200,000 keys: its one upsert statement takes far longer than 20 ms.
    let outcome = crm_store::engine::transact(&engine, |tx| {
        for i in 0u32..200_000 {
            tx.put(&i.to_be_bytes(), &[0; 64]);
        }
        Ok::<_, crm_store::engine::EngineError>(())
    });
    assert!(
        matches!(outcome, Err(crm_store::engine::EngineError::Timeout { .. })),
        "{outcome:?}"
    );
    use crm_store::engine::{Engine as _, EngineError};
    // Nothing was written: a reader without the short limit sees no key.
    let mut patient = PostgresOptions::new(url.clone());
    patient.schema = schema.clone();
    let reader = PostgresEngine::open(&patient).unwrap_or_else(|e| panic!("{e}"));
    for probe in [0u32, 100_000, 199_999] {
        let read = reader.get(&probe.to_be_bytes());
        assert!(matches!(read, Ok(None)), "key {probe}: {read:?}");
    }
    // And the engine that timed out hands out only clean connections: no later read meets a
    // transaction left aborted. Its own reads run under the 20 ms limit too, so on a busy
    // machine one may time out; none may fail otherwise.
    for _ in 0..20 {
        let read = engine.get(&0u32.to_be_bytes());
        assert!(
            matches!(read, Ok(None) | Err(EngineError::Timeout { .. })),
            "{read:?}"
        );
    }
    PostgresEngine::drop_schema(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
}

/// Three replicas run the rule worker (as every server does) while writers create customers
/// through all of them; one more thread runs passes without the lease, as a replica whose lease
/// expired mid-pass would. Every customer is welcomed exactly once: the cursor moves in the
/// same serializable transaction as the actions, so two passes over one range cannot both
/// commit.
#[test]
fn replicas_running_the_rule_worker_fire_each_event_once() {
    use crm_core::automation::{Action, Operation, RuleData, Trigger, Watched};
    use std::sync::atomic::{AtomicBool, Ordering};
    let schema = format!("replicas_rules_{}", std::process::id());
    let Some(stores) = replicas(3, &schema) else {
        return;
    };
    stores[0]
        .automation()
        .create_rule(
            RuleData {
                name: "welcome".into(),
                enabled: true,
                trigger: Trigger::Change {
                    entity: Watched::Customer,
                    operations: vec![Operation::Created],
                    fields: vec![],
                    filter: String::new(),
                },
                actions: vec![Action::CreateTask {
                    title: "Welcome".into(),
                    due_in_minutes: 60,
                    owner: Some("welcome".into()),
                }],
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers: Vec<_> = stores
        .iter()
        .map(|s| {
            let (s, stop) = (s.clone(), Arc::clone(&stop));
            std::thread::spawn(move || s.automation().serve(&|| stop.load(Ordering::Relaxed)))
        })
        .collect();
    {
        let (s, stop) = (stores[1].clone(), Arc::clone(&stop));
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = s.automation().run_once() {
                    eprintln!("a pass without the lease failed: {e}");
                }
            }
        }));
    }
    let writers: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(r, s)| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..60 {
                    s.customers()
                        .create(CustomerData::person(format!("R{r} {i}")), None)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap_or_else(|_| panic!("a writer panicked"));
    }
    let store = &stores[2];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let caught_up = store.automation().cursor().unwrap_or_default()
            >= store.audit().last_change_seq().unwrap_or_default();
        let made = store
            .tasks()
            .list_tasks(&crm_store::tasks::TaskQuery {
                page_size: 1000,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .tasks;
        if (caught_up && made.len() >= 180) || std::time::Instant::now() > deadline {
            stop.store(true, Ordering::Relaxed);
            for w in workers {
                w.join().unwrap_or_else(|_| panic!("a worker panicked"));
            }
            let mut linked: Vec<_> = made.iter().filter_map(|t| t.data.link).collect();
            linked.sort();
            linked.dedup();
            assert_eq!((made.len(), linked.len()), (180, 180), "each customer once");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{report:?}");
}
