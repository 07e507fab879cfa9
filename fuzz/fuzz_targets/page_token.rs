//! Any text as a page token against a small store: INVALID_ARGUMENT or a page, never a panic.
#![no_main]
use std::sync::OnceLock;

use crm_core::{CustomerData, Party, Person};
use crm_store::{Durability, ListQuery, Store, StoreConfig};

fn store() -> &'static Store {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let store =
                Store::open_with(StoreConfig::new(dir.path()).durability(Durability::Relaxed))
                    .unwrap_or_else(|e| panic!("{e}"));
            for i in 0..20 {
                let c = CustomerData::new(Party::Person(Person {
                    given_name: format!("P{i}"),
                    ..Person::default()
                }));
                let _ = store.customers().create(c, None);
            }
            (dir, store)
        })
        .1
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        for order in ["", "display_name desc", "update_time"] {
            let query = ListQuery {
                order_by: crm_core::OrderBy::parse(order).unwrap_or_default(),
                page_token: token.to_owned(),
                page_size: 3,
                ..ListQuery::default()
            };
            let _ = store().customers().list(&query);
        }
    }
});
