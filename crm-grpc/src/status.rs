//! Store errors as gRPC statuses (AIP-193): a code a client can branch on, a message a person can
//! read, and `google.rpc` details: ErrorInfo (stable reason, domain `crm.v1`, metadata) always,
//! BadRequest field violations for bad input, ResourceInfo for a missing customer.

use std::collections::HashMap;

use crm_core::{CustomerId, Violations};
use crm_store::engine::EngineError;
use crm_store::{Resource, StoreError, UniqueField};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The ErrorInfo domain of every error of this service.
pub const DOMAIN: &str = "crm.v1";

/// Where the fields a violation names live in the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fields {
    /// Fields of the request itself (`id`, `filter`, `email`).
    Request,
    /// Fields of the request's `customer` (create, update), except the request's own
    /// `customer`, `update_mask`, `request_id` and `etag`.
    InCustomer,
    /// Fields of an import row's `customer`, except the row's own `key`, `customer` and
    /// `entries`.
    InRow,
}

const OWN_FIELDS: &[&str] = &["customer", "update_mask", "request_id", "etag"];
const ROW_FIELDS: &[&str] = &["key", "customer", "entries"];

impl Fields {
    fn path(self, field: &str) -> String {
        let root = field.split(['.', '[']).next().unwrap_or(field);
        match self {
            Fields::InCustomer if !OWN_FIELDS.contains(&root) => format!("customer.{field}"),
            Fields::InRow if !ROW_FIELDS.contains(&root) => format!("customer.{field}"),
            _ => field.to_owned(),
        }
    }
}

/// A status as the `google.rpc.Status` message a batch answers for one item (code, message and
/// the details the status carries).
pub fn item_status(status: &Status) -> tonic_types::pb::Status {
    use prost::Message as _;
    match tonic_types::pb::Status::decode(status.details()) {
        Ok(decoded) if decoded.code == status.code() as i32 => decoded,
        _ => tonic_types::pb::Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        },
    }
}

/// INVALID_ARGUMENT for fields of the request itself.
pub fn invalid(v: Violations) -> Status {
    invalid_in(Fields::Request, v)
}

/// INVALID_ARGUMENT with one field violation per problem, named where they live.
pub fn invalid_in(fields: Fields, v: Violations) -> Status {
    let mut details = ErrorDetails::with_error_info("INVALID_ARGUMENT", DOMAIN, HashMap::new());
    let mut described = Vec::new();
    for violation in v.0 {
        let path = fields.path(&violation.field);
        details.add_bad_request_violation(path.clone(), violation.description.clone());
        described.push(format!("{path}: {}", violation.description));
    }
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {}", described.join("; ")),
        details,
    )
}

fn with_info(
    code: Code,
    message: String,
    reason: &str,
    metadata: HashMap<String, String>,
) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, metadata),
    )
}

/// Maps every store error to its status, naming fields where they live in the request. Every
/// variant is named: a new one fails to compile here until it is mapped.
pub fn from_store(fields: Fields, e: StoreError) -> Status {
    let message = e.to_string();
    match e {
        StoreError::Invalid(v) => invalid_in(fields, v),
        StoreError::NotFound(resource) => not_found(resource, message),
        StoreError::AlreadyExists {
            field,
            value,
            existing,
        } => {
            let (reason, holder) = match field {
                UniqueField::ExternalId => ("EXTERNAL_ID_TAKEN", "existing_customer_id"),
                UniqueField::SegmentName => ("SEGMENT_NAME_TAKEN", "existing_segment_id"),
                UniqueField::Email { .. } => ("EMAIL_TAKEN", "existing_customer_id"),
                UniqueField::Named(_) => ("ALREADY_EXISTS", "existing_id"),
            };
            let path = fields.path(&field.to_string());
            let mut details = ErrorDetails::with_error_info(
                reason,
                DOMAIN,
                HashMap::from([
                    ("field".to_owned(), path.clone()),
                    ("value".to_owned(), value.clone()),
                    (holder.to_owned(), existing.clone()),
                ]),
            );
            details.add_bad_request_violation(path.clone(), "already belongs to another customer");
            Status::with_error_details(
                Code::AlreadyExists,
                format!("{path} {value:?} is already taken ({holder} {existing})"),
                details,
            )
        }
        StoreError::Aborted { current, .. } => with_info(
            Code::Aborted,
            message,
            "ETAG_MISMATCH",
            HashMap::from([("current_etag".to_owned(), current)]),
        ),
        StoreError::FailedPrecondition(why) => with_info(
            Code::FailedPrecondition,
            message,
            why.reason(),
            why.metadata()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        ),
        StoreError::Corrupt { key, .. } => with_info(
            Code::DataLoss,
            message,
            "DATA_CORRUPTED",
            HashMap::from([("key".to_owned(), key)]),
        ),
        StoreError::BadBackup { .. } => {
            with_info(Code::InvalidArgument, message, "BAD_BACKUP", HashMap::new())
        }
        StoreError::Io { .. } => with_info(Code::Internal, message, "IO_FAILURE", HashMap::new()),
        StoreError::LimitReached(_) => with_info(
            Code::ResourceExhausted,
            message,
            "LIMIT_REACHED",
            HashMap::new(),
        ),
        StoreError::Conflict => with_info(Code::Aborted, message, "CONFLICT", HashMap::new()),
        StoreError::Durability(_) => {
            with_info(Code::Unavailable, message, "NOT_DURABLE", HashMap::new())
        }
        StoreError::Engine(engine) => engine_failure(engine, message),
        StoreError::DataLoss { .. } => with_info(
            Code::DataLoss,
            message,
            "ACKNOWLEDGED_DATA_MISSING",
            HashMap::new(),
        ),
        StoreError::Locked { .. }
        | StoreError::UnsupportedFormat { .. }
        | StoreError::Storage(_) => {
            with_info(Code::Internal, message, "STORAGE_FAILURE", HashMap::new())
        }
    }
}

