//! The generated `crm.v1` types and service stubs.

#![allow(missing_docs, missing_debug_implementations, clippy::all, clippy::pedantic)]

tonic::include_proto!("crm.v1");

/// The encoded file descriptor set of the contract, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("crm_descriptor");
