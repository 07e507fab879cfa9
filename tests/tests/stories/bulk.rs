//! An ERP team moves customers in bulk: batches of creates and upserts with a result per item,
//! an export taken while writes go on, changed rows imported back, and the change feed showing
//! exactly those changes with the ERP's origin.

use std::time::Duration;

use crm_tests::*;
use pb::change_feed_service_client::ChangeFeedServiceClient;
use tonic::Code;

fn with_external_id(mut c: pb::Customer, ext: &str) -> pb::Customer {
    c.external_id = ext.into();
    c
}

fn item_code(r: &pb::BatchItemResult) -> Option<i32> {
    r.error.as_ref().map(|e| e.code)
}

fn item_fields(r: &pb::BatchItemResult) -> Vec<String> {
    use prost::Message as _;
    let Some(error) = &r.error else {
        return Vec::new();
    };
    error
        .details
        .iter()
        .filter(|d| d.type_url.ends_with("google.rpc.BadRequest"))
        .filter_map(|d| tonic_types::pb::BadRequest::decode(d.value.as_slice()).ok())
        .flat_map(|b| b.field_violations.into_iter().map(|v| v.field))
        .collect()
}

async fn export_all(client: &mut Client, filter: &str) -> (u64, Vec<pb::ExportCustomersResponse>) {
    let mut stream = client
        .export_customers(pb::ExportCustomersRequest {
            filter: filter.into(),
            include_timeline: true,
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await.unwrap_or_else(|s| panic!("{s:?}")) {
        out.push(m);
    }
    (out.first().map_or(0, |m| m.cursor), out)
}

#[tokio::test]
async fn a_batch_answers_each_item_and_writes_the_good_ones_together() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    create(&mut client, person("Taken", "taken@example.com")).await;
    let request = |c: pb::Customer, rid: &str| pb::CreateCustomerRequest {
        customer: Some(c),
        request_id: rid.into(),
    };
    let answer = client
        .batch_create_customers(pb::BatchCreateCustomersRequest {
            requests: vec![
                request(person("Ada", "ada@example.com"), "r-ada"),
                request(person("Bad", "not an email"), ""),
                request(person("Dup", "TAKEN@example.com"), ""),
                request(person("Grace", "grace@example.com"), ""),
            ],
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let r = &answer.results;
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].action, pb::ItemAction::Created as i32);
    assert_eq!(item_code(&r[1]), Some(Code::InvalidArgument as i32));
    assert_eq!(item_fields(&r[1]), vec!["customer.emails[0].address"]);
    assert_eq!(item_code(&r[2]), Some(Code::AlreadyExists as i32));
    assert_eq!(item_fields(&r[2]), vec!["customer.emails[0].address"]);
    assert_eq!(r[3].action, pb::ItemAction::Created as i32);
    let names: Vec<String> = list_all(&mut client, "", "", 50)
        .await
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    // The same request id again: the first customer, not a second one.
    let again = client
        .batch_create_customers(pb::BatchCreateCustomersRequest {
            requests: vec![request(person("Ada", "ada@example.com"), "r-ada")],
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert_eq!(
        again.results[0].customer.as_ref().map(|c| c.id.clone()),
        r[0].customer.as_ref().map(|c| c.id.clone())
    );

    // An empty batch and one over the limit are refused whole.
    let empty = client
        .batch_create_customers(pb::BatchCreateCustomersRequest { requests: vec![] })
        .await;
    assert_eq!(code_of(empty), Code::InvalidArgument);
    let too_many = client
        .batch_upsert_customers(pb::BatchUpsertCustomersRequest {
            customers: (0..1001).map(|i| person(&format!("P{i}"), "")).collect(),
            update_mask: None,
        })
        .await;
    let status = too_many
        .err()
        .unwrap_or_else(|| panic!("1,001 items were accepted"));
    assert_eq!(violations(&status), vec!["customers"]);
    assert_eq!(list_all(&mut client, "", "", 50).await.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn an_erp_round_trip_shows_exactly_the_changed_rows_in_the_feed() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let first = client
        .batch_upsert_customers(pb::BatchUpsertCustomersRequest {
            customers: (0..30)
                .map(|i| {
                    with_external_id(
                        person(&format!("Müşteri {i}"), &format!("c{i}@example.com")),
                        &format!("ERP-{i}"),
                    )
                })
                .collect(),
            update_mask: None,
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert!(
        first
            .results
            .iter()
            .all(|r| r.action == pb::ItemAction::Created as i32)
    );

    // The ERP exports everything and remembers the cursor.
    let (cursor, exported) = export_all(&mut client, "").await;
    assert_eq!((cursor, exported.len()), (30, 30));
    assert!(exported.iter().all(|m| m.cursor == cursor));

    // Outside crm, five rows change; all thirty come back as an import.
    let mut rows = Vec::new();
    for (i, m) in exported.into_iter().enumerate() {
        let mut c = m.customer.unwrap_or_else(|| panic!("no customer"));
        let changed = i % 6 == 0;
        if changed {
            c.tags = vec!["gold".into()];
        }
        rows.push(pb::ImportRow {
            key: format!("erp-sync-1:{}:{}", c.external_id, c.etag),
            customer: Some(c),
            entries: Vec::new(),
        });
    }
    let mut request = tonic::Request::new(tokio_stream::iter(vec![pb::ImportCustomersRequest {
        rows,
        dry_run: false,
        update_mask: None,
    }]));
    request.metadata_mut().insert(
        "x-crm-origin",
        "erp".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    let mut answers = client
        .import_customers(request)
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let answer = answers
        .message()
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .unwrap_or_else(|| panic!("no answer"));
    let actions: Vec<i32> = answer.results.iter().map(|r| r.action).collect();
    let updated = actions
        .iter()
        .filter(|a| **a == pb::ItemAction::Updated as i32)
        .count();
    let unchanged = actions
        .iter()
        .filter(|a| **a == pb::ItemAction::Unchanged as i32)
        .count();
    assert_eq!((updated, unchanged), (5, 25), "{:?}", answer.results);

    // The feed from the export's cursor: exactly the five updates, in order, from the ERP.
    let mut feed = ChangeFeedServiceClient::new(server.channel().await);
    let mut stream = feed
        .watch_changes(pb::WatchChangesRequest {
            after: cursor,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut events = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
        match next {
            Err(_) => break,
            Ok(m) => {
                let m = m
                    .unwrap_or_else(|s| panic!("{s:?}"))
                    .unwrap_or_else(|| panic!("ended"));
                events.extend(m.event);
            }
        }
    }
    let expected_ids: Vec<String> = answer
        .results
        .iter()
        .filter(|r| r.action == pb::ItemAction::Updated as i32)
        .map(|r| r.customer_id.clone())
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e.customer_id.clone())
            .collect::<Vec<_>>(),
        expected_ids
    );
    for e in &events {
        assert_eq!(
            (
                e.cursor > cursor,
                e.origin.as_str(),
                e.method.as_str(),
                e.changed_fields.clone()
            ),
            (true, "erp", "ImportCustomers", vec!["tags".to_owned()])
        );
    }
    server.stop().await;
}
