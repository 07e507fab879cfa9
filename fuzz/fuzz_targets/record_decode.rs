//! Stored value bytes from a damaged disk: decoding any kind of stored value returns an error,
//! never panics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = crm_store::decode_customer_record(data);
    let _ = crm_store::decode_every_kind(data);
});
