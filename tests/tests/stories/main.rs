//! The stories of crm over gRPC, one module each: the real server on `127.0.0.1:0` (in this
//! process, or the real binary where only a process can show it), called with a real client.
//!
//! They are one test binary, not one each: every binary that calls the server compiles its own
//! copy of the generated clients and the server, which took most of CI's test build when each
//! story was its own binary. The harnesses that need a process to themselves (the crash and
//! fault harnesses, the PostgreSQL restart, replicas, systemd, OTLP) stay binaries of their own.
//! One story: `cargo test -p crm-tests --test stories customers::`.

mod amount_limits;
mod backup;
mod bad_input;
mod bounded_answers;
mod bulk;
mod cancellation;
mod cli;
mod concurrency;
mod customer_since;
mod customers;
mod damage;
mod durability;
mod feed;
mod feedback;
mod grpc_web;
mod import;
mod lookalikes;
mod loyalty;
mod merge;
mod named_violations;
mod operations;
mod page_tokens;
mod pagination;
mod privacy;
mod report;
mod search;
mod security;
mod segments;
mod selling;
mod service;
mod support;
mod timeline;
mod value;
