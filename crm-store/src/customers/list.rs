//! Listing customers: filter, order, and stable cursor pagination (AIP-132, 158, 160).
//!
//! A list walks one ordered sequence of keys and keeps the customers that match the filter:
//! - `create_time` order with an indexed equality in the filter (`lifecycle_stage = X`,
//!   `tags:"x"`, ...): that index's entries for the value, which are in id (= creation) order;
//! - `create_time` order otherwise: the records themselves, in id order;
//! - `update_time` or `display_name` order: that ordering index.
//!
//! The page token holds the last key walked, so the next page resumes right after it: every
//! customer that exists throughout the listing is returned exactly once, in order, whatever is
//! created or deleted meanwhile. A customer whose `update_time` or `display_name` changes
//! during a listing in that order moves in the sequence, and may be seen at its new place.

use std::ops::Bound;

use crm_core::{Customer, Filter, IndexedTerm, Insight, OrderBy, OrderField, Violations};

use crate::Store;
use crate::customers::Customers;
use crate::error::{Result, StoreError};
use crate::kv::token::Listing;
use crate::kv::{codec, keys};

/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page; larger requests are served this many.
pub const MAX_PAGE_SIZE: usize = 1000;

/// A requested page size as served: 0 means [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`].
pub(crate) fn page_size(requested: usize) -> usize {
    match requested {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}
/// A page stops after examining this many entries, even if not full, and returns a token to
/// go on: a filter that matches rarely cannot make one call scan the whole store.
pub const MAX_EXAMINED_PER_PAGE: usize = 20_000;

/// Most bytes of records a page holds: a page ends early (with a next page token) once its
/// records reach this, so an answer, with what the edge adds to each record, stays well under
/// the 4 MiB a gRPC client accepts by default, whatever the page size and the records.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Which customers (default: all).
    pub filter: Filter,
    /// In which order (default: `create_time` ascending).
    pub order_by: OrderBy,
    /// How many per page: 0 means [`DEFAULT_PAGE_SIZE`]; above [`MAX_PAGE_SIZE`] means that.
    pub page_size: usize,
    /// The token of the previous page, or empty for the first page.
    pub page_token: String,
}

/// One page of customers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerPage {
    /// The customers, in order.
    pub customers: Vec<Customer>,
    /// The token for the next page; empty when this is the last page.
    pub next_page_token: String,
}

/// The sequence a listing walks.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Plan {
    Records,
    Term(Vec<u8>),
    Order(u8),
}

impl Plan {
    fn choose(filter: &Filter, order: OrderBy) -> Plan {
        match order.field {
            OrderField::UpdateTime => Plan::Order(keys::IX_UPDATE_TIME),
            OrderField::DisplayName => Plan::Order(keys::IX_DISPLAY_NAME),
            OrderField::CreateTime => {
                let terms = filter.indexed_terms();
                // Most selective first, by the usual shape of CRM data.
                let rank = |t: &IndexedTerm| match t {
                    IndexedTerm::Organization(_) => 0,
                    IndexedTerm::Owner(_) => 1,
                    IndexedTerm::Tag(_) => 2,
                    IndexedTerm::Temperature(_) | IndexedTerm::LoyaltyTier(_) => 3,
                    IndexedTerm::Country(_) => 4,
                    IndexedTerm::Status(_) => 5,
                    IndexedTerm::Stage(_) => 6,
                    IndexedTerm::Kind(_) => 7,
                };
                terms
                    .iter()
                    .min_by_key(|t| rank(t))
                    .map_or(Plan::Records, |t| Plan::Term(keys::term_prefix(t)))
            }
        }
    }

