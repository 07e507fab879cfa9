//! A sales team keeps its customers in crm over gRPC: the whole life of a customer.

use crm_tests::*;
use prost_types::FieldMask;
use tonic::Code;

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_from_first_contact_to_deletion() {
    let server = TestServer::start().await;
    let mut client = server.client().await;

    // An organization, and a person who works there, arrive from the web shop.
    let acme = create(&mut client, organization("Acme Gıda A.Ş.")).await;
    assert_eq!(acme.kind, pb::CustomerKind::Organization as i32);
    let mut ayse = person("  Ayşe ", "Ayse.Yilmaz@Acme.COM.tr");
    ayse.phones.push(pb::Phone {
        number: "0090 532 123 45 67".into(),
        label: "mobile".into(),
    });
    ayse.address = Some(pb::PostalAddress {
        city: "İstanbul".into(),
        country: "tr".into(),
        ..Default::default()
    });
    ayse.organization_id = acme.id.clone();
    ayse.external_id = "shop-1001".into();
    ayse.tags = vec!["Newsletter".into(), "VIP".into()];
    ayse.attributes.insert("plan".into(), "gold".into());
    ayse.consent = Some(pb::Consent {
        email_marketing: Some(pb::ConsentDecision {
            granted: true,
            ..Default::default()
        }),
        ..Default::default()
    });
    let created = create(&mut client, ayse).await;

    // crm assigned what it owns and normalized what it was given.
    assert_eq!(created.id.len(), 16);
    assert_eq!(created.etag, "v1");
    assert!(created.create_time.is_some() && created.update_time == created.create_time);
    assert_eq!(created.display_name, "Ayşe");
    assert_eq!(created.emails[0].address, "ayse.yilmaz@acme.com.tr");
    assert!(created.emails[0].primary);
    assert_eq!(created.phones[0].number, "+905321234567");
    assert_eq!(
        created.address.as_ref().map(|a| a.country.as_str()),
        Some("TR")
    );
    assert_eq!(created.tags, vec!["newsletter", "vip"]);
    assert_eq!(
        created.lifecycle_stage,
        pb::LifecycleStage::Awareness as i32
    );
    let consent = created.consent.as_ref().and_then(|c| c.email_marketing);
    assert!(consent.is_some_and(|d| d.granted && d.time.is_some()));

    // Read it back by id, by email in any case, and by the shop's id.
    let got = client
        .get_customer(pb::GetCustomerRequest {
            id: created.id.clone(),
        })
        .await;
    assert_eq!(got.map(|r| r.into_inner()).ok(), Some(created.clone()));
    let by_email = client
        .lookup_customer(pb::LookupCustomerRequest {
            key: Some(pb::lookup_customer_request::Key::Email(
                "AYSE.YILMAZ@acme.com.TR".into(),
            )),
        })
        .await;
    assert_eq!(
        by_email.map(|r| r.into_inner().id).ok(),
        Some(created.id.clone())
    );
    let by_external = client
        .lookup_customer(pb::LookupCustomerRequest {
            key: Some(pb::lookup_customer_request::Key::ExternalId(
                "shop-1001".into(),
            )),
        })
        .await;
    assert_eq!(
        by_external.map(|r| r.into_inner().id).ok(),
        Some(created.id.clone())
    );

    // She becomes a considered lead owned by Zeynep: a partial update by mask, with the etag.
    let patch = pb::Customer {
        id: created.id.clone(),
        owner: "zeynep".into(),
        lifecycle_stage: pb::LifecycleStage::Consideration as i32,
        display_name: "ignored: not in the mask".into(),
        ..Default::default()
    };
    let updated = client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(patch.clone()),
            update_mask: mask(&["owner", "lifecycle_stage"]),
            etag: "v1".into(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(updated.etag, "v2");
    assert_eq!(updated.owner, "zeynep");
    assert_eq!(
        updated.lifecycle_stage,
        pb::LifecycleStage::Consideration as i32
    );
    assert_eq!(updated.display_name, "Ayşe");
    assert_eq!(
        updated.emails, created.emails,
        "fields outside the mask stay"
    );
    let micros = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos));
    assert!(micros(&updated.update_time) > micros(&created.update_time));

    // Someone holding the old etag cannot overwrite her: ABORTED, and nothing changes.
    let stale = client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: created.id.clone(),
                owner: "mehmet".into(),
                ..Default::default()
            }),
            update_mask: mask(&["owner"]),
            etag: "v1".into(),
        })
        .await;
    assert_eq!(code_of(stale), Code::Aborted);
    let now = client
        .get_customer(pb::GetCustomerRequest {
            id: created.id.clone(),
        })
        .await;
    assert_eq!(now.map(|r| r.into_inner()).ok(), Some(updated.clone()));

    // Without a mask, every field set in the request is updated (AIP-134); one attribute by path.
    let mut implicit = pb::Customer {
        id: created.id.clone(),
        source: "fair-2026".into(),
        ..Default::default()
    };
    implicit.attributes.insert("tier".into(), "2".into());
    let updated = client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(implicit),
            update_mask: None,
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(updated.source, "fair-2026");
    assert_eq!(updated.owner, "zeynep");
    assert_eq!(
        updated.attributes.get("plan").map(String::as_str),
        Some("gold")
    );
    assert_eq!(
        updated.attributes.get("tier").map(String::as_str),
        Some("2")
    );

    // The organization cannot be deleted while she belongs to it.
    let blocked = client
        .delete_customer(pb::DeleteCustomerRequest {
            id: acme.id.clone(),
            etag: String::new(),
        })
        .await;
    assert_eq!(code_of(blocked), Code::FailedPrecondition);

    // She asks to be forgotten: delete with the current etag; every way to find her is gone.
    let stale_delete = client
        .delete_customer(pb::DeleteCustomerRequest {
            id: created.id.clone(),
            etag: "v1".into(),
        })
        .await;
    assert_eq!(code_of(stale_delete), Code::Aborted);
    client
        .delete_customer(pb::DeleteCustomerRequest {
            id: created.id.clone(),
            etag: updated.etag.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let gone = client
        .get_customer(pb::GetCustomerRequest {
            id: created.id.clone(),
        })
        .await;
    assert_eq!(code_of(gone), Code::NotFound);
    let lookup = client
        .lookup_customer(pb::LookupCustomerRequest {
            key: Some(pb::lookup_customer_request::Key::Email(
                "ayse.yilmaz@acme.com.tr".into(),
            )),
        })
        .await;
    assert_eq!(code_of(lookup), Code::NotFound);
    assert!(
        list_all(&mut client, r#"tags:"vip""#, "", 0)
            .await
            .is_empty()
    );
    let again = client
        .delete_customer(pb::DeleteCustomerRequest {
            id: created.id.clone(),
            etag: String::new(),
        })
        .await;
    assert_eq!(code_of(again), Code::NotFound);

    // Her email is free again, and the organization can now go.
    create(&mut client, person("Ayşe", "ayse.yilmaz@acme.com.tr")).await;
    client
        .delete_customer(pb::DeleteCustomerRequest {
            id: acme.id.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));

    let dir = server.stop().await;
    let report = open_store(dir.path())
        .verify()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.customers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_create_with_the_same_request_id_creates_one_customer() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let request = pb::CreateCustomerRequest {
        customer: Some(person("Grace", "grace@example.com")),
        request_id: "6f1c2a4e-8d0b-4f5e-9a63-2b7f0c1d9e11".into(),
    };
    let first = client
        .create_customer(request.clone())
        .await
        .map(|r| r.into_inner());
    let retry = client
        .create_customer(request)
        .await
        .map(|r| r.into_inner());
    assert!(first.is_ok());
    assert_eq!(first.ok(), retry.ok());
    assert_eq!(list_all(&mut client, "", "", 0).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_filter_by_every_indexed_field_and_order_as_asked() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let globex = create(&mut client, organization("Globex")).await;
    let mut names = Vec::new();
    for (i, name) in ["delta", "Alpha", "charlie", "Bravo", "echo", "foxtrot"]
        .iter()
        .enumerate()
    {
        let mut c = person(name, &format!("{name}@example.com"));
        c.lifecycle_stage =
            [pb::LifecycleStage::Awareness, pb::LifecycleStage::Loyalty][i % 2] as i32;
        c.owner = ["zeynep", "mehmet", "ali"][i % 3].into();
        c.tags = if i < 3 { vec!["vip".into()] } else { vec![] };
        c.address = Some(pb::PostalAddress {
            country: ["TR", "DE"][i % 2].into(),
            ..Default::default()
        });
        if i == 5 {
            c.organization_id = globex.id.clone();
        }
        names.push(create(&mut client, c).await.display_name);
    }
    let shown = |cs: Vec<pb::Customer>| cs.into_iter().map(|c| c.display_name).collect::<Vec<_>>();
    assert_eq!(
        shown(list_all(&mut client, r#"lifecycle_stage = "LOYALTY""#, "", 0).await),
        ["Alpha", "Bravo", "foxtrot"]
    );
    assert_eq!(
        shown(
            list_all(
                &mut client,
                r#"lifecycle_stage = "LOYALTY" AND tags:"vip""#,
                "",
                0
            )
            .await
        ),
        ["Alpha"]
    );
    assert_eq!(
        shown(list_all(&mut client, r#"kind = "ORGANIZATION""#, "", 0).await),
        ["Globex"]
    );
    assert_eq!(
        shown(list_all(&mut client, r#"owner = "zeynep""#, "", 0).await),
        ["delta", "Bravo"]
    );
    assert_eq!(
        shown(
            list_all(
                &mut client,
                &format!(r#"organization_id = "{}""#, globex.id),
                "",
                0
            )
            .await
        ),
        ["foxtrot"]
    );
    assert_eq!(
        shown(
            list_all(
                &mut client,
                r#"address.country = "de" AND NOT tags:"vip""#,
                "",
                0
            )
            .await
        ),
        ["Bravo", "foxtrot"]
    );
    assert_eq!(
        shown(list_all(&mut client, r#"kind = PERSON"#, "display_name", 2).await),
        ["Alpha", "Bravo", "charlie", "delta", "echo", "foxtrot"]
    );
    assert_eq!(
        shown(list_all(&mut client, r#"tags:"vip""#, "display_name desc", 1).await),
        ["delta", "charlie", "Alpha"]
    );
    let mut created_order = vec!["Globex".to_string()];
    created_order.extend(names);
    assert_eq!(
        shown(list_all(&mut client, "", "create_time", 4).await),
        created_order
    );
    created_order.reverse();
    assert_eq!(
        shown(list_all(&mut client, "", "create_time desc", 3).await),
        created_order
    );
    // The most recently updated comes first in update_time desc.
    let bravo = client
        .lookup_customer(pb::LookupCustomerRequest {
            key: Some(pb::lookup_customer_request::Key::Email(
                "bravo@example.com".into(),
            )),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                id: bravo.id,
                source: "referral".into(),
                ..Default::default()
            }),
            update_mask: mask(&["source"]),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let recent = shown(list_all(&mut client, "", "update_time desc", 10).await);
    assert_eq!(recent.first().map(String::as_str), Some("Bravo"));
}
