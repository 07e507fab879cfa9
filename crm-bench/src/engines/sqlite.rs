//! SQLite through rusqlite, doing what crm-store does per write: a customers table with the
//! same fields as columns (the rest of the record as the same bincode bytes), the same secondary
//! indexes, a tags table; a change-log table that is also the audit trail, indexed by customer;
//! purchases unique by order, a timeline table and a summary table, and the lifecycle move of a
//! first or second purchase. WAL; prepared (cached) statements; one transaction per operation.
//! `synchronous=FULL` when durable, `NORMAL` when relaxed (SQLite's own advice for WAL).

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use chrono::Utc;
use crm_core::Customer;
use rusqlite::{Connection, OptionalExtension, params};

use super::Engine;
use crate::data;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS customers(
  id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, display_name TEXT NOT NULL, stage INTEGER NOT NULL,
  owner TEXT, country TEXT, email TEXT NOT NULL UNIQUE, create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL, version INTEGER NOT NULL, record BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS customers_stage ON customers(stage, id);
CREATE INDEX IF NOT EXISTS customers_kind ON customers(kind, id);
CREATE INDEX IF NOT EXISTS customers_owner ON customers(owner, id);
CREATE INDEX IF NOT EXISTS customers_country ON customers(country, id);
CREATE INDEX IF NOT EXISTS customers_update_time ON customers(update_time, id);
CREATE INDEX IF NOT EXISTS customers_name ON customers(display_name COLLATE NOCASE, id);
CREATE TABLE IF NOT EXISTS tags(tag TEXT NOT NULL, customer_id INTEGER NOT NULL,
  PRIMARY KEY(tag, customer_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS purchases(customer_id INTEGER NOT NULL, order_ref TEXT NOT NULL,
  occurred_at INTEGER NOT NULL, currency TEXT NOT NULL, amount_minor INTEGER NOT NULL,
  PRIMARY KEY(customer_id, order_ref)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL,
  kind INTEGER NOT NULL, version INTEGER NOT NULL, time INTEGER NOT NULL, fields TEXT NOT NULL,
  actor TEXT NOT NULL, operation TEXT NOT NULL, request_id TEXT);
CREATE INDEX IF NOT EXISTS changes_customer ON changes(customer_id, seq);
CREATE TABLE IF NOT EXISTS timeline(customer_id INTEGER NOT NULL, occurred_at INTEGER NOT NULL,
  entry INTEGER NOT NULL, kind INTEGER NOT NULL, body BLOB NOT NULL,
  PRIMARY KEY(customer_id, occurred_at, entry)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS summaries(customer_id INTEGER PRIMARY KEY, purchase_count INTEGER NOT NULL,
  total_minor INTEGER NOT NULL, first_purchase INTEGER NOT NULL, last_purchase INTEGER NOT NULL);
";

/// One connection per concurrent writer (SQLite connections are not shared between threads).
pub struct Sqlite {
    pool: Vec<Mutex<Connection>>,
}

fn encode(c: &Customer) -> Result<Vec<u8>> {
    let mut out = vec![1];
    out.extend(bincode::serde::encode_to_vec(
        c,
        bincode::config::standard(),
    )?);
    Ok(out)
}

fn encode_purchase(order_ref: &str, amount: i64) -> Result<Vec<u8>> {
    Ok(bincode::serde::encode_to_vec(
        (order_ref, "TRY", amount),
        bincode::config::standard(),
    )?)
}

fn decode(bytes: &[u8]) -> Result<Customer> {
    let body = bytes.get(1..).context("an empty record")?;
    Ok(bincode::serde::decode_from_slice(body, bincode::config::standard())?.0)
}

/// The change-log (and audit) row of a write.
fn log(
    tx: &Connection,
    id: i64,
    kind: i64,
    version: i64,
    fields: &str,
    operation: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO changes(customer_id, kind, version, time, fields, actor, operation)
         VALUES (?1, ?2, ?3, ?4, ?5, 'bench', ?6)",
    )?
    .execute(params![
        id,
        kind,
        version,
        Utc::now().timestamp_micros(),
        fields,
        operation
    ])?;
    Ok(())
}

/// A timeline row.
fn entry(tx: &Connection, id: i64, at: i64, entry: i64, kind: i64, body: &[u8]) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO timeline(customer_id, occurred_at, entry, kind, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, at, entry, kind, body])?;
    Ok(())
}

fn insert(tx: &Connection, c: &Customer) -> Result<()> {
    let d = &c.data;
    tx.prepare_cached(
        "INSERT INTO customers(id, kind, display_name, stage, owner, country, email, create_time,
         update_time, version, record) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1, ?8)",
    )?
    .execute(params![
        c.id.0 as i64,
        d.display_name,
        d.lifecycle_stage.rank(),
        d.owner,
        d.address.as_ref().map(|a| a.country.clone()),
        d.emails.first().map(|e| e.address.clone()),
        c.create_time.timestamp_micros(),
        encode(c)?,
    ])?;
    let mut tags = tx.prepare_cached("INSERT INTO tags(tag, customer_id) VALUES (?1, ?2)")?;
    for tag in &d.tags {
        tags.execute(params![tag, c.id.0 as i64])?;
    }
    log(
        tx,
        c.id.0 as i64,
        0,
        1,
        "person,display_name,emails,phones,address,owner,source,tags,attributes,lifecycle_stage",
        "CreateCustomer",
    )
}

