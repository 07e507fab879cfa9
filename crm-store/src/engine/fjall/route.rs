//! Which keyspace holds a key.
//!
//! A store is created with a main keyspace and, for some first bytes of keys, a keyspace of
//! their own ([`super::FjallOptions::own_keyspaces`]): every key that starts with such a byte
//! lives there, every other key in the main one. Customer records get one, so that their tables
//! hold records only: a record read searches a smaller tree, with fewer levels and filters, and
//! a cached block holds records, not index entries between them.
//!
//! The split is written in the keyspaces' names (`crm-43` holds the keys that start with
//! `0x43`), so an existing store is opened with the split it was created with, whatever the
//! options say; a store created before the split (the main keyspace only) keeps everything in
//! the main keyspace.
//!
//! The keyspaces divide the key space into runs of consecutive first bytes, so a range is read
//! as the pieces of it that fall in each run, one run after another (in reverse for a reversed
//! range): keys come out in order, as from one tree.

use std::ops::Bound;

use fjall::Keyspace;

use crate::engine::KeyRange;

/// The main keyspace's name.
pub(super) const MAIN: &str = "crm";

/// The name of the keyspace of the keys that start with `byte`.
pub(super) fn own_name(byte: u8) -> String {
    format!("{MAIN}-{byte:02x}")
}

/// The first byte whose keyspace `name` is, if it is one.
pub(super) fn byte_of(name: &str) -> Option<u8> {
    let hex = name.strip_prefix(MAIN)?.strip_prefix('-')?;
    (hex.len() == 2)
        .then(|| u8::from_str_radix(hex, 16).ok())
        .flatten()
}

/// The keyspaces of a store and which keys each holds.
pub(super) struct Routes {
    main: Keyspace,
    /// By first byte, ascending.
    own: Vec<(u8, Keyspace)>,
}

impl Routes {
    /// `own` in any order.
    pub(super) fn new(main: Keyspace, mut own: Vec<(u8, Keyspace)>) -> Routes {
        own.sort_by_key(|(b, _)| *b);
        own.dedup_by_key(|(b, _)| *b);
        Routes { main, own }
    }

    /// The first bytes that have a keyspace of their own, ascending.
    pub(super) fn own_bytes(&self) -> Vec<u8> {
        self.own.iter().map(|(b, _)| *b).collect()
    }

    /// The keyspace that holds `key`.
    pub(super) fn of(&self, key: &[u8]) -> &Keyspace {
        key.first()
            .and_then(|b| self.own.binary_search_by_key(b, |(x, _)| *x).ok())
            .map_or(&self.main, |i| &self.own[i].1)
    }

    /// The non-empty pieces of `range`, each with the keyspace that holds it, in key order.
    pub(super) fn pieces(&self, range: &KeyRange) -> Vec<(&Keyspace, KeyRange)> {
        self.runs()
            .into_iter()
            .filter_map(|(keyspace, run)| {
                let piece = (later_start(&range.0, &run.0), earlier_end(&range.1, &run.1));
                (!is_empty(&piece)).then_some((keyspace, piece))
            })
            .collect()
    }

    /// The whole key space as runs, each held by one keyspace, in key order.
    fn runs(&self) -> Vec<(&Keyspace, KeyRange)> {
        let mut runs = Vec::with_capacity(2 * self.own.len() + 1);
        let mut start = Bound::Unbounded;
        for (byte, keyspace) in &self.own {
            runs.push((&self.main, (start, Bound::Excluded(vec![*byte]))));
            let Some(next) = byte.checked_add(1) else {
                runs.push((keyspace, (Bound::Included(vec![*byte]), Bound::Unbounded)));
                return runs;
            };
            runs.push((
                keyspace,
                (Bound::Included(vec![*byte]), Bound::Excluded(vec![next])),
            ));
            start = Bound::Included(vec![next]);
        }
        runs.push((&self.main, (start, Bound::Unbounded)));
        runs
    }
}

fn key(b: &Bound<Vec<u8>>) -> Option<&[u8]> {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k),
        Bound::Unbounded => None,
    }
}

/// The later (tighter) of two starts.
fn later_start(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    tighter(a, b, true)
}

/// The earlier (tighter) of two ends.
fn earlier_end(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    tighter(a, b, false)
}

/// The tighter of two bounds on the same side: the greater key for a start (`later`), the
/// lesser for an end; at the same key, the excluding one.
fn tighter(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>, later: bool) -> Bound<Vec<u8>> {
    match (key(a), key(b)) {
        (None, _) => b.clone(),
        (_, None) => a.clone(),
        (Some(x), Some(y)) if x != y => (if (x > y) == later { a } else { b }).clone(),
        _ => (if matches!(a, Bound::Excluded(_)) {
            a
        } else {
            b
        })
        .clone(),
    }
}

/// Whether no key lies in `range`.
fn is_empty(range: &KeyRange) -> bool {
    match range {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
            s >= e
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keyspace_names_say_their_byte() {
        assert_eq!(own_name(b'C'), "crm-43");
        assert_eq!(byte_of("crm-43"), Some(b'C'));
        assert_eq!(byte_of("crm-ff"), Some(0xff));
        for other in [MAIN, "crm-", "crm-4", "crm-433", "crm-zz", "other-43"] {
            assert_eq!(byte_of(other), None, "{other}");
        }
    }

    fn bound(kind: u8, key: Vec<u8>) -> Bound<Vec<u8>> {
        match kind % 3 {
            0 => Bound::Included(key),
            1 => Bound::Excluded(key),
            _ => Bound::Unbounded,
        }
    }

    fn keys() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(b'b'), Just(b'c'), Just(0xff)],
            0..3,
        )
    }

    proptest! {
        /// Cut into pieces by runs of first bytes, a range holds exactly the keys it held
        /// whole: each key in one piece, the pieces in key order.
        #[test]
        fn pieces_hold_exactly_the_keys_of_the_range(
            own in proptest::collection::btree_set(prop_oneof![Just(0u8), Just(b'b'), Just(b'c'), Just(0xff)], 0..4),
            (sk, s, ek, e) in (any::<u8>(), keys(), any::<u8>(), keys()),
            probes in proptest::collection::vec(keys(), 1..40),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let db = fjall::Database::builder(dir.path()).open().unwrap();
            let open = |name: &str| db.keyspace(name, fjall::KeyspaceCreateOptions::default).unwrap();
            let routes = Routes::new(
                open(MAIN),
                own.iter().map(|&b| (b, open(&own_name(b)))).collect(),
            );
            let range = (bound(sk, s), bound(ek, e));
            let pieces = routes.pieces(&range);
            for probe in &probes {
                let holders: Vec<_> = pieces
                    .iter()
                    .filter(|(_, p)| crate::engine::contains(p, probe))
                    .collect();
                prop_assert_eq!(holders.len(), usize::from(crate::engine::contains(&range, probe)));
                if let Some((keyspace, _)) = holders.first() {
                    prop_assert_eq!(keyspace.name(), routes.of(probe).name());
                }
            }
            for pair in pieces.windows(2) {
                let (a, b) = (&pair[0].1, &pair[1].1);
                prop_assert!(key(&a.1).is_some() && key(&b.0) >= key(&a.1), "{a:?} before {b:?}");
            }
        }
    }
}
