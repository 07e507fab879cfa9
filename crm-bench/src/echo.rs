//! A trivial `crm.v1.CustomerService` that answers every call from memory with a canned
//! customer of realistic size: no store, no validation. Served by `crm-bench --serve-echo`, it is
//! the ceiling of what tonic and the wire carry on this machine for the same messages.

use std::net::SocketAddr;

use crm_grpc::convert::customer_to_proto;
use crm_grpc::pb;
use crm_grpc::pb::customer_service_server::{CustomerService, CustomerServiceServer};
use tonic::{Request, Response, Status};

/// The echo service.
#[derive(Clone, Debug)]
pub struct Echo {
    customer: pb::Customer,
}

impl Default for Echo {
    fn default() -> Self {
        Echo {
            customer: customer_to_proto(&crate::data::customer(42, chrono::Utc::now())),
        }
    }
}

type Answers<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// Customers an echo export sends.
const ECHO_EXPORT: usize = 1000;

impl Echo {
    fn created(&self) -> pb::BatchItemResult {
        pb::BatchItemResult {
            customer: Some(self.customer.clone()),
            error: None,
            action: pb::ItemAction::Created.into(),
        }
    }
}

#[tonic::async_trait]
impl CustomerService for Echo {
    type ImportCustomersStream = Answers<pb::ImportCustomersResponse>;
    type ExportCustomersStream = Answers<pb::ExportCustomersResponse>;

    async fn batch_create_customers(
        &self,
        r: Request<pb::BatchCreateCustomersRequest>,
    ) -> Result<Response<pb::BatchCreateCustomersResponse>, Status> {
        let n = r.into_inner().requests.len();
        Ok(Response::new(pb::BatchCreateCustomersResponse {
            results: vec![self.created(); n],
        }))
    }

    async fn batch_upsert_customers(
        &self,
        r: Request<pb::BatchUpsertCustomersRequest>,
    ) -> Result<Response<pb::BatchUpsertCustomersResponse>, Status> {
        let n = r.into_inner().customers.len();
        Ok(Response::new(pb::BatchUpsertCustomersResponse {
            results: vec![self.created(); n],
        }))
    }

    async fn import_customers(
        &self,
        r: Request<tonic::Streaming<pb::ImportCustomersRequest>>,
    ) -> Result<Response<Self::ImportCustomersStream>, Status> {
        use tokio_stream::StreamExt as _;
        let answers = r.into_inner().map(|m| {
            m.map(|m| pb::ImportCustomersResponse {
                results: m
                    .rows
                    .into_iter()
                    .enumerate()
                    .map(|(i, row)| pb::ImportRowResult {
                        key: row.key,
                        index: i as u64,
                        action: pb::ItemAction::Created.into(),
                        customer_id: "0000000000000001".into(),
                        entries_recorded: u32::try_from(row.entries.len()).unwrap_or(0),
                        error: None,
                    })
                    .collect(),
            })
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn find_duplicates(
        &self,
        _: Request<pb::FindDuplicatesRequest>,
    ) -> Result<Response<pb::FindDuplicatesResponse>, Status> {
        Ok(Response::new(pb::FindDuplicatesResponse {
            groups: vec![pb::DuplicateGroup {
                customers: vec![self.customer.clone(); 2],
                score: 0.9,
                evidence: vec!["EMAIL".into()],
            }],
        }))
    }

    async fn merge_customers(
        &self,
        _: Request<pb::MergeCustomersRequest>,
    ) -> Result<Response<pb::MergeCustomersResponse>, Status> {
        Ok(Response::new(pb::MergeCustomersResponse {
            survivor: Some(self.customer.clone()),
            merge_id: 1,
        }))
    }

    async fn unmerge_customers(
        &self,
        _: Request<pb::UnmergeCustomersRequest>,
    ) -> Result<Response<pb::UnmergeCustomersResponse>, Status> {
        Ok(Response::new(pb::UnmergeCustomersResponse {
            survivor: Some(self.customer.clone()),
            restored: vec![self.customer.clone()],
        }))
    }

    async fn export_customers(
        &self,
        _: Request<pb::ExportCustomersRequest>,
    ) -> Result<Response<Self::ExportCustomersStream>, Status> {
        let message = pb::ExportCustomersResponse {
            customer: Some(self.customer.clone()),
            timeline: Vec::new(),
            cursor: 1,
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(
            std::iter::repeat_n(Ok(message), ECHO_EXPORT),
        ))))
    }

    async fn create_customer(
        &self,
        _: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.customer.clone()))
    }

    async fn get_customer(
        &self,
        _: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.customer.clone()))
    }

    async fn update_customer(
        &self,
        _: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.customer.clone()))
    }

    async fn delete_customer(
        &self,
        r: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::DeleteCustomerResponse>, Status> {
        Ok(Response::new(pb::DeleteCustomerResponse {
            id: r.into_inner().id,
        }))
    }

    async fn list_customers(
        &self,
        r: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let n = usize::try_from(r.into_inner().page_size)
            .unwrap_or(50)
            .clamp(1, 1000);
        Ok(Response::new(pb::ListCustomersResponse {
            customers: vec![self.customer.clone(); n],
            next_page_token: String::new(),
        }))
    }

    async fn search_customers(
        &self,
        _: Request<pb::SearchCustomersRequest>,
    ) -> Result<Response<pb::SearchCustomersResponse>, Status> {
        Ok(Response::new(pb::SearchCustomersResponse {
            results: vec![pb::SearchResult {
                customer: Some(self.customer.clone()),
                score: 2,
            }],
            next_page_token: String::new(),
        }))
    }

    async fn get_customer_value(
        &self,
        r: Request<pb::GetCustomerValueRequest>,
    ) -> Result<Response<pb::GetCustomerValueResponse>, Status> {
        Ok(Response::new(pb::GetCustomerValueResponse {
            customer_id: r.into_inner().id,
            values: Vec::new(),
        }))
    }

    async fn lookup_customer(
        &self,
        _: Request<pb::LookupCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.customer.clone()))
    }
}

/// Serves the echo service on `addr` until the process ends; prints `listening on ADDR`.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    tonic::transport::Server::builder()
        .add_service(CustomerServiceServer::new(Echo::default()))
        .serve_with_incoming(crm_grpc::incoming::Incoming::new(listener))
        .await?;
    Ok(())
}