/// NOT_FOUND `CUSTOMER_MERGED`: the customer was merged into `survivor`.
fn merged(customer: CustomerId, survivor: CustomerId, merge: u64, message: String) -> Status {
    let mut details = ErrorDetails::with_error_info(
        "CUSTOMER_MERGED",
        DOMAIN,
        HashMap::from([
            ("customer_id".to_owned(), customer.to_string()),
            ("survivor_id".to_owned(), survivor.to_string()),
            ("merge_id".to_owned(), merge.to_string()),
        ]),
    );
    details.set_resource_info("crm.v1.Customer", customer.to_string(), "", message.clone());
    Status::with_error_details(Code::NotFound, message, details)
}

fn not_found(resource: Resource, message: String) -> Status {
    let (reason, kind, lookup, key) = match resource {
        Resource::Merged {
            customer,
            survivor,
            merge,
        } => return merged(customer, survivor, merge, message),
        Resource::Merge(id) => ("MERGE_NOT_FOUND", "crm.v1.Merge", "merge", id.to_string()),
        Resource::Customer(id) => (
            "CUSTOMER_NOT_FOUND",
            "crm.v1.Customer",
            "customer",
            id.to_string(),
        ),
        Resource::Email(email) => ("CUSTOMER_NOT_FOUND", "crm.v1.Customer", "email", email),
        Resource::ExternalId(ext) => ("CUSTOMER_NOT_FOUND", "crm.v1.Customer", "external_id", ext),
        Resource::Reward(id) => (
            "REWARD_NOT_FOUND",
            "crm.v1.Reward",
            "reward",
            id.to_string(),
        ),
        Resource::Segment(id) => (
            "SEGMENT_NOT_FOUND",
            "crm.v1.Segment",
            "segment",
            id.to_string(),
        ),
        Resource::Ticket(id) => (
            "TICKET_NOT_FOUND",
            "crm.v1.Ticket",
            "ticket",
            id.to_string(),
        ),
        Resource::Pipeline(id) => (
            "PIPELINE_NOT_FOUND",
            "crm.v1.Pipeline",
            "pipeline",
            id.to_string(),
        ),
        Resource::Deal(id) => ("DEAL_NOT_FOUND", "crm.v1.Deal", "deal", id.to_string()),
        Resource::Task(id) => ("TASK_NOT_FOUND", "crm.v1.Task", "task", id.to_string()),
        Resource::Rule(id) => ("RULE_NOT_FOUND", "crm.v1.Rule", "rule", id.to_string()),
        Resource::Purchase { order_ref, .. } => (
            "PURCHASE_NOT_FOUND",
            "crm.v1.Purchase",
            "purchase",
            order_ref,
        ),
    };
    let mut details = ErrorDetails::with_error_info(
        reason,
        DOMAIN,
        HashMap::from([
            ("lookup".to_owned(), lookup.to_owned()),
            ("key".to_owned(), key.clone()),
        ]),
    );
    details.set_resource_info(kind, key, "", message.clone());
    Status::with_error_details(Code::NotFound, message, details)
}

/// An engine failure: a conflict that outlasted the retries can be retried by the caller; a
/// disk or engine failure is the service's.
fn engine_failure(e: EngineError, message: String) -> Status {
    let (code, reason) = match e {
        EngineError::Conflict => (Code::Aborted, "CONFLICT"),
        EngineError::DiskFull {
            available, needed, ..
        } => {
            return with_info(
                Code::ResourceExhausted,
                message,
                "DISK_FULL",
                HashMap::from([
                    ("available_bytes".to_owned(), available.to_string()),
                    ("needed_bytes".to_owned(), needed.to_string()),
                ]),
            );
        }
        EngineError::Corrupt { .. } => (Code::DataLoss, "DATA_CORRUPTED"),
        EngineError::Locked { .. } => (Code::Internal, "STORAGE_FAILURE"),
        EngineError::Io { .. } | EngineError::Unavailable { .. } => {
            (Code::Unavailable, "STORAGE_UNAVAILABLE")
        }
        EngineError::Timeout { .. } => (Code::DeadlineExceeded, "STORAGE_TIMEOUT"),
        EngineError::Failed { .. } => (Code::Internal, "STORAGE_FAILURE"),
        EngineError::OtherEngine { .. } => (Code::FailedPrecondition, "OTHER_ENGINE"),
    };
    with_info(code, message, reason, HashMap::new())
}
