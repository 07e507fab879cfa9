//! Any text as a filter or an order: a precise error or a filter, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(filter) = crm_core::Filter::parse(text) {
            let _ = filter.indexed_terms();
        }
        let _ = crm_core::OrderBy::parse(text);
    }
});
