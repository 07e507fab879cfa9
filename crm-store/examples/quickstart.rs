//! crm as a library: keep customers in your own process, no server needed.
//!
//! ```text
//! cargo run -p crm-store --example quickstart            # a temporary directory
//! cargo run -p crm-store --example quickstart -- ./data  # or a directory of yours
//! ```

use crm_core::{
    Address, CustomerData, Email, Filter, LifecycleStage, OrderBy, Organization, Party, Person,
    UpdateMask,
};
use crm_store::{ListQuery, Store, StoreError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let path = std::env::args()
        .nth(1)
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    let store = Store::open(&path)?;

    // A company and a person who works there. Input is normalized and validated on the way in.
    let acme = store.customers().create(
        CustomerData::new(Party::Organization(Organization {
            legal_name: "Acme Gıda A.Ş.".into(),
            industry: "food".into(),
            employee_count: Some(120),
            ..Organization::default()
        })),
        None,
    )?;
    let mut ayse = CustomerData::new(Party::Person(Person {
        given_name: "Ayşe".into(),
        family_name: "Yılmaz".into(),
        ..Person::default()
    }));
    ayse.emails.push(Email {
        address: "Ayse@Acme.com.TR".into(),
        label: "work".into(),
        primary: true,
    });
    ayse.address = Some(Address {
        city: "İstanbul".into(),
        country: "tr".into(),
        ..Address::default()
    });
    ayse.organization_id = Some(acme.id);
    ayse.tags = vec!["VIP".into()];
    let ayse = store.customers().create(ayse, Some("signup-form-7f3a"))?;
    println!(
        "created {} ({}) etag {}",
        ayse.data.display_name,
        ayse.id,
        ayse.etag()
    );

    // Bad input is refused with every problem named.
    let mut bad = CustomerData::new(Party::Person(Person::default()));
    bad.emails.push(Email {
        address: "not-an-email".into(),
        label: String::new(),
        primary: false,
    });
    if let Err(StoreError::Invalid(violations)) = store.customers().create(bad, None) {
        for v in violations.0 {
            println!("refused: {}: {}", v.field, v.description);
        }
    }

    // A partial update, conditional on the version we read.
    let mut patch = ayse.data.clone();
    patch.lifecycle_stage = LifecycleStage::Consideration;
    patch.owner = Some("zeynep".into());
    let mask = UpdateMask::parse(&["lifecycle_stage", "owner"])?;
    let ayse = store
        .customers()
        .update(ayse.id, &patch, &mask, Some(&ayse.etag()))?;
    println!(
        "{} is now in {} (etag {})",
        ayse.data.display_name,
        ayse.data.lifecycle_stage.name(),
        ayse.etag()
    );

    // Look up and list, served from indexes.
    let found = store.customers().lookup_by_email("AYSE@acme.com.tr")?;
    println!("lookup by email found {}", found.id);
    let page = store.customers().list(&ListQuery {
        filter: Filter::parse(r#"tags:"vip" AND address.country = "TR""#)?,
        order_by: OrderBy::parse("display_name")?,
        ..ListQuery::default()
    })?;
    for c in &page.customers {
        println!(
            "vip in TR: {} <{}>",
            c.data.display_name,
            c.data.primary_email().unwrap_or("-")
        );
    }

    // A purchase on the timeline: the summary adds it up, the lifecycle moves by itself.
    let bought = store.timeline().record_purchase(
        ayse.id,
        crm_core::timeline::Purchase {
            order_ref: "SO-1001".into(),
            amount: crm_core::Money::new("TRY", 125_000),
            line_items: Vec::new(),
        },
        crm_store::EntryMeta::default(),
    )?;
    let insight = store.insights().insight(&bought.customer)?;
    println!(
        "after SO-1001: stage {}, status {}, lead score {} ({}), net {} TRY minor units",
        bought.customer.data.lifecycle_stage.name(),
        insight.status.name(),
        insight.lead.score,
        insight.lead.temperature.name(),
        insight
            .summary
            .totals
            .get("TRY")
            .map_or(0, |t| t.net_minor())
    );

    // The change log records every write, in order.
    for event in store.audit().changes(0, 10)? {
        println!(
            "change #{}: {:?} {:?} {} v{}",
            event.seq, event.kind, event.entity.kind, event.entity.id, event.version
        );
    }

    let report = store.verify()?;
    println!(
        "verify: {} customers, {} index entries, clean: {}",
        report.customers,
        report.index_entries,
        report.is_clean()
    );
    Ok(())
}
