//! Searching customers by the words of their names, emails and phones (see
//! `crm_core::search`). The words are index entries (`I 20 word 00 id`) written in the same batch
//! as the record, so search never lags a write; a query reads the entries of each of its words
//! (as a whole word or a word's start), keeps the customers that match every word, and ranks
//! whole-word matches first.

use std::collections::BTreeMap;

use crm_core::search::query_words;
use crm_core::{Customer, CustomerId, Violations};

use crate::Store;
use crate::customers::Customers;
use crate::customers::list::prefix_end;
use crate::error::Result;
use crate::kv::keys;
use crate::kv::token::Listing;

/// Most matching customers a query ranks (pages walk through these).
pub const MAX_SEARCH_RESULTS: usize = 1000;
/// Most index entries read for one word of a query: a very short prefix (`a`) is cut there.
pub const MAX_ENTRIES_PER_WORD: usize = 50_000;

/// One page of search results, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchPage {
    /// The customers with their scores (2 per whole-word match, 1 per prefix match), best
    /// first; ties in creation order.
    pub results: Vec<(Customer, u32)>,
    /// The token for the next page; empty on the last.
    pub next_page_token: String,
}

fn decode_offset(store: &Store, token: &str, query: &str) -> Result<usize> {
    let Some(position) = store.inner.tokens.open(token, Listing::Search, query)? else {
        return Ok(0);
    };
    let offset = position
        .as_slice()
        .try_into()
        .map(u64::from_be_bytes)
        .ok()
        .and_then(|o| usize::try_from(o).ok())
        .filter(|o| *o <= MAX_SEARCH_RESULTS);
    offset.ok_or_else(|| Violations::one("page_token", "is out of range for this search").into())
}

impl Customers<'_> {
    /// Finds customers whose names, emails or phones contain every word of `query`, ignoring
    /// case and diacritics. Errors: [`crate::StoreError::Invalid`] (an empty query, a bad token).
    pub fn search(&self, query: &str, page_size: usize, page_token: &str) -> Result<SearchPage> {
        let words = query_words(query);
        if words.is_empty() {
            return Err(
                Violations::one("query", "give at least one word, name, email or phone").into(),
            );
        }
        let page_size = crate::customers::list::page_size(page_size);
        let print = format!("search|{words:?}");
        let offset = decode_offset(self, page_token, &print)?;
        // Per customer, the sum over the query's words of the best match (2 whole, 1 prefix);
        // a customer must match every word.
        let mut scores: BTreeMap<CustomerId, (usize, u32)> = BTreeMap::new();
        for (n, word) in words.iter().enumerate() {
            let prefix = keys::search_prefix(word);
            let mut best: BTreeMap<CustomerId, u32> = BTreeMap::new();
            let scan = self.inner.engine.scan(
                std::ops::Bound::Included(prefix.clone()),
                prefix_end(&prefix),
                false,
            );
            for item in scan.take(MAX_ENTRIES_PER_WORD) {
                let (key, _) = item?;
                let (Some(id), Some(found)) = (keys::trailing_id(&key), keys::search_word(&key))
                else {
                    continue;
                };
                if n > 0 && scores.get(&id).is_none_or(|(matched, _)| *matched != n) {
                    continue;
                }
                let quality = if found == word { 2 } else { 1 };
                let b = best.entry(id).or_default();
                *b = (*b).max(quality);
            }
            if n == 0 {
                scores = best.into_iter().map(|(id, q)| (id, (1, q))).collect();
            } else {
                for (id, q) in best {
                    if let Some(s) = scores.get_mut(&id) {
                        *s = (n + 1, s.1 + q);
                    }
                }
                scores.retain(|_, (matched, _)| *matched == n + 1);
            }
        }
        let mut ranked: Vec<(CustomerId, u32)> =
            scores.into_iter().map(|(id, (_, s))| (id, s)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(MAX_SEARCH_RESULTS);
        let mut results = Vec::new();
        let mut next = offset;
        let mut bytes = 0;
        for (id, score) in ranked.iter().skip(offset).take(page_size) {
            next += 1;
            // A concurrent delete may have removed it since its entries were read.
            if let Some(c) = self.read_customer(*id)? {
                bytes += c.approx_bytes();
                results.push((c, *score));
            }
            if bytes >= crate::customers::list::MAX_PAGE_BYTES {
                break;
            }
        }
        let next_page_token = if next < ranked.len() {
            self.inner
                .tokens
                .seal(Listing::Search, &print, &(next as u64).to_be_bytes())
        } else {
            String::new()
        };
        Ok(SearchPage {
            results,
            next_page_token,
        })
    }
}
