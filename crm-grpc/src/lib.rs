//! # crm-grpc: the gRPC edge of crm
//!
//! A thin layer: decode and validate a request, call the store, map the result and the errors.
//!
//! # Layout
//! - [`pb`]: the generated `crm.v1` types (from `proto/crm/v1`).
//! - [`convert`]: conversions between `crm.v1` messages and `crm-core` types, one file per
//!   domain.
//! - [`services`]: one file per `crm.v1` service, what they share, and the role table.
//! - [`layer`]: the tower layer every call goes through: authentication, roles, request id,
//!   span, log line and metrics.
//! - [`admission`]: a call takes a call slot only once its request body has arrived (within a
//!   timeout), so stuck or slow clients cannot hold the server's slots.
//! - [`incoming`]: the accept loop, which backs off when the process is out of descriptors.
//! - [`auth`]: whether calls need an API key. [`keys`]: API keys and roles.
//! - [`status`]: store errors as gRPC statuses with `google.rpc` details.
//! - [`server`]: [`server::serve`]: the services (with health and reflection) on a bound listener,
//!   until a shutdown future resolves.

#[rustfmt::skip]
pub mod pb;

pub mod admission;
pub mod auth;
pub mod console;
pub mod convert;
pub mod incoming;
pub mod keys;
pub mod layer;
pub mod server;
pub mod services;
pub mod status;
pub mod tls;
mod workers;
