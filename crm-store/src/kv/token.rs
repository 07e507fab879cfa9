//! Page tokens: opaque to clients, integrity-protected, and bound to the query that made them.
//!
//! A token is `base64url(version | query fingerprint (8) | position | tag (16))`, where the tag
//! is HMAC-SHA256 under the store's own secret over the listing's kind, the fingerprint and the
//! position. So:
//! - a truncated, bit-flipped or hand-made token fails the tag: INVALID_ARGUMENT `page_token`,
//!   "is not a token this service issued";
//! - a genuine token sent with another query (another filter, order, parent, direction or
//!   trail) fails the fingerprint: INVALID_ARGUMENT `page_token`, "belongs to a different query";
//! - a token of one listing is never accepted by another (the kind is under the tag).
//!
//! The secret is 32 random bytes kept in the store (`Mpage_secret`), made on first open, so
//! every process sharing a store (PostgreSQL) accepts the tokens the others issued, and tokens
//! outlive restarts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::engine::{EngineError, transact};
use crate::error::{Result, StoreError};
use crate::kv::{Kv, keys};
use crm_core::validate::Violations;

const VERSION: u8 = 2;
const TAG_BYTES: usize = 16;
const BLOCK: usize = 64;

/// Which listing a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Listing {
    Customers = 1,
    Timeline = 2,
    Search = 3,
    Segments = 4,
    Audit = 5,
    Tickets = 6,
    TicketMessages = 7,
    LoyaltyEntries = 8,
    Deals = 9,
    Tasks = 10,
    Firings = 11,
}

/// Seals and opens page tokens with the store's secret.
#[derive(Clone)]
pub(crate) struct Tokens {
    secret: [u8; 32],
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens { secret: .. }")
    }
}

/// FNV-1a of a query's canonical text.
fn fingerprint(query: &str) -> u64 {
    query.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn not_issued() -> StoreError {
    Violations::one(
        "page_token",
        "is not a token this service issued (damaged, cut short or made by hand); start again \
         without one",
    )
    .into()
}

impl Tokens {
    /// The store's tokens, making its secret on first use.
    pub(crate) fn load(kv: &Kv) -> Result<Tokens> {
        let secret = match kv.get(keys::META_PAGE_SECRET)? {
            Some(bytes) => bytes,
            None => {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).map_err(|e| {
                    StoreError::Storage(format!("no randomness for the page-token secret: {e}"))
                })?;
                // Two processes opening a new shared store at once keep the first secret.
                transact(kv.engine(), |tx| match tx.get(keys::META_PAGE_SECRET)? {
                    Some(kept) => Ok::<_, EngineError>(kept),
                    None => {
                        tx.put(keys::META_PAGE_SECRET, &fresh);
                        Ok(fresh.to_vec())
                    }
                })?
            }
        };
        let secret: [u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt {
                key: keys::describe(keys::META_PAGE_SECRET),
                detail: format!("a page-token secret of {} bytes", secret.len()),
            })?;
        Ok(Tokens { secret })
    }

    fn tag(&self, listing: Listing, print: u64, position: &[u8]) -> [u8; TAG_BYTES] {
        let mut key = [0u8; BLOCK];
        key[..32].copy_from_slice(&self.secret);
        let pad = |byte: u8| key.map(|k| k ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update([listing as u8])
            .chain_update(print.to_be_bytes())
            .chain_update(position)
            .finalize();
        let outer = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(&outer[..TAG_BYTES]);
        tag
    }

    /// HMAC-SHA256 of `value` under a key derived from the store's secret for `purpose`: a
    /// keyed hash that names a value without holding it (the suppression list's keys).
    pub(crate) fn keyed_hash(&self, purpose: &[u8], value: &[u8]) -> [u8; 32] {
        let derived: [u8; 32] = Sha256::new()
            .chain_update(self.secret)
            .chain_update(purpose)
            .finalize()
            .into();
        let mut key = [0u8; BLOCK];
        key[..32].copy_from_slice(&derived);
        let pad = |byte: u8| key.map(|k| k ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(value)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }

    /// The token for the page after `position` of `listing` under `query` (the query's
    /// canonical text: everything but the page size and token).
    pub(crate) fn seal(&self, listing: Listing, query: &str, position: &[u8]) -> String {
        let print = fingerprint(query);
        let mut raw = Vec::with_capacity(1 + 8 + position.len() + TAG_BYTES);
        raw.push(VERSION);
        raw.extend_from_slice(&print.to_be_bytes());
        raw.extend_from_slice(position);
        raw.extend_from_slice(&self.tag(listing, print, position));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position `token` carries, for `listing` under `query`; `None` for no token.
    pub(crate) fn open(
        &self,
        token: &str,
        listing: Listing,
        query: &str,
    ) -> Result<Option<Vec<u8>>> {
        if token.is_empty() {
            return Ok(None);
        }
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| not_issued())?;
        if raw.len() < 1 + 8 + TAG_BYTES || raw[0] != VERSION {
            return Err(not_issued());
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_BYTES);
        let print = u64::from_be_bytes(body[1..9].try_into().map_err(|_| not_issued())?);
        let position = &body[9..];
        let expected = self.tag(listing, print, position);
        // Constant time: a tag is not to be guessed byte by byte.
        let differs = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differs != 0 {
            return Err(not_issued());
        }
        if print != fingerprint(query) {
            return Err(Violations::one(
                "page_token",
                "belongs to a different query: keep the filter, order, parent and direction \
                 the same across pages, or start again without a token",
            )
            .into());
        }
        Ok(Some(position.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;

    fn tokens() -> Tokens {
        Tokens { secret: [7; 32] }
    }

    #[test]
    fn a_token_opens_only_for_its_listing_and_query_and_unaltered() {
        let t = tokens();
        let token = t.seal(Listing::Customers, "filter|order", b"position");
        assert_eq!(
            t.open(&token, Listing::Customers, "filter|order")
                .ok()
                .flatten(),
            Some(b"position".to_vec())
        );
        assert!(t.open(&token, Listing::Timeline, "filter|order").is_err());
        let other = t.open(&token, Listing::Customers, "other|order");
        assert!(
            format!("{other:?}").contains("different query"),
            "{other:?}"
        );
        for cut in 1..token.len() {
            assert!(
                t.open(&token[..cut], Listing::Customers, "filter|order")
                    .is_err()
            );
        }
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap_or_default();
        for i in 0..raw.len() {
            raw[i] ^= 0x01;
            let flipped = URL_SAFE_NO_PAD.encode(&raw);
            assert!(
                t.open(&flipped, Listing::Customers, "filter|order")
                    .is_err(),
                "byte {i}"
            );
            raw[i] ^= 0x01;
        }
        let other_store = Tokens { secret: [8; 32] };
        assert!(
            other_store
                .open(&token, Listing::Customers, "filter|order")
                .is_err()
        );
    }
}
