//! Finding duplicates: customers that share evidence of being one ([`crm_core::merge`]).

use crm_core::{Customer, CustomerId, Violations};

use crate::customers::Customers;
use crate::error::Result;
use crate::kv::{codec, keys};

/// Customers that look like one: a candidate group for a merge.
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicateGroup {
    /// The customers, in id order.
    pub members: Vec<CustomerId>,
    /// The strongest pair's score (0 to 1; [`crm_core::merge::score`]).
    pub score: f64,
    /// The kinds of evidence the group's pairs share.
    pub evidence: std::collections::BTreeSet<crm_core::merge::Evidence>,
}

/// A key shared by more records than this says little (a common name, a switchboard number):
/// it is not evidence.
const MAX_SHARING: usize = 50;

impl Customers<'_> {
    /// Groups of customers that share evidence of being one ([`crm_core::merge`]), each pair
    /// scoring at least `min_score`, strongest first, at most `limit` groups. One pass over the
    /// records.
    ///
    /// Errors: [`StoreError::Invalid`] (`min_score` outside 0 to 1), engine errors.
    pub fn find_duplicates(&self, min_score: f64, limit: usize) -> Result<Vec<DuplicateGroup>> {
        use std::collections::{BTreeMap, BTreeSet, HashMap};

        use crm_core::merge::{Evidence, duplicate_keys, score};

        if !(0.0..=1.0).contains(&min_score) {
            return Err(Violations::one("min_score", "must be between 0 and 1").into());
        }
        let mut buckets: HashMap<(Evidence, String), Vec<CustomerId>> = HashMap::new();
        for item in self.inner.engine.scan_prefix(&[keys::CUSTOMER]) {
            let (key, value) = item?;
            let c: Customer = match codec::decode(&value, &|| keys::describe(&key)) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "damaged customer left out of duplicates");
                    continue;
                }
            };
            for k in duplicate_keys(&c.data) {
                buckets.entry(k).or_default().push(c.id);
            }
        }
        let mut pairs: BTreeMap<(CustomerId, CustomerId), BTreeSet<Evidence>> = BTreeMap::new();
        for ((evidence, _), ids) in buckets {
            if ids.len() < 2 || ids.len() > MAX_SHARING {
                continue;
            }
            for (i, a) in ids.iter().enumerate() {
                for b in &ids[i + 1..] {
                    let pair = if a < b { (*a, *b) } else { (*b, *a) };
                    pairs.entry(pair).or_default().insert(evidence);
                }
            }
        }
        // Union-find over the pairs that score enough.
        let mut parent: HashMap<CustomerId, CustomerId> = HashMap::new();
        fn root(parent: &mut HashMap<CustomerId, CustomerId>, x: CustomerId) -> CustomerId {
            let mut r = x;
            while let Some(&p) = parent.get(&r).filter(|p| **p != r) {
                r = p;
            }
            parent.insert(x, r);
            r
        }
        let strong: Vec<_> = pairs
            .into_iter()
            .map(|(pair, ev)| (pair, score(&ev), ev))
            .filter(|(_, s, _)| *s >= min_score)
            .collect();
        for ((a, b), _, _) in &strong {
            let (ra, rb) = (root(&mut parent, *a), root(&mut parent, *b));
            if ra != rb {
                parent.insert(ra.max(rb), ra.min(rb));
            }
        }
        let mut groups: BTreeMap<CustomerId, DuplicateGroup> = BTreeMap::new();
        for ((a, b), s, ev) in strong {
            let r = root(&mut parent, a);
            let g = groups.entry(r).or_insert_with(|| DuplicateGroup {
                members: Vec::new(),
                score: 0.0,
                evidence: BTreeSet::new(),
            });
            g.members.extend([a, b]);
            g.score = g.score.max(s);
            g.evidence.extend(ev);
        }
        let mut out: Vec<DuplicateGroup> = groups
            .into_values()
            .map(|mut g| {
                g.members.sort();
                g.members.dedup();
                g
            })
            .collect();
        out.sort_by(|x, y| {
            y.score
                .total_cmp(&x.score)
                .then_with(|| x.members.cmp(&y.members))
        });
        out.truncate(limit.clamp(1, 1000));
        Ok(out)
    }
}
