//! The raw-sled floor: what crm-store writes and reads, without crm-store. Each write is one
//! `apply_batch` of the same record bytes (a version byte and bincode 2) and the same index and
//! unique keys; durable writes flush before returning. No validation, no change log, no audit,
//! no lifecycle rules: the cost of the engine alone.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use chrono::Utc;
use crm_core::timeline::Purchase;
use crm_core::{Customer, EntryId, Event, Money, Summary, TimelineEntry};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Engine;
use crate::data;

pub struct RawSled {
    db: sled::Db,
    tree: sled::Tree,
    durable: AtomicBool,
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut out = vec![1];
    out.extend(bincode::serde::encode_to_vec(
        v,
        bincode::config::standard(),
    )?);
    Ok(out)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let body = bytes.get(1..).context("an empty value")?;
    Ok(bincode::serde::decode_from_slice(body, bincode::config::standard())?.0)
}

fn key(prefix: &[u8], text: &[u8], id: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(text);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn micros(c: &Customer) -> [u8; 8] {
    ((c.update_time.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

/// The index and unique keys crm-store keeps for a customer (same shapes, same count).
fn index_keys(c: &Customer) -> Vec<(Vec<u8>, Vec<u8>)> {
    let id = c.id.0;
    let d = &c.data;
    let mut keys = vec![
        (key(b"I\x01", &[d.lifecycle_stage.rank()], id), vec![]),
        (key(b"I\x02", &[1], id), vec![]),
        (key(b"I\x10", &micros(c), id), vec![]),
        (
            key(
                b"I\x11",
                format!("{}\0", d.display_name.to_lowercase()).as_bytes(),
                id,
            ),
            vec![],
        ),
    ];
    for tag in &d.tags {
        keys.push((key(b"I\x03", format!("{tag}\0").as_bytes(), id), vec![]));
    }
    if let Some(owner) = &d.owner {
        keys.push((key(b"I\x04", format!("{owner}\0").as_bytes(), id), vec![]));
    }
    if let Some(a) = &d.address {
        keys.push((key(b"I\x06", a.country.as_bytes(), id), vec![]));
    }
    for e in &d.emails {
        keys.push((
            [b"U\x01", e.address.as_bytes()].concat(),
            id.to_be_bytes().to_vec(),
        ));
    }
    keys
}

impl RawSled {
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<RawSled> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()?;
        let tree = db.open_tree("crm")?;
        Ok(RawSled {
            db,
            tree,
            durable: AtomicBool::new(false),
        })
    }

    fn commit(&self, batch: sled::Batch) -> Result<()> {
        self.tree.apply_batch(batch)?;
        if self.durable.load(Ordering::Relaxed) {
            self.db.flush()?;
        }
        Ok(())
    }

    fn read(&self, id: u64) -> Result<Customer> {
        let bytes = self
            .tree
            .get(key(b"C", &[], id))?
            .context("no such customer")?;
        decode(&bytes)
    }
}

impl Engine for RawSled {
    fn load(&self, n: u64) -> Result<()> {
        for i in 0..n {
            self.create(i)?;
        }
        self.db.flush()?;
        Ok(())
    }

    fn create(&self, n: u64) -> Result<()> {
        let c = data::customer(n, Utc::now());
        let mut batch = sled::Batch::default();
        batch.insert(key(b"C", &[], n), encode(&c)?);
        for (k, v) in index_keys(&c) {
            batch.insert(k, v);
        }
        self.commit(batch)
    }

    fn get(&self, n: u64) -> Result<()> {
        self.read(n).map(drop)
    }

    fn lookup(&self, n: u64) -> Result<()> {
        let id = self
            .tree
            .get([b"U\x01", data::email(n).as_bytes()].concat())?
            .context("no such email")?;
        let id = u64::from_be_bytes(id.as_ref().try_into()?);
        self.read(id).map(drop)
    }

    fn list_stage(&self, stage: u8) -> Result<()> {
        // A page is returned whole, as crm-store returns it.
        let mut page = Vec::with_capacity(50);
        for item in self.tree.scan_prefix([b'I', 1, stage]).take(50) {
            let (k, _) = item?;
            let id = u64::from_be_bytes(k[k.len() - 8..].try_into()?);
            page.push(self.read(id)?);
        }
        anyhow::ensure!(!page.is_empty(), "an empty page");
        Ok(())
    }

    fn update(&self, n: u64, i: u64) -> Result<()> {
        let old = self.read(n)?;
        let mut new = old.clone();
        new.data.owner = Some(format!("owner{}", i % 20 + 100));
        new.data
            .attributes
            .insert("plan".into(), format!("plan{i}"));
        new.version += 1;
        new.update_time = Utc::now();
        let mut batch = sled::Batch::default();
        batch.insert(key(b"C", &[], n), encode(&new)?);
        let before = index_keys(&old);
        let after = index_keys(&new);
        for (k, _) in before.iter().filter(|k| !after.contains(k)) {
            batch.remove(k.clone());
        }
        for (k, v) in after.into_iter().filter(|k| !before.contains(k)) {
            batch.insert(k, v);
        }
        self.commit(batch)
    }

    fn purchase(&self, n: u64, i: u64) -> Result<()> {
        let now = Utc::now();
        let entry = TimelineEntry {
            id: EntryId(i),
            customer_id: crm_core::CustomerId(n),
            occurred_at: now,
            recorded_at: now,
            actor: "bench".into(),
            event: Event::Purchase(Purchase {
                order_ref: format!("SO-{i}"),
                amount: Money::new("TRY", 10_000 + i as i64),
                line_items: Vec::new(),
            }),
        };
        let summary_key = key(b"S", &[], n);
        let mut summary: Summary = match self.tree.get(&summary_key)? {
            Some(bytes) => decode(&bytes)?,
            None => Summary::default(),
        };
        summary.apply(&entry)?;
        let mut batch = sled::Batch::default();
        let micros = ((now.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes();
        batch.insert(
            key(b"T", &[&n.to_be_bytes()[..], &micros].concat(), i),
            encode(&entry)?,
        );
        batch.insert(summary_key, encode(&summary)?);
        batch.insert(
            [&b"O"[..], &n.to_be_bytes(), format!("SO-{i}").as_bytes()].concat(),
            i.to_be_bytes().to_vec(),
        );
        self.commit(batch)
    }

    fn set_durable(&self, durable: bool) -> Result<()> {
        self.durable.store(durable, Ordering::Relaxed);
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
