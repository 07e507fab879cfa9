//! Synthetic customers: realistic field sizes (about 300 bytes encoded), already in normal form
//! (lower-case email, E.164 phone, sorted tags), deterministic from a number so every engine
//! stores the same customers and a workload can name one by its number.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::{
    Address, Customer, CustomerData, CustomerId, Email, LifecycleStage, Party, Person, Phone,
};

const GIVEN: [&str; 10] = [
    "Ayşe", "Mehmet", "Zeynep", "Ali", "Elif", "Can", "Ada", "Deniz", "Ece", "Mert",
];
const FAMILY: [&str; 10] = [
    "Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Aydın", "Arslan", "Doğan", "Koç",
];
const COUNTRIES: [&str; 6] = ["TR", "DE", "NL", "GB", "US", "FR"];
const CITIES: [&str; 6] = [
    "İstanbul",
    "Berlin",
    "Amsterdam",
    "London",
    "Boston",
    "Paris",
];

/// The email address of customer `n`.
pub fn email(n: u64) -> String {
    format!("customer{n}@bench.example.com")
}

/// The lifecycle stage of customer `n` (spread evenly over the six).
pub fn stage(n: u64) -> LifecycleStage {
    LifecycleStage::ALL[(n % 6) as usize]
}

/// The data of customer `n`, as a client would send it (and in the form the store keeps it).
pub fn customer_data(n: u64) -> CustomerData {
    let given = GIVEN[(n % 10) as usize];
    let family = FAMILY[((n / 10) % 10) as usize];
    let mut data = CustomerData::new(Party::Person(Person {
        given_name: given.into(),
        family_name: family.into(),
        ..Person::default()
    }));
    data.display_name = format!("{given} {family}");
    data.emails.push(Email {
        address: email(n),
        label: "work".into(),
        primary: true,
    });
    data.phones.push(Phone {
        number: format!("+90532{:07}", n % 10_000_000),
        label: "mobile".into(),
    });
    let c = (n % 6) as usize;
    data.address = Some(Address {
        lines: vec![format!("Street {} No {}", n % 500, n % 97)],
        city: CITIES[c].into(),
        region: String::new(),
        postal_code: format!("{:05}", n % 100_000),
        country: COUNTRIES[c].into(),
    });
    data.owner = Some(format!("owner{}", n % 20));
    data.source = Some("web".into());
    let mut tags = vec![format!("segment-{}", n % 7)];
    if n.is_multiple_of(10) {
        tags.push("vip".into());
    }
    tags.sort();
    data.tags = tags;
    data.attributes = BTreeMap::from([(
        "plan".to_string(),
        if n.is_multiple_of(3) {
            "gold"
        } else {
            "silver"
        }
        .to_string(),
    )]);
    data.lifecycle_stage = stage(n);
    data
}

/// Customer `n` as a stored record, for the engines that store records themselves.
pub fn customer(n: u64, now: DateTime<Utc>) -> Customer {
    Customer {
        erased: None,
        id: CustomerId(n),
        create_time: now,
        update_time: now,
        version: 1,
        data: customer_data(n),
    }
}
