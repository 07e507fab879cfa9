//! A family added from outside the kernel: notes, with one index (by customer) and one unique
//! key (a slug). Neither the write path nor `verify` knows about it; registering it is all.

// Tests fail by panicking.
#![allow(clippy::panic, clippy::unwrap_used)]

use std::sync::Arc;

use crm_core::CustomerId;
use serde::{Deserialize, Serialize};

use crate::engine::sled::{SledEngine, SledOptions};
use crate::error::{StoreError, UniqueField};
use crate::kv::codec::Stored;
use crate::kv::family::{Family, Kept, of};
use crate::{Store, StoreConfig};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Note {
    id: u64,
    customer: CustomerId,
    slug: String,
}

impl Stored for Note {}

struct Notes;

const NOTE: u8 = b'x';
const BY_CUSTOMER: [u8; 2] = [b'y', 1];
const SLUG: [u8; 2] = [b'y', 2];

impl Family for Notes {
    type Record = Note;
    const NAME: &'static str = "note";
    const PREFIX: &'static [u8] = &[NOTE];

    fn key(n: &Note) -> Vec<u8> {
        [&[NOTE][..], &n.id.to_be_bytes()].concat()
    }

    fn keep(n: &Note, kept: &mut Kept) {
        kept.index(
            [
                &BY_CUSTOMER[..],
                &n.customer.0.to_be_bytes(),
                &n.id.to_be_bytes(),
            ]
            .concat(),
            [],
        );
        kept.unique(
            [&SLUG[..], n.slug.as_bytes()].concat(),
            n.id.to_be_bytes(),
            UniqueField::Named("note.slug"),
            n.slug.clone(),
        );
    }

    fn kept_prefixes() -> Vec<Vec<u8>> {
        vec![BY_CUSTOMER.to_vec(), SLUG.to_vec()]
    }
}

fn note(id: u64, customer: u64, slug: &str) -> Note {
    Note {
        id,
        customer: CustomerId(customer),
        slug: slug.into(),
    }
}

fn put(store: &Store, old: Option<&Note>, new: Option<&Note>) -> crate::Result<()> {
    store.write(|w| w.put_record::<Notes>(old, new))
}

fn problems(store: &Store) -> Vec<String> {
    store.verify().unwrap().problems
}

#[test]
fn a_new_family_keeps_its_index_and_unique_key_and_verify_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let engine = SledEngine::open(&SledOptions {
        path: dir.path().to_path_buf(),
        cache_bytes: 8 << 20,
        flush_every_ms: None,
        ..SledOptions::new("")
    })
    .unwrap();
    let store = Store::open_families(
        Arc::new(engine),
        StoreConfig::new(dir.path()),
        vec![of::<Notes>()],
    )
    .unwrap();
    let kv = &store.inner.engine;
    let index_of = |n: &Note| {
        [
            &BY_CUSTOMER[..],
            &n.customer.0.to_be_bytes(),
            &n.id.to_be_bytes(),
        ]
        .concat()
    };

    let first = note(1, 7, "welcome");
    let second = note(2, 7, "follow-up");
    put(&store, None, Some(&first)).unwrap();
    put(&store, None, Some(&second)).unwrap();
    assert!(kv.get(index_of(&first)).unwrap().is_some());
    assert_eq!(
        kv.get([&SLUG[..], b"welcome"].concat()).unwrap(),
        Some(1u64.to_be_bytes().to_vec())
    );
    assert_eq!(problems(&store), Vec::<String>::new());

    // A second claim on a slug is refused, and nothing of that write is stored.
    let clash = note(3, 9, "welcome");
    match put(&store, None, Some(&clash)) {
        Err(StoreError::AlreadyExists { field, value, .. }) => {
            assert_eq!(field, UniqueField::Named("note.slug"));
            assert_eq!(value, "welcome");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        kv.get([&[NOTE][..], &3u64.to_be_bytes()].concat()).unwrap(),
        None
    );
    assert_eq!(kv.get(index_of(&clash)).unwrap(), None);

    // Renaming moves the unique key; moving to another customer moves the index entry.
    let renamed = note(1, 8, "hello");
    put(&store, Some(&first), Some(&renamed)).unwrap();
    assert_eq!(kv.get([&SLUG[..], b"welcome"].concat()).unwrap(), None);
    assert_eq!(kv.get(index_of(&first)).unwrap(), None);
    assert!(kv.get(index_of(&renamed)).unwrap().is_some());
    assert_eq!(problems(&store), Vec::<String>::new());

    // Verify finds what a write path that skipped the keepers would have left behind.
    kv.transact(|tx| {
        tx.delete(&index_of(&second));
        tx.put(&[&SLUG[..], b"stray"].concat(), &9u64.to_be_bytes());
        Ok(())
    })
    .unwrap();
    let found = problems(&store);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|p| p.contains("is missing")), "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p.contains("stray") && p.contains("no matching record"))
    );

    // Deleting a note takes what it implied with it.
    kv.transact(|tx| {
        tx.put(&index_of(&second), &[]);
        tx.delete(&[&SLUG[..], b"stray"].concat());
        Ok(())
    })
    .unwrap();
    put(&store, Some(&second), None).unwrap();
    put(&store, Some(&renamed), None).unwrap();
    assert_eq!(problems(&store), Vec::<String>::new());
    let left: Vec<_> = kv.scan_prefix(b"y").collect();
    assert!(left.is_empty(), "{left:?}");
}
