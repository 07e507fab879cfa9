//! Listing deals: by an index when the filter names an indexed equality (rotting, customer,
//! owner, stage, status), else over every deal. `rotting = true` reads the rotting schedule up
//! to the query's instant, so it is exact at every instant without a sweep.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use crm_core::Violations;
use crm_core::deals::Deal;
use crm_core::deals::filter::{self, DealIndexed};

use super::{Deals, keys};
use crate::customers::list::{page_size, prefix_end};
use crate::error::Result;
use crate::kv::codec;
use crate::kv::token::Listing;

/// A page of deals to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DealQuery {
    /// A deal filter ([`crm_core::deals::filter`]).
    pub filter: String,
    /// At most this many (0: 50; at most 1000).
    pub page_size: usize,
    /// From a previous page's `next_page_token`.
    pub page_token: String,
}

/// One page of deals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DealPage {
    /// The deals.
    pub deals: Vec<Deal>,
    /// The token for the next page; empty on the last.
    pub next_page_token: String,
    /// The instant the filter (`rotting`) was evaluated at.
    pub as_of: DateTime<Utc>,
}

impl Deals<'_> {
    /// Lists one page of deals matching a filter, in the order of the index it reads (by id
    /// without one; by rotting instant for `rotting = true`).
    ///
    /// Errors: [`crate::StoreError::Invalid`] (a filter that does not parse, a page token of
    /// another query).
    pub fn list_deals(&self, q: &DealQuery) -> Result<DealPage> {
        let f = filter::parse(&q.filter).map_err(|e| Violations::one("filter", e.to_string()))?;
        let now = self.now();
        let (prefix, end) = match filter::indexed(&f).into_iter().next() {
            Some(DealIndexed::Rotting) => {
                let after = now + chrono::Duration::microseconds(1);
                (
                    keys::rots_at_start(),
                    Bound::Excluded(keys::rots_at_before(after)),
                )
            }
            Some(DealIndexed::Customer(c)) => {
                let p = keys::by_customer_prefix(c);
                let end = prefix_end(&p);
                (p, end)
            }
            Some(DealIndexed::Owner(o)) => {
                let p = keys::by_owner_prefix(&o);
                let end = prefix_end(&p);
                (p, end)
            }
            Some(DealIndexed::Stage(s)) => {
                let p = keys::by_stage_prefix(&s);
                let end = prefix_end(&p);
                (p, end)
            }
            Some(DealIndexed::Status(s)) => {
                let p = keys::by_status_prefix(s);
                let end = prefix_end(&p);
                (p, end)
            }
            None => {
                let p = vec![crate::kv::keys::DEAL];
                let end = prefix_end(&p);
                (p, end)
            }
        };
        let records = prefix == [crate::kv::keys::DEAL];
        let query = q.filter.trim().to_owned();
        let position = self.open_token(&q.page_token, Listing::Deals, &query, &prefix)?;
        let start = match position {
            None => Bound::Included(prefix.clone()),
            Some(p) => Bound::Excluded(p),
        };
        let size = page_size(q.page_size);
        let mut page = DealPage {
            as_of: now,
            ..DealPage::default()
        };
        let mut last: Option<Vec<u8>> = None;
        for item in self.inner.engine.scan(start, end, false) {
            let (key, value) = item?;
            if page.deals.len() == size {
                if let Some(last) = &last {
                    page.next_page_token = self.inner.tokens.seal(Listing::Deals, &query, last);
                }
                break;
            }
            last = Some(key.to_vec());
            let deal = if records {
                Some(codec::decode::<Deal>(&value, &|| {
                    crate::kv::keys::describe(&key)
                })?)
            } else {
                match keys::trailing_deal(&key) {
                    Some(id) => self.read_deal(id)?,
                    None => None,
                }
            };
            if let Some(d) = deal.filter(|d| filter::matches(&f, d, now)) {
                page.deals.push(d);
            }
        }
        Ok(page)
    }

    /// Every deal, in id order: what a forecast reads.
    pub(crate) fn all_deals(&self) -> Result<Vec<Deal>> {
        self.inner
            .engine
            .scan_prefix(&[crate::kv::keys::DEAL])
            .map(|item| {
                let (key, value) = item?;
                codec::decode(&value, &|| crate::kv::keys::describe(&key))
            })
            .collect()
    }

    /// The forecast for a period ([`crm_core::deals::forecast`]), read as of `q.as_of`.
    ///
    /// Errors: [`crate::StoreError::Invalid`] (an empty period, an instant in the future).
    pub fn forecast(
        &self,
        q: &crm_core::deals::ForecastQuery,
    ) -> Result<crm_core::deals::Forecast> {
        let mut v = Violations::default();
        if q.end <= q.start {
            v.add("period.end", "must be after period.start");
        }
        if q.as_of > self.now() + crm_core::validate::MAX_FUTURE_SKEW {
            v.add(
                "as_of",
                "must not be in the future: a forecast reads what has happened",
            );
        }
        v.into_result(())?;
        let pipelines = self
            .list_pipelines()?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let deals = self.all_deals()?;
        Ok(crm_core::deals::forecast::forecast(&deals, &pipelines, q))
    }

    fn read_deal(&self, id: crm_core::deals::DealId) -> Result<Option<Deal>> {
        match self.inner.engine.get(keys::deal(id))? {
            Some(bytes) => codec::decode(&bytes, &|| format!("deal {id}")).map(Some),
            None => Ok(None),
        }
    }
}
