//! Any text as a filter (of customers, tickets and deals) or an order: a precise error or a
//! filter, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(filter) = crm_core::Filter::parse(text) {
            let _ = filter.indexed_terms();
        }
        if let Ok(filter) = crm_core::support::filter::parse(text) {
            let _ = crm_core::support::filter::indexed(&filter);
        }
        if let Ok(filter) = crm_core::deals::filter::parse(text) {
            let _ = crm_core::deals::filter::indexed(&filter);
        }
        let _ = crm_core::OrderBy::parse(text);
    }
});
