//! # crm-bench: measuring crm
//!
//! # Layout
//! - `analytics` (feature `compare`): filters, search, segments and the portfolio report on a
//!   portfolio with timelines.
//! - [`data`]: the synthetic customers every engine stores (deterministic from a number).
//! - [`stats`]: timing a workload: ops/s, percentiles, peak RSS.
//! - [`echo`]: a trivial CustomerService answering from memory: the wire's ceiling.
//! - `engines` (feature `compare`): crm-store, a raw-sled floor and SQLite behind one trait.
//!
//! The binaries: `crm-bench` (the gRPC load generator) and `crm-libbench` (the library
//! comparison, feature `compare`). BENCHMARKS.md has the commands and the figures.

/// Every benchmark binary allocates with mimalloc, as crm-server does, so the engines compared in
/// one process share one allocator (`--no-default-features` measures on the system allocator).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "compare")]
pub mod analytics;
pub mod data;
pub mod echo;
pub mod stats;

#[cfg(feature = "compare")]
pub mod engines;
