//! A shop moves its customers and their order history into crm with ImportCustomers: a dry run
//! first, then the real import, then the same file again by mistake; bad rows fail alone; and an
//! import of 200,000 rows cut by `kill -9` half-way is resumed by sending it all again.

use std::collections::BTreeSet;

use crm_tests::*;
use pb::admin_service_client::AdminServiceClient;
use tonic::Code;

fn money(minor: i64, currency: &str) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: currency.into(),
        amount_minor: minor,
    })
}

fn at_time(text: &str) -> Option<prost_types::Timestamp> {
    let t = at(text);
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn purchase(order: &str, minor: i64, when: &str) -> pb::ImportEntry {
    pb::ImportEntry {
        occurred_at: at_time(when),
        actor: String::new(),
        event: Some(pb::import_entry::Event::Purchase(pb::Purchase {
            order_ref: order.into(),
            amount: money(minor, "TRY"),
            ..Default::default()
        })),
    }
}

fn refund(order: &str, minor: i64, when: &str) -> pb::ImportEntry {
    pb::ImportEntry {
        occurred_at: at_time(when),
        actor: String::new(),
        event: Some(pb::import_entry::Event::Refund(pb::Refund {
            order_ref: order.into(),
            amount: money(minor, "TRY"),
            reason: "damaged".into(),
        })),
    }
}

fn row(key: &str, name: &str, entries: Vec<pb::ImportEntry>) -> pb::ImportRow {
    let mut customer = person(name, &format!("{}@example.com", name.to_lowercase()));
    customer.external_id = format!("SHOP-{name}");
    pb::ImportRow {
        key: key.into(),
        customer: Some(customer),
        entries,
    }
}

/// Sends the messages as one import stream and returns every row's result.
async fn import(
    client: &mut Client,
    messages: Vec<pb::ImportCustomersRequest>,
) -> Vec<pb::ImportRowResult> {
    let mut answers = client
        .import_customers(tokio_stream::iter(messages))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = answers.message().await.unwrap_or_else(|s| panic!("{s:?}")) {
        out.extend(m.results);
    }
    out
}

fn one(rows: Vec<pb::ImportRow>, dry_run: bool) -> Vec<pb::ImportCustomersRequest> {
    vec![pb::ImportCustomersRequest {
        rows,
        dry_run,
        update_mask: None,
    }]
}

fn actions(results: &[pb::ImportRowResult]) -> Vec<(String, i32, Option<i32>)> {
    results
        .iter()
        .map(|r| (r.key.clone(), r.action, r.error.as_ref().map(|e| e.code)))
        .collect()
}

#[tokio::test]
async fn a_shop_imports_its_history_once_however_often_it_sends_it() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let file = || {
        vec![
            row(
                "shop.csv:2",
                "Ayse",
                vec![
                    purchase("A-1", 10_000, "2025-03-01T10:00:00Z"),
                    purchase("A-2", 5_000, "2025-06-01T10:00:00Z"),
                    refund("A-2", 1_000, "2025-06-03T10:00:00Z"),
                ],
            ),
            row(
                "shop.csv:3",
                "Mehmet",
                vec![purchase("M-1", 2_500, "2024-12-24T09:00:00Z")],
            ),
            // More refunded than bought: this row fails alone.
            row(
                "shop.csv:4",
                "Zeynep",
                vec![
                    purchase("Z-1", 1_000, "2025-01-01T10:00:00Z"),
                    refund("Z-1", 5_000, "2025-01-02T10:00:00Z"),
                ],
            ),
            // A currency that does not exist, and no key: named within the row.
            pb::ImportRow {
                key: String::new(),
                ..row(
                    "",
                    "Bad",
                    vec![pb::ImportEntry {
                        occurred_at: at_time("2025-01-01T00:00:00Z"),
                        actor: String::new(),
                        event: Some(pb::import_entry::Event::Purchase(pb::Purchase {
                            order_ref: "B-1".into(),
                            amount: money(100, "XXQ"),
                            ..Default::default()
                        })),
                    }],
                )
            },
        ]
    };

    // A dry run answers as the import would, and writes nothing.
    let dry = import(&mut client, one(file(), true)).await;
    let created = pb::ItemAction::Created as i32;
    let failed = pb::ItemAction::Unspecified as i32;
    assert_eq!(
        actions(&dry),
        vec![
            ("shop.csv:2".into(), created, None),
            ("shop.csv:3".into(), created, None),
            (
                "shop.csv:4".into(),
                failed,
                Some(Code::FailedPrecondition as i32)
            ),
            (String::new(), failed, Some(Code::InvalidArgument as i32)),
        ]
    );
    assert!(
        list_all(&mut client, "", "", 50).await.is_empty(),
        "a dry run wrote"
    );

    let real = import(&mut client, one(file(), false)).await;
    assert_eq!(actions(&real), actions(&dry));
    assert_eq!(real[0].entries_recorded, 3);
    let bad = real[3].error.as_ref().unwrap_or_else(|| panic!("no error"));
    let fields: BTreeSet<String> = bad
        .details
        .iter()
        .filter_map(|d| {
            use prost::Message as _;
            tonic_types::pb::BadRequest::decode(d.value.as_slice()).ok()
        })
        .flat_map(|b| b.field_violations.into_iter().map(|v| v.field))
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "key".into(),
            "entries[0].purchase.amount.currency_code".into()
        ])
    );
    let ayse = client
        .get_customer(pb::GetCustomerRequest {
            id: real[0].customer_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let summary = ayse.summary.unwrap_or_else(|| panic!("no summary"));
    assert_eq!(summary.purchase_count, 2);
    assert_eq!(
        summary
            .totals
            .iter()
            .map(|t| Some(t.net_minor))
            .collect::<Vec<_>>(),
        vec![Some(14_000)]
    );
    let names: Vec<String> = list_all(&mut client, "", "", 50)
        .await
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    assert_eq!(names, vec!["Ayse", "Mehmet"]);

    // The same file again: nothing twice.
    let again = import(&mut client, one(file(), false)).await;
    let already = pb::ItemAction::AlreadyImported as i32;
    assert_eq!(
        actions(&again)[..2],
        [
            ("shop.csv:2".into(), already, None),
            ("shop.csv:3".into(), already, None)
        ]
    );
    assert_eq!(again[0].customer_id, real[0].customer_id);
    // A key reused for other content is refused.
    let reused = import(
        &mut client,
        one(vec![row("shop.csv:3", "Mehmet", vec![])], false),
    )
    .await;
    assert_eq!(
        reused[0].error.as_ref().map(|e| e.code),
        Some(Code::FailedPrecondition as i32)
    );
    assert_eq!(list_all(&mut client, "", "", 50).await.len(), 2);
    server.stop().await;
}

fn big_row(i: usize) -> pb::ImportRow {
    let mut customer = person(&format!("Customer {i}"), &format!("c{i}@example.com"));
    customer.external_id = format!("BIG-{i}");
    pb::ImportRow {
        key: format!("big.jsonl:{i}"),
        customer: Some(customer),
        entries: vec![purchase(
            &format!("O-{i}"),
            1_000 + i as i64,
            "2025-01-01T00:00:00Z",
        )],
    }
}

fn big_file(rows: usize) -> Vec<pb::ImportCustomersRequest> {
    (0..rows)
        .step_by(1000)
        .map(|start| pb::ImportCustomersRequest {
            rows: (start..(start + 1000).min(rows)).map(big_row).collect(),
            dry_run: false,
            update_mask: None,
        })
        .collect()
}

#[tokio::test]
async fn an_import_killed_half_way_is_resumed_without_duplicates_or_losses() {
    let rows: usize = std::env::var("CRM_IMPORT_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // An optimized server: a debug build takes many minutes over 200,000 rows.
    let server = ServerProcess::start_release(dir.path(), &[]);
    let mut client = connect(server.addr).await;
    let mut answers = client
        .import_customers(tokio_stream::iter(big_file(rows)))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < rows / 2 {
        let m = answers
            .message()
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .unwrap_or_else(|| panic!("the import ended early"));
        acknowledged.extend(m.results);
    }
    server.kill9();
    assert!(
        acknowledged
            .iter()
            .all(|r| r.action == pb::ItemAction::Created as i32)
    );

    // Resumed: the whole file again.
    let server = ServerProcess::start_release(dir.path(), &[]);
    let mut client = connect(server.addr).await;
    let results = import(&mut client, big_file(rows)).await;
    assert_eq!(results.len(), rows);
    let mut ids = BTreeSet::new();
    for (i, r) in results.iter().enumerate() {
        assert_eq!((r.index, r.error.as_ref()), (i as u64, None), "{r:?}");
        let expected = if i < acknowledged.len() {
            vec![pb::ItemAction::AlreadyImported as i32]
        } else {
            // Rows after the last answer may or may not have been written before the kill.
            vec![
                pb::ItemAction::AlreadyImported as i32,
                pb::ItemAction::Created as i32,
            ]
        };
        assert!(expected.contains(&r.action), "row {i}: {r:?}");
        ids.insert(r.customer_id.clone());
    }
    for (before, after) in acknowledged.iter().zip(&results) {
        assert_eq!(before.customer_id, after.customer_id);
    }
    assert_eq!(ids.len(), rows, "two rows share a customer");
    let mut admin = AdminServiceClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
            .unwrap_or_else(|e| panic!("{e}"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let report = admin
        .verify_store(pb::VerifyStoreRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    assert!(report.clean, "{:?}", report.problems);
    assert_eq!(report.customers, rows as u64);
    assert!(server.terminate().success());
}
