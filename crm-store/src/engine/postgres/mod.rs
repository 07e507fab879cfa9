//! The PostgreSQL engine: the key space as one table, so that several crm processes share one
//! database (PostgreSQL itself, or a distributed database that speaks its protocol).
//!
//! - One table `SCHEMA.kv (key bytea PRIMARY KEY, value bytea NOT NULL)`, created and versioned
//!   by crm (`SCHEMA.crm_schema`, version [`SCHEMA_VERSION`]); another version is refused.
//! - A transaction is one SQL transaction at SERIALIZABLE isolation. Its reads are queries in it
//!   (under its own writes, [`Buffered`]); its writes are sent at commit, puts as one
//!   `INSERT .. SELECT unnest(..) ON CONFLICT DO UPDATE` and deletes as one
//!   `DELETE .. = ANY(..)`. Serialization failures, deadlocks and unique violations (40001,
//!   40P01, 23505) are [`EngineError::Conflict`]: the caller runs the transaction again.
//! - Ranges are read in pages of [`PAGE`] rows (`key >= $1 AND key < $2 ORDER BY key LIMIT`),
//!   forward or reverse, each statement prepared once per connection.
//! - A snapshot is a REPEATABLE READ, READ ONLY transaction.
//! - A commit is durable when PostgreSQL acknowledges it (`synchronous_commit` on), so
//!   [`Engine::sync`] has nothing left to do.
//! - A database that cannot be reached is [`EngineError::Unavailable`]; a statement over the
//!   configured timeout is [`EngineError::Timeout`].

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls};

mod conn;

use conn::{Conn, Manager, Pooled, get_on, page_on};

use super::{
    Buffered, Decision, Engine, EngineError, EngineStats, Entries, Entry, KeyRange, Reader, Tx,
};

/// The version of the tables this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Rows fetched per round trip of a range scan.
pub const PAGE: i64 = 256;

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// A connection string (`postgres://user:password@host:5432/database` or key=value pairs).
    pub url: String,
    /// The schema that holds crm's tables (created if missing): one per crm deployment.
    pub schema: String,
    /// Connections kept open at most.
    pub pool_size: u32,
    /// How long to wait for a connection (from the pool, or a new one).
    pub connect_timeout: Duration,
    /// The longest a statement may run before PostgreSQL cancels it (0: no limit).
    pub statement_timeout: Duration,
}

impl PostgresOptions {
    /// Defaults: schema `crm`, 16 connections, 5 s to connect, 30 s per statement.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            schema: "crm".into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL engine.
#[derive(Debug)]
pub struct PostgresEngine {
    pool: r2d2::Pool<Manager>,
    schema: String,
    existed: bool,
    commits: AtomicU64,
    /// Commits (each flushed by PostgreSQL before it is acknowledged) and `sync` calls.
    syncs: AtomicU64,
}

fn failed(e: postgres::Error) -> EngineError {
    if let Some(code) = e.code() {
        if [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::UNIQUE_VIOLATION,
        ]
        .contains(code)
        {
            return EngineError::Conflict;
        }
        if *code == SqlState::QUERY_CANCELED {
            return EngineError::Timeout {
                source: Box::new(e),
            };
        }
        if [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code)
        {
            return EngineError::Unavailable {
                source: Box::new(e),
            };
        }
        return EngineError::Failed {
            source: Box::new(e),
        };
    }
    if e.is_closed() || e.as_db_error().is_none() {
        return EngineError::Unavailable {
            source: Box::new(e),
        };
    }
    EngineError::Failed {
        source: Box::new(e),
    }
}

fn unavailable(e: r2d2::Error) -> EngineError {
    EngineError::Unavailable {
        source: Box::new(e),
    }
}

/// Whether `schema` is a plain identifier (it is spliced into statements).
fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit()
}

