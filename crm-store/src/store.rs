//! The store handle: opening (format check, migrations), configuration, and what every domain
//! shares. The write path is in [`crate::write`].

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crm_core::{Customer, CustomerId};

use crate::audit::Origin;
use crate::config::{Durability, StoreConfig};
use crate::engine::sled::{SledEngine, SledOptions};
use crate::engine::{Engine, EngineError, EngineStats, transact};
use crate::error::{Result, StoreError};
use crate::kv::family::Registered;
use crate::kv::{Kv, codec, keys};
use crate::write::group::GroupCommit;

/// Declares a domain's handle: `Store::$method()` returns it, and it reads the store's shared
/// parts through `Deref`.
macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<'a> {
            store: &'a $crate::Store,
        }

        impl $crate::Store {
            $(#[$doc])*
            pub fn $method(&self) -> $name<'_> {
                $name { store: self }
            }
        }

        impl std::ops::Deref for $name<'_> {
            type Target = $crate::Store;

            fn deref(&self) -> &$crate::Store {
                self.store
            }
        }
    };
}
pub(crate) use handle;

/// The on-disk format this build reads and writes (see DESIGN.md).
pub const FORMAT_VERSION: u8 = 3;

/// A handle to an open store. Cheap to clone; every clone shares the same store, and the store
/// closes (flushing what is pending) when the last clone is dropped.
///
/// Every call is blocking (it may wait for a disk flush): from async code, call it on a
/// blocking thread (`tokio::task::spawn_blocking`).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    origin: Arc<Origin>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) engine: Kv,
    pub(crate) config: StoreConfig,
    pub(crate) group: Option<GroupCommit>,
    /// Syncs the engine and records the acknowledgement mark.
    pub(crate) syncer: Arc<crate::mark::Syncer>,
    /// The loss the operator accepted when opening: then acknowledged writes are refused.
    pub(crate) data_loss: Option<String>,
    /// Every entity family, for `verify`.
    pub(crate) families: Vec<Arc<dyn Registered>>,
    /// The lead-scoring model in force (replaced after a committed change).
    pub(crate) model: std::sync::RwLock<Arc<crm_core::ScoringModel>>,
    /// The portfolio's RFM distribution per currency, with when it was computed.
    pub(crate) rfm: Mutex<crate::derived::scoring::RfmCache>,
    /// What the derived index was built with.
    pub(crate) derived: Mutex<crate::derived::DerivedTrack>,
    /// The CLV lifespan measured from churn, when the configuration derives it.
    pub(crate) lifespan: Mutex<crate::derived::lifespan::LifespanCache>,
    /// Who this process is when it holds a lease.
    pub(crate) holder: u64,
    /// Seals and opens page tokens with the store's secret.
    pub(crate) tokens: crate::kv::token::Tokens,
    /// The newest change the feed may deliver, and its waiters.
    pub(crate) feed: crate::audit::feed::FeedSignal,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stop the flusher first: it holds the engine too.
        self.group.take();
        if let Err(e) = self.syncer.sync(true) {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}

impl Store {
    /// Opens the store in `path` (created if missing) with the default configuration: durable
    /// writes, a 256 MiB cache.
    pub fn open(path: impl Into<std::path::PathBuf>) -> Result<Store> {
        Store::open_with(StoreConfig::new(path))
    }

    /// Opens the store with a configuration, on the embedded engine `config.engine` (sled by
    /// default) in `config.path`.
    pub fn open_with(config: StoreConfig) -> Result<Store> {
        let engine = open_embedded(&config)?;
        Store::open_on(engine, config)
    }

    /// Opens the store on an engine (`config.path` is then only used in messages).
    pub fn open_on(engine: Arc<dyn Engine>, config: StoreConfig) -> Result<Store> {
        Store::open_families(engine, config, Vec::new())
    }

