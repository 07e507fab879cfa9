//! A pooled PostgreSQL connection with every statement crm sends prepared once, and the two
//! reads every reader shares (a key, a page of a range).

use std::ops::Bound;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};

use super::{PAGE, failed};
use crate::engine::{EngineError, Entry, KeyRange};

/// A range's lower bound as SQL: `>=` or `>`, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Low {
    From,
    After,
    Open,
}

/// A range's upper bound as SQL: `<` or `<=`, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum High {
    Before,
    Through,
    Open,
}

const LOWS: [Low; 3] = [Low::From, Low::After, Low::Open];
const HIGHS: [High; 3] = [High::Before, High::Through, High::Open];

/// A connection with every statement crm sends, prepared once.
pub(super) struct Conn {
    pub(super) client: Client,
    get: Statement,
    pub(super) put: Statement,
    pub(super) delete: Statement,
    /// By lower bound, upper bound and direction (reverse second).
    ranges: Vec<((Low, High, bool), Statement)>,
    /// A transaction on it could not be ended (its ROLLBACK or COMMIT failed, for instance
    /// cancelled by the statement time limit on a busy server): it may still be inside an
    /// aborted transaction, so the pool closes it instead of handing it out again.
    pub(super) broken: bool,
}

impl Conn {
    fn range_statement(&self, low: Low, high: High, reverse: bool) -> &Statement {
        self.ranges
            .iter()
            .find(|(k, _)| *k == (low, high, reverse))
            .map(|(_, s)| s)
            .unwrap_or(&self.get)
    }
}

/// Opens connections for the pool and prepares their statements.
#[derive(Debug)]
pub(super) struct Manager {
    pub(super) config: postgres::Config,
    pub(super) schema: String,
    pub(super) statement_timeout: Duration,
}

impl Manager {
    /// A connection without the statement time limit: for setting up (creating the schema,
    /// preparing statements), which a short limit on a busy server must not fail.
    pub(super) fn connect_raw(&self) -> Result<Client, postgres::Error> {
        self.config.connect(NoTls)
    }

    /// Puts the configured statement time limit on `client`: every statement of crm's
    /// transactions runs under it.
    fn limit(&self, client: &mut Client) -> Result<(), postgres::Error> {
        let ms = self.statement_timeout.as_millis();
        client.batch_execute(&format!("SET statement_timeout = {ms}"))
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        let mut client = self.connect_raw()?;
        let t = format!("{}.kv", self.schema);
        let get = client.prepare(&format!("SELECT value FROM {t} WHERE key = $1"))?;
        let put = client.prepare(&format!(
            "INSERT INTO {t} (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ))?;
        let delete = client.prepare(&format!("DELETE FROM {t} WHERE key = ANY($1::bytea[])"))?;
        let mut ranges = Vec::new();
        for low in LOWS {
            for high in HIGHS {
                for reverse in [false, true] {
                    let mut sql = format!("SELECT key, value FROM {t} WHERE true");
                    match low {
                        Low::From => sql.push_str(" AND key >= $1"),
                        Low::After => sql.push_str(" AND key > $1"),
                        Low::Open => sql.push_str(" AND $1::bytea IS NOT NULL"),
                    }
                    match high {
                        High::Before => sql.push_str(" AND key < $2"),
                        High::Through => sql.push_str(" AND key <= $2"),
                        High::Open => sql.push_str(" AND $2::bytea IS NOT NULL"),
                    }
                    sql.push_str(if reverse {
                        " ORDER BY key DESC LIMIT $3"
                    } else {
                        " ORDER BY key LIMIT $3"
                    });
                    ranges.push(((low, high, reverse), client.prepare(&sql)?));
                }
            }
        }
        self.limit(&mut client)?;
        Ok(Conn {
            client,
            get,
            put,
            delete,
            ranges,
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

pub(super) type Pooled = r2d2::PooledConnection<Manager>;

pub(super) fn get_on(conn: &mut Conn, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
    let row = conn.client.query_opt(&conn.get, &[&key]).map_err(failed)?;
    Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
}

/// One page of a range.
pub(super) fn page_on(
    conn: &mut Conn,
    range: &KeyRange,
    reverse: bool,
) -> Result<Vec<Entry>, EngineError> {
    let empty: &[u8] = &[];
    let (low, from): (Low, &[u8]) = match &range.0 {
        Bound::Included(k) => (Low::From, k),
        Bound::Excluded(k) => (Low::After, k),
        Bound::Unbounded => (Low::Open, empty),
    };
    let (high, to): (High, &[u8]) = match &range.1 {
        Bound::Excluded(k) => (High::Before, k),
        Bound::Included(k) => (High::Through, k),
        Bound::Unbounded => (High::Open, empty),
    };
    let statement = conn.range_statement(low, high, reverse).clone();
    let params: [&(dyn ToSql + Sync); 3] = [&from, &to, &PAGE];
    let rows = conn.client.query(&statement, &params).map_err(failed)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
        .collect())
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("postgres connection")
    }
}
