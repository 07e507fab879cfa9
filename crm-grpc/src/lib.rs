//! # crm-grpc: the gRPC edge of crm
//!
//! A thin layer: decode and validate a request, call the store, map the result and the errors.
//!
//! # Layout
//! - [`pb`]: the generated `crm.v1` types (from `proto/crm/v1`).
//! - [`convert`]: every conversion between `crm.v1` messages and `crm-core` types.
//! - [`keys`]: API keys and roles.
//! - [`status`]: store errors as gRPC statuses with `google.rpc` details.
//! - [`auth`]: authentication (API keys) and roles.
//! - [`call`]: the span, log line and metrics of every call.
//! - [`admin_service`]: the service `crm.v1.AdminService` (audit, keys, verify).
//! - [`customer_service`]: the service `crm.v1.CustomerService`.
//! - [`server`]: [`server::serve`]: the services (with health and reflection) on a bound listener,
//!   until a shutdown future resolves.

#[rustfmt::skip]
pub mod pb;

pub mod admin_service;
pub mod auth;
pub mod call;
pub mod convert;
pub mod customer_service;
pub mod keys;
pub mod server;
pub mod status;