impl Sqlite {
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Sqlite> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("crm.sqlite");
        let mut pool = Vec::new();
        for _ in 0..16 {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "cache_size", -((cache_bytes / 1024) as i64))?;
            conn.execute_batch(SCHEMA)?;
            pool.push(Mutex::new(conn));
        }
        Ok(Sqlite { pool })
    }

    /// A free connection (the first one when only one thread runs).
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        loop {
            for slot in &self.pool {
                if let Ok(mut conn) = slot.try_lock() {
                    return f(&mut conn);
                }
            }
            std::thread::yield_now();
        }
    }

    fn read(conn: &Connection, sql: &str, key: &dyn rusqlite::ToSql) -> Result<Customer> {
        let bytes: Vec<u8> = conn
            .prepare_cached(sql)?
            .query_row([key], |r| r.get(0))
            .optional()?
            .context("not found")?;
        decode(&bytes)
    }
}

impl Engine for Sqlite {
    fn load(&self, n: u64) -> Result<()> {
        self.with(|conn| {
            let now = Utc::now();
            let mut i = 0;
            while i < n {
                let tx = conn.transaction()?;
                for j in i..(i + 1000).min(n) {
                    insert(&tx, &data::customer(j, now))?;
                }
                tx.commit()?;
                i += 1000;
            }
            Ok(())
        })
    }

    fn create(&self, n: u64) -> Result<()> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            insert(&tx, &data::customer(n, Utc::now()))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn get(&self, n: u64) -> Result<()> {
        self.with(|conn| {
            Sqlite::read(
                conn,
                "SELECT record FROM customers WHERE id = ?1",
                &(n as i64),
            )
            .map(drop)
        })
    }

    fn lookup(&self, n: u64) -> Result<()> {
        self.with(|conn| {
            Sqlite::read(
                conn,
                "SELECT record FROM customers WHERE email = ?1",
                &data::email(n),
            )
            .map(drop)
        })
    }

    fn list_stage(&self, stage: u8) -> Result<()> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT record FROM customers WHERE stage = ?1 ORDER BY id LIMIT 50",
            )?;
            let mut rows = stmt.query([stage])?;
            // A page is returned whole, as crm-store returns it.
            let mut page = Vec::with_capacity(50);
            while let Some(row) = rows.next()? {
                let bytes: Vec<u8> = row.get(0)?;
                page.push(decode(&bytes)?);
            }
            anyhow::ensure!(!page.is_empty(), "an empty page");
            Ok(())
        })
    }

    fn update(&self, n: u64, i: u64) -> Result<()> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut c = Sqlite::read(&tx, "SELECT record FROM customers WHERE id = ?1", &(n as i64))?;
            c.data.owner = Some(format!("owner{}", i % 20 + 100));
            c.data.attributes.insert("plan".into(), format!("plan{i}"));
            c.version += 1;
            c.update_time = Utc::now();
            tx.prepare_cached(
                "UPDATE customers SET owner = ?1, update_time = ?2, version = ?3, record = ?4 WHERE id = ?5",
            )?
            .execute(params![
                c.data.owner,
                c.update_time.timestamp_micros(),
                c.version as i64,
                encode(&c)?,
                n as i64
            ])?;
            log(&tx, n as i64, 1, c.version as i64, "owner,attributes", "UpdateCustomer")?;
            tx.commit()?;
            Ok(())
        })
    }

    fn purchase(&self, n: u64, i: u64) -> Result<()> {
        self.with(|conn| {
            let now = Utc::now().timestamp_micros();
            let amount = 10_000 + i as i64;
            let id = n as i64;
            let order_ref = format!("SO-{i}");
            let tx = conn.transaction()?;
            tx.prepare_cached(
                "INSERT INTO purchases(customer_id, order_ref, occurred_at, currency, amount_minor)
                 VALUES (?1, ?2, ?3, 'TRY', ?4)",
            )?
            .execute(params![id, order_ref, now, amount])?;
            let body = encode_purchase(&order_ref, amount)?;
            entry(&tx, id, now, (i as i64) << 8, 1, &body)?;
            let count: i64 = tx
                .prepare_cached(
                    "INSERT INTO summaries(customer_id, purchase_count, total_minor, first_purchase, last_purchase)
                     VALUES (?1, 1, ?2, ?3, ?3)
                     ON CONFLICT(customer_id) DO UPDATE SET purchase_count = purchase_count + 1,
                       total_minor = total_minor + ?2, first_purchase = min(first_purchase, ?3),
                       last_purchase = max(last_purchase, ?3)
                     RETURNING purchase_count",
                )?
                .query_row(params![id, amount, now], |r| r.get(0))?;
            // The lifecycle moves crm makes: PURCHASE after the first, RETENTION after the
            // second; a conversion entry for the first; each move with its entry.
            let stage: i64 = tx
                .prepare_cached("SELECT stage FROM customers WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?;
            let target = if count == 1 { 2 } else { 3 };
            if count == 1 {
                entry(&tx, id, now, ((i as i64) << 8) | 1, 6, order_ref.as_bytes())?;
            }
            let mut fields = "timeline,summary";
            if target > stage {
                tx.prepare_cached(
                    "UPDATE customers SET stage = ?1, update_time = ?2, version = version + 1 WHERE id = ?3",
                )?
                .execute(params![target, now, id])?;
                entry(&tx, id, now, ((i as i64) << 8) | 2, 4, &[stage as u8, target as u8])?;
                fields = "timeline,summary,lifecycle_stage";
            }
            log(&tx, id, 3, 0, fields, "RecordPurchase")?;
            tx.commit()?;
            Ok(())
        })
    }

    fn set_durable(&self, durable: bool) -> Result<()> {
        let mode = if durable { "FULL" } else { "NORMAL" };
        for slot in &self.pool {
            let conn = slot.lock().unwrap_or_else(|e| e.into_inner());
            conn.pragma_update(None, "synchronous", mode)?;
        }
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        self.with(|conn| {
            conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
            Ok(())
        })
    }
}
