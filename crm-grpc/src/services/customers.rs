//! `crm.v1.CustomerService`: check the caller's role, decode, call the store on a blocking
//! thread, encode.

use crm_core::{Customer, Filter, Insight, OrderBy, UpdateMask, Violations};
use crm_store::{ListQuery, Store, StoreError};
use tonic::{Request, Response, Status};

use crate::convert::{Sight, customer_view, value_to_proto};
use crate::convert::{customer_from_proto, implicit_mask, parse_id};
use crate::layer::Call;
use crate::pb;
use crate::pb::customer_service_server::CustomerService;
use crate::services::common::{audited, blocking, list_response, non_empty, page_size, point_read};
use crate::services::{bulk, merge};
use crate::status::{Fields, invalid, invalid_in};

/// The customer service over a store.
#[derive(Clone, Debug)]
pub struct CustomerApi {
    store: Store,
}

impl CustomerApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        CustomerApi { store }
    }
}

fn required_customer(c: Option<pb::Customer>) -> Result<pb::Customer, Status> {
    c.ok_or_else(|| invalid(Violations::one("customer", "is required")))
}

#[tonic::async_trait]
impl CustomerService for CustomerApi {
    type ImportCustomersStream = bulk::Answers<pb::ImportCustomersResponse>;
    type ExportCustomersStream = bulk::Answers<pb::ExportCustomersResponse>;

    async fn batch_create_customers(
        &self,
        request: Request<pb::BatchCreateCustomersRequest>,
    ) -> Result<Response<pb::BatchCreateCustomersResponse>, Status> {
        let sight = Call::sight_of(&request);
        let call = Call::of(&request)?;
        let store = audited(&self.store, call.caller, call.request_id);
        bulk::batch_create(store, request.into_inner(), sight).await
    }

    async fn batch_upsert_customers(
        &self,
        request: Request<pb::BatchUpsertCustomersRequest>,
    ) -> Result<Response<pb::BatchUpsertCustomersResponse>, Status> {
        let sight = Call::sight_of(&request);
        let call = Call::of(&request)?;
        let store = audited(&self.store, call.caller, call.request_id);
        bulk::batch_upsert(store, request.into_inner(), sight).await
    }

    async fn import_customers(
        &self,
        request: Request<tonic::Streaming<pb::ImportCustomersRequest>>,
    ) -> Result<Response<Self::ImportCustomersStream>, Status> {
        let call = Call::of(&request)?;
        let store = audited(&self.store, call.caller, call.request_id);
        bulk::import(store, request.into_inner()).await
    }

    async fn find_duplicates(
        &self,
        request: Request<pb::FindDuplicatesRequest>,
    ) -> Result<Response<pb::FindDuplicatesResponse>, Status> {
        let sight = Call::sight_of(&request);
        merge::find(self.store.clone(), request.into_inner(), sight).await
    }

    async fn merge_customers(
        &self,
        request: Request<pb::MergeCustomersRequest>,
    ) -> Result<Response<pb::MergeCustomersResponse>, Status> {
        let sight = Call::sight_of(&request);
        let call = Call::of(&request)?;
        let store = audited(&self.store, call.caller, call.request_id);
        merge::merge(store, request.into_inner(), sight).await
    }

    async fn unmerge_customers(
        &self,
        request: Request<pb::UnmergeCustomersRequest>,
    ) -> Result<Response<pb::UnmergeCustomersResponse>, Status> {
        let sight = Call::sight_of(&request);
        let call = Call::of(&request)?;
        let store = audited(&self.store, call.caller, call.request_id);
        merge::unmerge(store, request.into_inner(), sight).await
    }

