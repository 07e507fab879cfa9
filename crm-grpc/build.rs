//! Compiles the `crm.v1` contract with a vendored protoc, so a fresh machine needs only cargo.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "crm/v1/customer.proto",
    "crm/v1/customer_service.proto",
    "crm/v1/admin_service.proto",
    "crm/v1/timeline.proto",
    "crm/v1/timeline_service.proto",
    "crm/v1/lifecycle_service.proto",
    "crm/v1/segment_service.proto",
    "crm/v1/report_service.proto",
    "crm/v1/change_feed_service.proto",
    "crm/v1/customer_bulk.proto",
    "crm/v1/customer_merge.proto",
    "crm/v1/feedback.proto",
    "crm/v1/feedback_service.proto",
    "crm/v1/support_service.proto",
    "crm/v1/loyalty_service.proto",
    "crm/v1/deal_service.proto",
    "crm/v1/task_service.proto",
    "crm/v1/automation_service.proto",
    "crm/v1/privacy_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    let well_known = protoc_bin_vendored::include_path()?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        // google.rpc.Status (per-item errors) is tonic-types' own.
        .extern_path(".google.rpc", "::tonic_types::pb")
        .file_descriptor_set_path(out.join("crm_descriptor.bin"))
        .compile_with_config(config, &protos, &[root, well_known])?;
    Ok(())
}