    /// [`Store::open_on`], with families beyond the store's own (tests of the kernel).
    pub(crate) fn open_families(
        engine: Arc<dyn Engine>,
        config: StoreConfig,
        extra: Vec<Arc<dyn Registered>>,
    ) -> Result<Store> {
        let kv = Kv::new(Arc::clone(&engine));
        if kv.get(keys::META_FORMAT)?.is_some_and(|v| v == [1]) {
            crate::derived::migrate_from_v1(&kv)?;
        }
        if kv.get(keys::META_FORMAT)?.is_some_and(|v| v == [2]) {
            crate::timeline::migrate_to_3(&kv)?;
        }
        match kv.get(keys::META_FORMAT)? {
            Some(v) if v == [FORMAT_VERSION] => {}
            Some(v) => {
                return Err(StoreError::UnsupportedFormat {
                    found: format!("{v:?}"),
                    supported: FORMAT_VERSION,
                });
            }
            None => {
                if kv.scan_prefix(&[]).next().is_some() {
                    return Err(StoreError::UnsupportedFormat {
                        found: "none".into(),
                        supported: FORMAT_VERSION,
                    });
                }
                // sled reads a damaged log as "nothing more to recover": a directory that held
                // engine files but yields no format marker is damaged (or not ours), never a
                // new, empty store.
                if engine.existed() {
                    return Err(StoreError::Corrupt {
                        key: keys::describe(keys::META_FORMAT),
                        detail: format!(
                            "{} holds storage files but no readable crm data: it is damaged or not a \
                             crm data directory; restore it from a backup or move it away",
                            config.path.display()
                        ),
                    });
                }
                transact(&*engine, |tx| {
                    tx.put(keys::META_FORMAT, &[FORMAT_VERSION]);
                    Ok::<_, EngineError>(())
                })?;
                engine.sync()?;
            }
        }
        let (syncer, data_loss) = crate::mark::open(&engine, config.accept_data_loss)?;
        if let Some(loss) = &data_loss {
            tracing::error!(loss = %loss, "opened after accepting data loss: acknowledged writes are refused");
        }
        let syncer = Arc::new(syncer);
        config.rules.validate()?;
        config.value_rules.validate()?;
        let tokens = crate::kv::token::Tokens::load(&kv)?;
        let model = crate::derived::scoring::load_model(&kv)?;
        let derived = crate::derived::load_meta(&kv, &config.rules, &model)?;
        let group = match config.durability {
            Durability::Durable => Some(GroupCommit::start(Arc::clone(&syncer))?),
            Durability::Relaxed => None,
        };
        let feed = crate::audit::feed::FeedSignal::new(crate::audit::tail_seq(
            &kv,
            keys::CHANGE,
            "change-log",
        )?);
        let mut families = crate::kv::family::registered();
        families.extend(extra);
        Ok(Store {
            origin: Arc::new(Origin::default()),
            inner: Arc::new(Inner {
                engine: kv,
                config,
                group,
                syncer,
                data_loss,
                families,
                model: std::sync::RwLock::new(Arc::new(model)),
                rfm: Mutex::default(),
                derived: Mutex::new(derived),
                lifespan: Mutex::default(),
                holder: holder_id(),
                tokens,
                feed,
            }),
        })
    }

    /// A handle on an open store, with the default origin.
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Store {
        Store {
            inner,
            origin: Arc::new(Origin::default()),
        }
    }

    /// A handle to the same store whose writes are audited as coming from `origin`.
    pub fn with_origin(&self, origin: Origin) -> Store {
        Store {
            inner: Arc::clone(&self.inner),
            origin: Arc::new(origin),
        }
    }

    /// Who this handle's writes are audited as.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Makes every write so far durable (useful in relaxed mode, and before a backup).
    pub fn flush(&self) -> Result<()> {
        self.inner.syncer.sync(true)
    }

    /// Why the engine stopped accepting writes, once it did (a failed flush or fsync, a
    /// stalled disk): reads are still served; restart the process to recover what reached the
    /// disk. No acknowledged write is lost.
    pub fn failure(&self) -> Option<String> {
        self.inner.engine.engine().failure()
    }

