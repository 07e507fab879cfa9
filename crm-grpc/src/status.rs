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

/// Request fields that violations name as they are; any other field is inside `customer`.
const REQUEST_FIELDS: &[&str] = &[
    "id",
    "etag",
    "request_id",
    "update_mask",
    "page_size",
    "page_token",
    "filter",
    "order_by",
    "email",
    "external_id",
    "key",
    "customer",
];

fn request_path(field: &str) -> String {
    let root = field.split(['.', '[']).next().unwrap_or(field);
    if REQUEST_FIELDS.contains(&root) {
        field.to_owned()
    } else {
        format!("customer.{field}")
    }
}

/// INVALID_ARGUMENT with one field violation per problem; customer fields get the `customer.`
/// prefix of the request.
pub fn invalid(v: Violations) -> Status {
    let mut details = ErrorDetails::with_error_info("INVALID_ARGUMENT", DOMAIN, HashMap::new());
    let mut fields = Vec::new();
    for violation in v.0 {
        let path = request_path(&violation.field);
        details.add_bad_request_violation(path.clone(), violation.description.clone());
        fields.push(format!("{path}: {}", violation.description));
    }
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {}", fields.join("; ")),
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

/// Maps every store error to its status.
pub fn from_store(e: StoreError) -> Status {
    let message = e.to_string();
    match e {
        StoreError::Invalid(v) => invalid(v),
        StoreError::NotFound { what, key } => {
            let mut details = ErrorDetails::with_error_info(
                "CUSTOMER_NOT_FOUND",
                DOMAIN,
                HashMap::from([
                    ("lookup".to_owned(), what.to_owned()),
                    ("key".to_owned(), key.clone()),
                ]),
            );
            details.set_resource_info("crm.v1.Customer", key, "", message.clone());
            Status::with_error_details(Code::NotFound, message, details)
        }
        StoreError::AlreadyExists {
            field,
            value,
            existing,
        } => {
            let reason = if field == "external_id" {
                "EXTERNAL_ID_TAKEN"
            } else {
                "EMAIL_TAKEN"
            };
            let path = request_path(&field);
            let mut details = ErrorDetails::with_error_info(
                reason,
                DOMAIN,
                HashMap::from([
                    ("field".to_owned(), path.clone()),
                    ("value".to_owned(), value),
                    ("existing_customer_id".to_owned(), existing.to_string()),
                ]),
            );
            details.add_bad_request_violation(path.clone(), "already belongs to another customer");
            Status::with_error_details(Code::AlreadyExists, format!("{path}: {message}"), details)
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