    fn prefix(&self) -> Vec<u8> {
        match self {
            Plan::Records => vec![keys::CUSTOMER],
            Plan::Term(prefix) => prefix.clone(),
            Plan::Order(kind) => keys::order_prefix(*kind),
        }
    }
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// The canonical text of the query a token belongs to.
fn query_text(filter: &Filter, order: OrderBy) -> String {
    format!("{filter:?}|{order:?}")
}

/// FNV-1a of a query's canonical text: binds a page token to its query.
pub(crate) fn fingerprint_text(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Store {
    fn page(&self, query: &ListQuery, derive: bool) -> Result<(CustomerPage, Vec<Insight>)> {
        let page_size = page_size(query.page_size);
        let mut plan = Plan::choose(&query.filter, query.order_by);
        // The page is evaluated at one instant; the derived index is made exact for it first.
        // When the engine refuses writes (a full disk), the index cannot be brought up to date:
        // the page is read from the records instead, each customer evaluated at `now`.
        let now = self.now();
        let first = plan.prefix().first().copied();
        if matches!(first, Some(keys::DERIVED_INDEX | keys::LOYALTY_KEPT)) {
            let current = if first == Some(keys::DERIVED_INDEX) {
                self.derived_index_at(now)
            } else {
                self.loyalty().sweep(now)
            };
            match current {
                Err(e) if e.is_write_refusal() => {
                    tracing::warn!(error = %e, "derived index not brought up to date: listing from the records");
                    plan = Plan::Records;
                }
                other => other?,
            }
        }
        let prefix = plan.prefix();
        let print = query_text(&query.filter, query.order_by);
        let cursor = self.open_token(&query.page_token, Listing::Customers, &print, &prefix)?;
        let descending = query.order_by.descending;
        let (start, end) = match (cursor, descending) {
            (None, _) => (Bound::Included(prefix.clone()), prefix_end(&prefix)),
            (Some(after), false) => (Bound::Excluded(after), prefix_end(&prefix)),
            (Some(before), true) => (Bound::Included(prefix.clone()), Bound::Excluded(before)),
        };

        let mut customers = Vec::new();
        let mut insights = Vec::new();
        let mut last_key: Option<Vec<u8>> = None;
        let mut examined = 0;
        let mut bytes = 0;
        let mut entries = self.inner.engine.scan(start, end, descending);
        for entry in entries.by_ref() {
            let (key, value) = entry?;
            last_key = Some(key.to_vec());
            examined += 1;
            if let Some(c) = skip_damaged(self.resolve(&plan, &key, &value))? {
                let filter = &query.filter;
                let insight = match filter.uses_insight() {
                    true => Some(self.insight_for(filter, &c, now)?),
                    false => None,
                };
                let matches = match &insight {
                    Some(i) => filter.matches_insight(&c, i),
                    None => filter.matches(&c),
                };
                if matches {
                    if derive {
                        insights.push(match insight {
                            Some(i) => i,
                            None => self.insight_for(filter, &c, now)?,
                        });
                    }
                    bytes += c.approx_bytes();
                    customers.push(c);
                }
            }
            if customers.len() == page_size
                || examined == MAX_EXAMINED_PER_PAGE
                || bytes >= MAX_PAGE_BYTES
            {
                break;
            }
        }
        let more = last_key.is_some() && entries.next().is_some();
        let next_page_token = match last_key {
            Some(key) if more => self.inner.tokens.seal(Listing::Customers, &print, &key),
            _ => String::new(),
        };
        let page = CustomerPage {
            customers,
            next_page_token,
        };
        Ok((page, insights))
    }

    /// The customer an entry of the walked sequence stands for, if it still stands for one.
    fn resolve(&self, plan: &Plan, key: &[u8], value: &[u8]) -> Result<Option<Customer>> {
        if *plan == Plan::Records {
            return codec::decode(value, &|| keys::describe(key)).map(Some);
        }
        let Some(id) = keys::trailing_id(key) else {
            return Err(StoreError::Corrupt {
                key: keys::describe(key),
                detail: "an index key without an id".into(),
            });
        };
        // Entries can be stale for a moment while a concurrent write lands: skip them; the
        // customer is (or will be) found at its current place.
        let Some(c) = self.read_customer(id)? else {
            return Ok(None);
        };
        match plan {
            Plan::Order(kind) if keys::order_entry(*kind, &c) != key => Ok(None),
            _ => Ok(Some(c)),
        }
    }
}

/// A damaged record does not stop a listing: it is left out, logged and counted (a direct read
/// of it reports the damage, and `verify()` lists it), so everything else stays reachable.
fn skip_damaged(found: Result<Option<Customer>>) -> Result<Option<Customer>> {
    match found {
        Err(StoreError::Corrupt { key, detail }) => {
            tracing::error!(%key, %detail, "damaged record left out of a listing");
            metrics::counter!("crm_damaged_records_skipped_total").increment(1);
            Ok(None)
        }
        other => other,
    }
}

impl Store {
    /// The key a page token of `listing` under `query` resumes after (or before), which must lie
    /// under `prefix`; `None` for no token.
    pub(crate) fn open_token(
        &self,
        token: &str,
        listing: Listing,
        query: &str,
        prefix: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        match self.inner.tokens.open(token, listing, query)? {
            Some(key) if !key.starts_with(prefix) => Err(Violations::one(
                "page_token",
                "is not a token this service issued for this listing",
            )
            .into()),
            position => Ok(position),
        }
    }
}

impl Customers<'_> {
    /// Lists one page of customers.
    ///
    /// Errors: [`StoreError::Invalid`] for a page token that is damaged or belongs to another
    /// filter or order; [`StoreError::Corrupt`] if a record on the way cannot be decoded.
    pub fn list(&self, query: &ListQuery) -> Result<CustomerPage> {
        self.page(query, false).map(|(page, _)| page)
    }

    /// [`Store::list_customers`], with what is derived about each customer (status, lead
    /// score, value...) at the one instant the page's filter was evaluated at: a customer
    /// listed as `relationship_status = AT_RISK` always comes with that status, and an insight
    /// the filter needed is not derived a second time.
    pub fn list_with_insights(&self, query: &ListQuery) -> Result<(CustomerPage, Vec<Insight>)> {
        self.page(query, true)
    }
}
