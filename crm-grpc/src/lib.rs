//! # crm-grpc: the gRPC edge of crm
//!
//! A thin layer: decode and validate a request, call the store, map the result and the errors.
//!
//! # Layout
//! - [`pb`]: the generated `crm.v1` types (from `proto/crm/v1`).
//! - [`convert`]: conversions between `crm.v1` messages and `crm-core` customers.
//! - [`convert_timeline`]: conversions of timelines, summaries, derived fields, scoring models.
//! - [`keys`]: API keys and roles.
//! - [`status`]: store errors as gRPC statuses with `google.rpc` details.
//! - [`auth`]: authentication (API keys) and roles.
//! - [`call`]: the span, log line and metrics of every call.
//! - [`admin_service`]: the service `crm.v1.AdminService` (audit, keys, verify).
//! - [`customer_service`]: the service `crm.v1.CustomerService`.
//! - [`timeline_service`]: the service `crm.v1.TimelineService` (interactions, purchases,
//!   refunds, timelines).
//! - [`lifecycle_service`]: the service `crm.v1.LifecycleService` (stage moves, losses,
//!   qualification, the scoring model).
//! - [`segment_service`]: the service `crm.v1.SegmentService` (saved filters and their members).
//! - [`report_service`]: the service `crm.v1.ReportService` (the portfolio report).
//! - [`server`]: [`server::serve`]: the services (with health and reflection) on a bound listener,
//!   until a shutdown future resolves.

#[rustfmt::skip]
pub mod pb;

pub mod admin_service;
pub mod auth;
pub mod call;
pub mod convert;
pub mod convert_timeline;
pub mod customer_service;
pub mod keys;
pub mod lifecycle_service;
pub mod report_service;
pub mod segment_service;
pub mod server;
pub mod status;
pub mod timeline_service;
