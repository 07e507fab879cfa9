//! Any bytes as a Customer message, through conversion and validation: errors, never panics.
#![no_main]
use prost::Message;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(message) = crm_grpc::pb::Customer::decode(data) {
        let mask = crm_grpc::convert::implicit_mask(&message);
        let _ = crm_core::UpdateMask::parse(&mask);
        if let Ok(mut customer) =
            crm_grpc::convert::customer_from_proto(message, chrono::Utc::now())
        {
            let _ = crm_core::validate_customer(&mut customer, chrono::Utc::now());
        }
    }
});
