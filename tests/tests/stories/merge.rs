//! Over gRPC: a steward finds three records of one customer, merges them, meets the merged id's
//! answer, and unmerges; every step is in the audit trail.

use crm_tests::*;
use pb::admin_service_client::AdminServiceClient;
use tonic::Code;

fn with_phone(mut c: pb::Customer, number: &str) -> pb::Customer {
    if number.is_empty() {
        return c;
    }
    c.phones = vec![pb::Phone {
        number: number.into(),
        ..Default::default()
    }];
    c
}

#[tokio::test]
async fn three_records_are_found_merged_and_unmerged_over_the_api() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let a = create(
        &mut client,
        with_phone(person("Elif", "elif@example.com"), "+905551112233"),
    )
    .await;
    let b = create(
        &mut client,
        with_phone(person("Elif", "elif+web@example.com"), ""),
    )
    .await;
    let c = create(&mut client, with_phone(person("Elif", ""), "+905551112233")).await;
    create(&mut client, person("Someone Else", "else@example.com")).await;

    let found = client
        .find_duplicates(pb::FindDuplicatesRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(found.groups.len(), 1, "{found:?}");
    let group = &found.groups[0];
    let mut ids: Vec<String> = group.customers.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    let mut expected = vec![a.id.clone(), b.id.clone(), c.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(group.evidence.contains(&"EMAIL".to_owned()), "{group:?}");

    let bad_rule = client
        .merge_customers(pb::MergeCustomersRequest {
            survivor_id: a.id.clone(),
            merged_ids: vec![b.id.clone(), c.id.clone()],
            field_rules: [("colour".to_owned(), "NEWEST".to_owned())].into(),
        })
        .await;
    let status = bad_rule
        .err()
        .unwrap_or_else(|| panic!("an unknown field was accepted"));
    assert_eq!(violations(&status), vec!["field_rules[colour]"]);

    let merged = client
        .merge_customers(pb::MergeCustomersRequest {
            survivor_id: a.id.clone(),
            merged_ids: vec![b.id.clone(), c.id.clone()],
            field_rules: Default::default(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let survivor = merged.survivor.unwrap_or_else(|| panic!("no survivor"));
    assert_eq!(survivor.emails.len(), 2);

    let gone = client
        .get_customer(pb::GetCustomerRequest { id: b.id.clone() })
        .await;
    let status = refused(gone, Code::NotFound, "CUSTOMER_MERGED");
    let info = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .cloned()
        .unwrap_or_else(|| panic!("no ErrorInfo"));
    assert_eq!(info.metadata.get("survivor_id"), Some(&a.id));
    assert_eq!(
        info.metadata.get("merge_id"),
        Some(&merged.merge_id.to_string())
    );
    assert_eq!(list_all(&mut client, "", "", 50).await.len(), 2);

    let unmerged = client
        .unmerge_customers(pb::UnmergeCustomersRequest {
            merge_id: merged.merge_id,
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(unmerged.restored.len(), 2);
    let back = client
        .get_customer(pb::GetCustomerRequest { id: b.id.clone() })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(
        (back.emails.clone(), back.display_name.clone()),
        (b.emails.clone(), b.display_name.clone())
    );
    let survivor = unmerged.survivor.unwrap_or_else(|| panic!("no survivor"));
    assert_eq!(survivor.emails, a.emails);
    let again = client
        .unmerge_customers(pb::UnmergeCustomersRequest {
            merge_id: merged.merge_id,
        })
        .await;
    refused(again, Code::FailedPrecondition, "MERGE_REFUSED");
    let unknown = client
        .unmerge_customers(pb::UnmergeCustomersRequest { merge_id: 999_999 })
        .await;
    refused(unknown, Code::NotFound, "MERGE_NOT_FOUND");

    let mut admin = AdminServiceClient::new(server.channel().await);
    let audit = admin
        .list_audit_events(pb::ListAuditEventsRequest {
            customer_id: b.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let operations: Vec<&str> = audit.events.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(
        operations,
        vec!["CreateCustomer", "MergeCustomers", "UnmergeCustomers"]
    );
    server.stop().await;
}