impl PostgresEngine {
    /// Connects, creates crm's schema and tables if they are missing, and refuses tables of
    /// another version.
    pub fn open(options: &PostgresOptions) -> Result<PostgresEngine, EngineError> {
        if !valid_schema(&options.schema) {
            return Err(EngineError::Failed {
                source: format!(
                    "schema {:?}: use lower-case letters, digits and _ (not first), at most 63",
                    options.schema
                )
                .into(),
            });
        }
        let mut config: postgres::Config =
            options.url.parse().map_err(|e| EngineError::Failed {
                source: Box::new(e),
            })?;
        config.connect_timeout(options.connect_timeout);
        let manager = Manager {
            config,
            schema: options.schema.clone(),
            statement_timeout: options.statement_timeout,
        };
        // The tables must exist before a pooled connection prepares its statements.
        let mut setup = manager.connect_raw().map_err(failed)?;
        let existed = create_schema(&mut setup, &options.schema)?;
        drop(setup);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.connect_timeout)
            .build(manager)
            .map_err(unavailable)?;
        Ok(PostgresEngine {
            pool,
            schema: options.schema.clone(),
            existed,
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        })
    }

    fn conn(&self) -> Result<Pooled, EngineError> {
        self.pool.get().map_err(unavailable)
    }

    /// Drops the schema and everything in it (tests clean up with it).
    pub fn drop_schema(url: &str, schema: &str) -> Result<(), EngineError> {
        if !valid_schema(schema) {
            return Ok(());
        }
        let mut client = Client::connect(url, NoTls).map_err(failed)?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .map_err(failed)
    }
}

/// Creates the schema's tables if missing; says whether they held data already.
fn create_schema(client: &mut Client, schema: &str) -> Result<bool, EngineError> {
    // Two processes starting at once must not both create: one creates, the other waits.
    let mut tx = client.transaction().map_err(failed)?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(hashtext('crm schema {schema}'));
         CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.crm_schema (version integer NOT NULL);
         CREATE TABLE IF NOT EXISTS {schema}.kv (key bytea PRIMARY KEY, value bytea NOT NULL);"
    ))
    .map_err(failed)?;
    let version: Option<i32> = tx
        .query_opt(&format!("SELECT version FROM {schema}.crm_schema"), &[])
        .map_err(failed)?
        .map(|row| row.get(0));
    match version {
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            return Err(EngineError::Failed {
                source: format!(
                    "the tables in schema {schema} are version {other}; this build reads version {SCHEMA_VERSION}"
                )
                .into(),
            });
        }
        None => {
            tx.execute(
                &format!("INSERT INTO {schema}.crm_schema (version) VALUES ($1)"),
                &[&SCHEMA_VERSION],
            )
            .map_err(failed)?;
        }
    }
    let existed = tx
        .query_opt(&format!("SELECT 1 FROM {schema}.kv LIMIT 1"), &[])
        .map_err(failed)?
        .is_some();
    tx.commit().map_err(failed)?;
    Ok(existed)
}

/// A range read page by page: each page starts after the last key of the one before. `fetch`
/// reads one page: on a connection of a transaction or snapshot, or (for committed reads) on a
/// connection taken from the pool for that page only, so that whoever reads the entries can read
/// more (a record per index entry) without holding two connections.
struct Pages<F> {
    fetch: F,
    range: KeyRange,
    reverse: bool,
    page: std::vec::IntoIter<Entry>,
    done: bool,
}

impl<F: FnMut(&KeyRange, bool) -> Result<Vec<Entry>, EngineError>> Iterator for Pages<F> {
    type Item = Result<Entry, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.page.next() {
            return Some(Ok(entry));
        }
        if self.done {
            return None;
        }
        let rows = match (self.fetch)(&self.range, self.reverse) {
            Ok(rows) => rows,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.done = (rows.len() as i64) < PAGE;
        if let Some((last, _)) = rows.last() {
            if self.reverse {
                self.range.1 = Bound::Excluded(last.clone());
            } else {
                self.range.0 = Bound::Excluded(last.clone());
            }
        }
        self.page = rows.into_iter();
        self.page.next().map(Ok)
    }
}

fn pages<F>(fetch: F, range: KeyRange, reverse: bool) -> Pages<F>
where
    F: FnMut(&KeyRange, bool) -> Result<Vec<Entry>, EngineError> + Send,
{
    Pages {
        fetch,
        range,
        reverse,
        page: Vec::new().into_iter(),
        done: false,
    }
}

/// An open SQL transaction on a pooled connection: rolled back when dropped uncommitted.
struct Open {
    conn: Pooled,
    finished: bool,
}

