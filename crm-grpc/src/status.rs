//! Store errors as gRPC statuses (AIP-193): a code a client can branch on, a message a person can
//! read, and `google.rpc` details: ErrorInfo (stable reason, domain `crm.v1`, metadata) always,
//! BadRequest field violations for bad input, ResourceInfo for a missing customer.

use std::collections::HashMap;

use crm_core::Violations;
use crm_store::StoreError;
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
}

const OWN_FIELDS: &[&str] = &["customer", "update_mask", "request_id", "etag"];

impl Fields {
    fn path(self, field: &str) -> String {
        let root = field.split(['.', '[']).next().unwrap_or(field);
        match self {
            Fields::InCustomer if !OWN_FIELDS.contains(&root) => format!("customer.{field}"),
            _ => field.to_owned(),
        }
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

/// Maps every store error to its status, naming fields where they live in the request.
pub fn from_store(fields: Fields, e: StoreError) -> Status {
    let message = e.to_string();
    match e {
        StoreError::Invalid(v) => invalid_in(fields, v),
        StoreError::NotFound { what, key } => {
            let (reason, resource) = match what {
                "purchase" => ("PURCHASE_NOT_FOUND", "crm.v1.Purchase"),
                "segment" => ("SEGMENT_NOT_FOUND", "crm.v1.Segment"),
                _ => ("CUSTOMER_NOT_FOUND", "crm.v1.Customer"),
            };
            let mut details = ErrorDetails::with_error_info(
                reason,
                DOMAIN,
                HashMap::from([
                    ("lookup".to_owned(), what.to_owned()),
                    ("key".to_owned(), key.clone()),
                ]),
            );
            details.set_resource_info(resource, key, "", message.clone());
            Status::with_error_details(Code::NotFound, message, details)
        }
        StoreError::AlreadyExists {
            field,
            value,
            existing,
        } => {
            let (reason, holder) = match field.as_str() {
                "external_id" => ("EXTERNAL_ID_TAKEN", "existing_customer_id"),
                "segment.name" => ("SEGMENT_NAME_TAKEN", "existing_segment_id"),
                _ => ("EMAIL_TAKEN", "existing_customer_id"),
            };
            let path = fields.path(&field);
            let mut details = ErrorDetails::with_error_info(
                reason,
                DOMAIN,
                HashMap::from([
                    ("field".to_owned(), path.clone()),
                    ("value".to_owned(), value.clone()),
                    (holder.to_owned(), existing.to_string()),
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
        StoreError::FailedPrecondition { reason, .. } => {
            with_info(Code::FailedPrecondition, message, reason, HashMap::new())
        }
        StoreError::Corrupt { key, .. } => with_info(
            Code::DataLoss,
            message,
            "DATA_CORRUPTED",
            HashMap::from([("key".to_owned(), key)]),
        ),
        StoreError::Durability(_) => {
            with_info(Code::Unavailable, message, "NOT_DURABLE", HashMap::new())
        }
        StoreError::Locked { .. }
        | StoreError::UnsupportedFormat { .. }
        | StoreError::Storage(_) => {
            with_info(Code::Internal, message, "STORAGE_FAILURE", HashMap::new())
        }
        _ => with_info(Code::Internal, message, "INTERNAL", HashMap::new()),
    }
}