    async fn export_customers(
        &self,
        request: Request<pb::ExportCustomersRequest>,
    ) -> Result<Response<Self::ExportCustomersStream>, Status> {
        let sight = Call::sight_of(&request);
        bulk::export(self.store.clone(), request.into_inner(), sight).await
    }

    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let sight = Call::sight_of(&request);
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::CreateCustomerRequest {
            customer,
            request_id,
        } = request.into_inner();
        let data = customer_from_proto(required_customer(customer)?, chrono::Utc::now())
            .map_err(|v| invalid_in(Fields::InCustomer, v))?;
        let request_id = non_empty(request_id);
        let store = audited(&self.store, caller, request_id.clone().or(header_id));
        let created = blocking(store, Fields::InCustomer, move |s| {
            with_insight(s, s.customers().create(data, request_id.as_deref())?)
        })
        .await?;
        Ok(Response::new(view(&created, sight)))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let sight = Call::sight_of(&request);
        let pb::GetCustomerRequest { id } = request.into_inner();
        let id = parse_id("id", &id).map_err(invalid)?;
        let customer = point_read(&self.store, Fields::Request, move |s| {
            with_insight(s, s.customers().get(id)?)
        })
        .await?;
        Ok(Response::new(view(&customer, sight)))
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let sight = Call::sight_of(&request);
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::UpdateCustomerRequest {
            customer,
            update_mask,
            etag,
        } = request.into_inner();
        let customer = required_customer(customer)?;
        let id = parse_id("customer.id", &customer.id).map_err(invalid)?;
        let etag = non_empty(etag).or_else(|| non_empty(customer.etag.clone()));
        let (paths, implied) = match update_mask {
            Some(mask) if !mask.paths.is_empty() => (mask.paths, false),
            _ => (implicit_mask(&customer), true),
        };
        // Without a mask, a refused path is a field the caller sent: name it as such.
        let sent = implied.then(|| paths.clone());
        let stage_unset = customer.lifecycle_stage == 0;
        let mut mask = UpdateMask::parse(&paths).map_err(|v| invalid_in(Fields::InCustomer, v))?;
        if stage_unset {
            mask = mask.keep_lifecycle_stage();
        }
        let patch = customer_from_proto_for_update(customer)?;
        let store = audited(&self.store, caller, header_id);
        let updated = blocking(store, Fields::InCustomer, move |s| {
            let updated = match s.customers().update(id, &patch, &mask, etag.as_deref()) {
                Err(StoreError::Invalid(v)) if sent.is_some() => {
                    let sent = sent.as_deref().unwrap_or_default();
                    Err(StoreError::Invalid(as_sent_fields(v, sent)))
                }
                other => other,
            };
            with_insight(s, updated?)
        })
        .await?;
        Ok(Response::new(view(&updated, sight)))
    }

    async fn delete_customer(
        &self,
        request: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::DeleteCustomerResponse>, Status> {
        let header_id = Call::of(&request)?.request_id;
        let caller = Call::of(&request)?.caller;
        let pb::DeleteCustomerRequest { id, etag } = request.into_inner();
        let customer_id = parse_id("id", &id).map_err(invalid)?;
        let etag = non_empty(etag);
        let store = audited(&self.store, caller, header_id);
        blocking(store, Fields::Request, move |s| {
            s.customers().delete(customer_id, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeleteCustomerResponse {
            id: customer_id.to_string(),
        }))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let sight = Call::sight_of(&request);
        let pb::ListCustomersRequest {
            page_size,
            page_token,
            filter,
            order_by,
        } = request.into_inner();
        let mut v = Violations::default();
        let page_size = usize::try_from(page_size).unwrap_or_else(|_| {
            v.add("page_size", "must not be negative");
            0
        });
        let filter = Filter::parse(&filter).unwrap_or_else(|e| {
            v.add("filter", e.to_string());
            Filter::All
        });
        let order_by = OrderBy::parse(&order_by).unwrap_or_else(|e| {
            v.0.extend(e.0);
            OrderBy::default()
        });
        v.into_result(()).map_err(invalid)?;
        let query = ListQuery {
            filter,
            order_by,
            page_size,
            page_token,
        };
        let response = blocking(self.store.clone(), Fields::Request, move |s| {
            Ok(list_response(
                s.customers().list_with_insights(&query)?,
                sight,
            ))
        })
        .await?;
        Ok(Response::new(response))
    }

    async fn search_customers(
        &self,
        request: Request<pb::SearchCustomersRequest>,
    ) -> Result<Response<pb::SearchCustomersResponse>, Status> {
        let sight = Call::sight_of(&request);
        let pb::SearchCustomersRequest {
            query,
            page_size,
            page_token,
        } = request.into_inner();
        let page_size = self::page_size(page_size)?;
        let response = blocking(self.store.clone(), Fields::Request, move |s| {
            let page = s.customers().search(&query, page_size, &page_token)?;
            let results = page
                .results
                .iter()
                .map(|(c, score)| {
                    Ok(pb::SearchResult {
                        customer: Some(customer_view(c, &s.insights().insight(c)?, sight)),
                        score: i32::try_from(*score).unwrap_or(i32::MAX),
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(pb::SearchCustomersResponse {
                results,
                next_page_token: page.next_page_token,
            })
        })
        .await?;
        Ok(Response::new(response))
    }

    async fn get_customer_value(
        &self,
        request: Request<pb::GetCustomerValueRequest>,
    ) -> Result<Response<pb::GetCustomerValueResponse>, Status> {
        let pb::GetCustomerValueRequest { id } = request.into_inner();
        let id = parse_id("id", &id).map_err(invalid)?;
        let (customer, insight) = point_read(&self.store, Fields::Request, move |s| {
            with_insight(s, s.customers().get(id)?)
        })
        .await?;
        Ok(Response::new(pb::GetCustomerValueResponse {
            customer_id: customer.id.to_string(),
            values: insight.value.iter().map(value_to_proto).collect(),
        }))
    }

    async fn lookup_customer(
        &self,
        request: Request<pb::LookupCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let sight = Call::sight_of(&request);
        let pb::LookupCustomerRequest { key } = request.into_inner();
        let store = self.store.clone();
        let customer = match key {
            Some(pb::lookup_customer_request::Key::Email(email)) => {
                point_read(&store, Fields::Request, move |s| {
                    with_insight(s, s.customers().lookup_by_email(&email)?)
                })
                .await?
            }
            Some(pb::lookup_customer_request::Key::ExternalId(ext)) => {
                point_read(&store, Fields::Request, move |s| {
                    with_insight(s, s.customers().lookup_by_external_id(&ext)?)
                })
                .await?
            }
            None => return Err(invalid(Violations::one("key", "set email or external_id"))),
        };
        Ok(Response::new(view(&customer, sight)))
    }
}

/// A customer with what is derived about it now.
fn with_insight(s: &Store, c: Customer) -> Result<(Customer, Insight), StoreError> {
    let insight = s.insights().insight(&c)?;
    Ok((c, insight))
}

fn view((c, i): &(Customer, Insight), sight: Sight) -> pb::Customer {
    customer_view(c, i, sight)
}

/// An update's patch: like a create's customer, except that a missing party is allowed (the
/// mask decides which fields matter; absent ones read as empty).
fn customer_from_proto_for_update(
    mut customer: pb::Customer,
) -> Result<crm_core::CustomerData, Status> {
    if customer.party.is_none() {
        customer.party = Some(pb::customer::Party::Person(pb::Person::default()));
    }
    customer_from_proto(customer, chrono::Utc::now()).map_err(|v| invalid_in(Fields::InCustomer, v))
}

/// Violations of an implied mask's `update_mask.paths[i]`, renamed to the field the caller
/// sent (shown as `customer.organization`).
fn as_sent_fields(v: Violations, sent: &[String]) -> Violations {
    let renamed = v.0.into_iter().map(|mut violation| {
        let index = violation
            .field
            .strip_prefix("update_mask.paths[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok());
        // A path refused for the customer's kind (`organization.legal_name` on a person) is
        // the party the caller sent: `organization`.
        if let Some(path) = index.and_then(|i| sent.get(i)) {
            violation.field = path.split('.').next().unwrap_or(path).to_owned();
        }
        violation
    });
    Violations(renamed.collect())
}