impl Open {
    fn begin(mut conn: Pooled, how: &str) -> Result<Open, EngineError> {
        conn.client.batch_execute(how).map_err(failed)?;
        Ok(Open {
            conn,
            finished: false,
        })
    }

    fn end(&mut self, how: &str) -> Result<(), EngineError> {
        self.finished = true;
        let ended = self.conn.client.batch_execute(how).map_err(failed);
        // Whether the transaction is over after a failed COMMIT is not certain: the
        // connection leaves the pool, and closing it ends whatever is left.
        self.conn.broken |= ended.is_err();
        ended
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if !self.finished && self.conn.client.batch_execute("ROLLBACK").is_err() {
            tracing::debug!(
                "a PostgreSQL transaction could not be rolled back; closing its connection"
            );
            self.conn.broken = true;
        }
    }
}

impl std::ops::Deref for Open {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Open {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// A snapshot (a REPEATABLE READ, READ ONLY transaction) or a write transaction's base.
impl Reader for Open {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_on(self, key)
    }

    fn range(&mut self, range: KeyRange, reverse: bool) -> Entries<'_> {
        Box::new(pages(move |r, rev| page_on(self, r, rev), range, reverse))
    }
}

/// A write transaction: SERIALIZABLE, its writes held until commit.
type PgTx = Buffered<Open>;

/// Sends a transaction's writes (one statement for its deletes, one for its puts) and commits.
fn commit(tx: PgTx) -> Result<(), EngineError> {
    let Buffered {
        base: mut open,
        overlay,
    } = tx;
    let (mut put_keys, mut put_values, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    for (key, value) in overlay.into_writes() {
        match value {
            Some(v) => {
                put_keys.push(key);
                put_values.push(v);
            }
            None => deletes.push(key),
        }
    }
    let conn = &mut *open;
    if !deletes.is_empty() {
        conn.client
            .execute(&conn.delete, &[&deletes])
            .map_err(failed)?;
    }
    if !put_keys.is_empty() {
        conn.client
            .execute(&conn.put, &[&put_keys, &put_values])
            .map_err(failed)?;
    }
    open.end("COMMIT")
}

impl Engine for PostgresEngine {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn existed(&self) -> bool {
        self.existed
    }

    fn shared(&self) -> bool {
        true
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        get_on(&mut *self.conn()?, key)
    }

    fn range(&self, range: KeyRange, reverse: bool) -> Entries<'_> {
        Box::new(pages(
            move |r, rev| page_on(&mut *self.conn()?, r, rev),
            range,
            reverse,
        ))
    }

    fn hold_writes(&self) -> Result<Box<dyn super::Held + '_>, EngineError> {
        // Other processes write too: nothing here can hold them.
        Ok(Box::new(()))
    }

    fn snapshot(&self) -> Result<Box<dyn Reader + '_>, EngineError> {
        // PostgreSQL takes a repeatable-read transaction's snapshot at its first statement, not
        // at BEGIN: the SELECT takes it now, so commits after this call stay unseen.
        let open = Open::begin(
            self.conn()?,
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1",
        )?;
        Ok(Box::new(open))
    }

    fn transact_once(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Decision,
    ) -> Result<Decision, EngineError> {
        let open = Open::begin(self.conn()?, "BEGIN ISOLATION LEVEL SERIALIZABLE")?;
        let mut tx = Buffered::new(open);
        let decision = f(&mut tx);
        if decision == Decision::Abort || tx.overlay.is_empty() {
            // Dropping the transaction rolls it back.
            return Ok(decision);
        }
        commit(tx)?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(decision)
    }

    fn sync(&self) -> Result<(), EngineError> {
        // Every acknowledged commit is already flushed by the server (synchronous_commit):
        // there is nothing left to write.
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, EngineError> {
        let mut conn = self.conn()?;
        let table = format!("{}.kv", self.schema);
        let row = conn
            .client
            .query_one("SELECT pg_total_relation_size(to_regclass($1))", &[&table])
            .map_err(failed)?;
        Ok(row.get::<_, Option<i64>>(0).unwrap_or(0).max(0) as u64)
    }

    fn stats(&self) -> EngineStats {
        let commits = self.commits.load(Ordering::SeqCst);
        EngineStats {
            commits,
            syncs: self.syncs.load(Ordering::SeqCst),
            synced_commits: commits,
        }
    }
}