    /// The loss accepted when the store was opened with
    /// [`StoreConfig::accept_data_loss`](crate::StoreConfig::accept_data_loss), if any.
    pub fn data_loss(&self) -> Option<&str> {
        self.inner.data_loss.as_deref()
    }

    /// Bytes the data directory takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.engine.engine().size_on_disk()?)
    }

    /// Whether other processes share this store's engine (PostgreSQL): then every read is a
    /// network round trip, and what this process caches is checked against the store.
    pub fn shared(&self) -> bool {
        self.inner.engine.engine().shared()
    }

    /// The engine's counters: commits, fsyncs, and how many commits the last fsync covered.
    pub fn engine_stats(&self) -> EngineStats {
        self.inner.engine.engine().stats()
    }

    /// Takes (or renews) the lease `name` for `ttl` of wall-clock time, if no other process (or
    /// store opened apart) holds it: a job that must run once across the processes sharing the
    /// store runs only while its lease is held.
    pub fn take_lease(&self, name: &str, ttl: std::time::Duration) -> Result<bool> {
        let key = keys::lease(name);
        let me = self.inner.holder;
        let now = Utc::now().timestamp_micros();
        let until = now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
        self.write_with(false, |w| {
            let held = w.get(&key)?.and_then(|v| {
                let holder = keys::u64_value(&v)?;
                let expiry = i64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
                Some((holder, expiry))
            });
            if held.is_some_and(|(holder, expiry)| holder != me && expiry > now) {
                return Ok(false);
            }
            w.put_raw(&key, [me.to_be_bytes(), until.to_be_bytes()].concat());
            Ok(true)
        })
    }

    /// Now by the store's clock ([`crate::StoreConfig::clock`]), at the precision records keep
    /// (microseconds): the instant time-dependent values (statuses, SLA clocks) are read at.
    pub fn now(&self) -> DateTime<Utc> {
        crm_core::validate::to_micros(self.inner.config.clock.now())
    }

    /// Reads and decodes a customer record.
    pub(crate) fn read_customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        self.inner.engine.get_decoded(keys::customer(id), |bytes| {
            codec::decode(bytes, &|| format!("customer {id}"))
        })
    }
}

/// A number that tells this process from others sharing the store (process id and start time).
fn holder_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (u64::from(std::process::id()) << 40) ^ nanos
}

/// The embedded engine `config.engine` in `config.path`, with the configuration's cache,
/// durability, disk reserve and stall limit.
pub(crate) fn open_embedded(config: &StoreConfig) -> Result<Arc<dyn Engine>> {
    let flush_every_ms = match config.durability {
        Durability::Durable => None,
        Durability::Relaxed => Some(config.flush_every_ms.max(1)),
    };
    match config.engine {
        crate::Embedded::Sled => Ok(Arc::new(SledEngine::open(&SledOptions {
            path: config.path.clone(),
            cache_bytes: config.cache_bytes,
            flush_every_ms,
            reserve_bytes: config.reserve_bytes,
            stall_after: config.stall_after,
        })?)),
        #[cfg(feature = "fjall")]
        crate::Embedded::Fjall => {
            use crate::engine::fjall::{FjallEngine, FjallOptions};
            Ok(Arc::new(FjallEngine::open(&FjallOptions {
                path: config.path.clone(),
                cache_bytes: config.cache_bytes,
                flush_every_ms,
                reserve_bytes: config.reserve_bytes,
                stall_after: config.stall_after,
                // Customer records alone in their tables: denser blocks, shallower reads.
                own_keyspaces: vec![crate::kv::keys::CUSTOMER],
            })?))
        }
        #[cfg(not(feature = "fjall"))]
        crate::Embedded::Fjall => Err(StoreError::Storage(
            "this build has no fjall engine: build crm-store with its `fjall` feature".into(),
        )),
    }
}
