//! A dashboard's reader key sees personal data masked in every RPC that returns a customer; the
//! shop's writer key sees it whole. Only an admin exports and erases; the codes for bad input.

use crm_grpc::auth::AuthMode;
use crm_grpc::keys::{KeyRing, Role};
use crm_tests::*;
use pb::change_feed_service_client::ChangeFeedServiceClient;
use pb::privacy_service_client::PrivacyServiceClient;
use pb::segment_service_client::SegmentServiceClient;
use pb::timeline_service_client::TimelineServiceClient;
use tokio_stream::StreamExt as _;
use tonic::Code;

/// The answer of a call that must succeed.
trait Answer<T> {
    fn answer(self) -> T;
}

impl<T> Answer<T> for Result<tonic::Response<T>, tonic::Status> {
    fn answer(self) -> T {
        self.unwrap_or_else(|s| panic!("{s:?}")).into_inner()
    }
}

const EMAIL: &str = "ayse.yilmaz@example.com";
const PHONE: &str = "+905321234567";

/// Emails, phones, address and birth date masked as documented; nothing of them whole.
fn assert_masked(c: &pb::Customer, rpc: &str) {
    assert_eq!(c.emails[0].address, "a***@example.com", "{rpc}");
    assert_eq!(c.phones[0].number, "+90 5** *** ** 67", "{rpc}");
    let address = c
        .address
        .as_ref()
        .unwrap_or_else(|| panic!("{rpc}: no address"));
    assert_eq!(address.lines, vec!["B***".to_owned()], "{rpc}");
    assert_eq!(address.city, "İ***", "{rpc}");
    match &c.party {
        Some(pb::customer::Party::Person(p)) => assert_eq!(p.birth_date, "****-**-**", "{rpc}"),
        other => panic!("{rpc}: {other:?}"),
    }
}

/// A call recorded on the customer's timeline.
fn call(id: &str, subject: &str) -> pb::RecordInteractionRequest {
    pb::RecordInteractionRequest {
        customer_id: id.into(),
        interaction: Some(pb::Interaction {
            kind: pb::InteractionKind::Call as i32,
            subject: subject.into(),
            channel: "phone".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A consent grant asserted through the API.
fn grant(id: &str, purpose: pb::ConsentPurpose) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        customer_id: id.into(),
        record: Some(pb::ConsentRecord {
            purpose: purpose as i32,
            granted: true,
            ..Default::default()
        }),
    }
}

fn ayse() -> pb::Customer {
    let mut c = person("Ayşe", EMAIL);
    c.phones.push(pb::Phone {
        number: PHONE.into(),
        label: "mobile".into(),
    });
    c.address = Some(pb::PostalAddress {
        lines: vec!["Bağdat Cd. 1".into()],
        city: "İstanbul".into(),
        country: "TR".into(),
        ..Default::default()
    });
    if let Some(pb::customer::Party::Person(p)) = &mut c.party {
        p.birth_date = "1990-04-23".into();
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_sees_personal_data_masked_everywhere_and_only_an_admin_exports_or_erases() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ring = KeyRing::new(dir.path());
    let reader = ring
        .create("dashboard", Role::Reader)
        .unwrap_or_else(|e| panic!("{e}"));
    let writer = ring
        .create("shop", Role::Writer)
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = ring
        .create("dpo", Role::Admin)
        .unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start_with(dir, |c| c.auth = AuthMode::Required).await;
    let mut customers = server.client().await;
    let mut privacy = PrivacyServiceClient::new(server.channel().await);
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let mut segments = SegmentServiceClient::new(server.channel().await);
    let mut feed = ChangeFeedServiceClient::new(server.channel().await);

    let created = customers
        .create_customer(with_key(
            pb::CreateCustomerRequest {
                customer: Some(ayse()),
                request_id: String::new(),
            },
            &writer,
        ))
        .await
        .answer();
    // The writer sees what it wrote.
    assert_eq!(created.emails[0].address, EMAIL);
    let id = created.id.clone();

    // Every RPC that returns the customer, with the reader's key.
    let got = customers
        .get_customer(with_key(pb::GetCustomerRequest { id: id.clone() }, &reader))
        .await
        .answer();
    assert_masked(&got, "GetCustomer");
    let listed = customers
        .list_customers(with_key(pb::ListCustomersRequest::default(), &reader))
        .await
        .answer();
    assert_masked(&listed.customers[0], "ListCustomers");
    let found = customers
        .search_customers(with_key(
            pb::SearchCustomersRequest {
                query: "ayse".into(),
                ..Default::default()
            },
            &reader,
        ))
        .await
        .answer();
    let hit = found.results[0]
        .customer
        .as_ref()
        .unwrap_or_else(|| panic!("no hit"));
    assert_masked(hit, "SearchCustomers");
    let looked = customers
        .lookup_customer(with_key(
            pb::LookupCustomerRequest {
                key: Some(pb::lookup_customer_request::Key::Email(EMAIL.into())),
            },
            &reader,
        ))
        .await
        .answer();
    assert_masked(&looked, "LookupCustomer");
    let mut exported = customers
        .export_customers(with_key(pb::ExportCustomersRequest::default(), &reader))
        .await
        .answer();
    let first = exported
        .next()
        .await
        .unwrap_or_else(|| panic!("empty export"))
        .unwrap_or_else(|s| panic!("{s:?}"));
    assert_masked(
        first.customer.as_ref().unwrap_or_else(|| panic!("none")),
        "ExportCustomers",
    );
    let segment = segments
        .create_segment(with_key(
            pb::CreateSegmentRequest {
                segment: Some(pb::Segment {
                    name: "Everyone".into(),
                    ..Default::default()
                }),
            },
            &writer,
        ))
        .await
        .answer();
    let members = segments
        .list_segment_members(with_key(
            pb::ListSegmentMembersRequest {
                id: segment.id.clone(),
                ..Default::default()
            },
            &reader,
        ))
        .await
        .answer();
    assert_masked(&members.customers[0], "ListSegmentMembers");
    let recorded = timeline
        .record_interaction(with_key(call(&id, "asked about a kettle"), &writer))
        .await
        .answer();
    assert_eq!(
        recorded
            .customer
            .as_ref()
            .map(|c| c.emails[0].address.as_str()),
        Some(EMAIL)
    );
    let consented = privacy
        .record_consent(with_key(
            grant(&id, pb::ConsentPurpose::EmailMarketing),
            &writer,
        ))
        .await
        .answer();
    let decision = consented.consent.as_ref().and_then(|c| c.email_marketing);
    assert!(decision.is_some_and(|d| d.granted));
    let mut events = feed
        .watch_changes(with_key(
            pb::WatchChangesRequest {
                include_state: true,
                ..Default::default()
            },
            &reader,
        ))
        .await
        .answer();
    let event = events
        .next()
        .await
        .unwrap_or_else(|| panic!("no event"))
        .unwrap_or_else(|s| panic!("{s:?}"));
    let state = event
        .event
        .and_then(|e| e.customer)
        .unwrap_or_else(|| panic!("no state"));
    assert_masked(&state, "WatchChanges");

    // Only an admin exports: a reader is PERMISSION_DENIED.
    let export = pb::ExportCustomerDataRequest {
        customer_id: id.clone(),
    };
    assert_eq!(
        code_of(
            privacy
                .export_customer_data(with_key(export.clone(), &reader))
                .await
        ),
        Code::PermissionDenied
    );
    let mut items = privacy
        .export_customer_data(with_key(export, &admin))
        .await
        .answer();
    let mut sections = Vec::new();
    let mut text = String::new();
    while let Some(item) = items.next().await {
        let item = item.unwrap_or_else(|s| panic!("{s:?}"));
        serde_json::from_str::<serde_json::Value>(&item.json)
            .unwrap_or_else(|e| panic!("{}: {e}", item.json));
        sections.push(item.section);
        text.push_str(&item.json);
    }
    assert_eq!(sections[0], "customer");
    assert!(sections.iter().any(|s| s == "timeline_entry"));
    assert!(sections.iter().any(|s| s == "audit_event"));
    assert!(text.contains(EMAIL) && text.contains("asked about a kettle"));

    // Erasure: a reader may not; no reason, an unknown id, twice: each its code.
    let erase = |customer_id: &str, reason: &str| pb::EraseCustomerRequest {
        customer_id: customer_id.into(),
        reason: reason.into(),
    };
    assert_eq!(
        code_of(
            privacy
                .erase_customer(with_key(erase(&id, "asked"), &reader))
                .await
        ),
        Code::PermissionDenied
    );
    let no_reason = privacy
        .erase_customer(with_key(erase(&id, " "), &admin))
        .await;
    let no_reason = no_reason
        .err()
        .unwrap_or_else(|| panic!("erased without a reason"));
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert_eq!(violations(&no_reason), vec!["reason"]);
    assert_eq!(
        code_of(
            privacy
                .erase_customer(with_key(erase("00000000000000aa", "asked"), &admin))
                .await
        ),
        Code::NotFound
    );
    let erased = privacy
        .erase_customer(with_key(erase(&id, "asked on 2026-12-01"), &admin))
        .await
        .answer();
    assert!(erased.emails.is_empty() && erased.erase_time.is_some());
    assert_eq!(erased.erase_reason, "asked on 2026-12-01");
    let twice = privacy
        .erase_customer(with_key(erase(&id, "again"), &admin))
        .await;
    refused(twice, Code::FailedPrecondition, "CUSTOMER_ERASED");
    // The same email again: refused with its documented reason.
    let back = customers
        .create_customer(with_key(
            pb::CreateCustomerRequest {
                customer: Some(person("Ayşe", EMAIL)),
                request_id: String::new(),
            },
            &writer,
        ))
        .await;
    refused(back, Code::FailedPrecondition, "SUPPRESSED_CONTACT");
    // And in an import: the row fails with the same code and reason; the others go in.
    let rows = vec![pb::ImportCustomersRequest {
        rows: vec![
            pb::ImportRow {
                key: "crm-export.csv:2".into(),
                customer: Some(person("Ayşe", EMAIL)),
                entries: vec![],
            },
            pb::ImportRow {
                key: "crm-export.csv:3".into(),
                customer: Some(person("Deniz", "deniz@example.com")),
                entries: vec![],
            },
        ],
        dry_run: false,
        update_mask: None,
    }];
    let mut answers = customers
        .import_customers(with_key(tokio_stream::iter(rows), &writer))
        .await
        .answer();
    let mut results = Vec::new();
    while let Some(m) = answers.message().await.unwrap_or_else(|s| panic!("{s:?}")) {
        results.extend(m.results);
    }
    let row_error = results[0]
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("row 2 was imported"));
    assert_eq!(row_error.code, Code::FailedPrecondition as i32);
    let why: Vec<String> = row_error
        .details
        .iter()
        .filter_map(|d| {
            use prost::Message as _;
            tonic_types::pb::ErrorInfo::decode(d.value.as_slice()).ok()
        })
        .map(|info| info.reason)
        .collect();
    assert!(
        why.iter().any(|r| r == "SUPPRESSED_CONTACT"),
        "{row_error:?}"
    );
    assert!(results[1].error.is_none(), "{:?}", results[1]);

    // A retention policy of zero years is INVALID_ARGUMENT, naming the field.
    let zero = privacy
        .update_retention_policy(with_key(
            pb::UpdateRetentionPolicyRequest {
                policy: Some(pb::RetentionPolicy {
                    erase_inactive_after_years: Some(0),
                    ..Default::default()
                }),
                etag: String::new(),
            },
            &admin,
        ))
        .await;
    let zero = zero
        .err()
        .unwrap_or_else(|| panic!("a policy of zero years was taken"));
    assert_eq!(zero.code(), Code::InvalidArgument);
    assert_eq!(violations(&zero), vec!["policy.erase_inactive_after_years"]);
}

/// A writer key made without the personal-data permission (an integration that writes but
/// need not read contact details) gets masked customers from every write that returns one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_without_the_permission_gets_masked_customers_from_every_write() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ring = KeyRing::new(dir.path());
    let key = ring
        .create_with("form-sync", Role::Writer, Some(false))
        .unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start_with(dir, |c| c.auth = AuthMode::Required).await;
    let mut customers = server.client().await;
    let mut timeline = TimelineServiceClient::new(server.channel().await);
    let mut lifecycle =
        pb::lifecycle_service_client::LifecycleServiceClient::new(server.channel().await);
    let mut privacy = PrivacyServiceClient::new(server.channel().await);

    let created = customers
        .create_customer(with_key(
            pb::CreateCustomerRequest {
                customer: Some(ayse()),
                request_id: String::new(),
            },
            &key,
        ))
        .await
        .answer();
    assert_masked(&created, "CreateCustomer");
    let id = created.id.clone();
    let mut patch = pb::Customer {
        id: id.clone(),
        ..Default::default()
    };
    patch.tags = vec!["vip".into()];
    let updated = customers
        .update_customer(with_key(
            pb::UpdateCustomerRequest {
                customer: Some(patch),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["tags".into()],
                }),
                etag: String::new(),
            },
            &key,
        ))
        .await
        .answer();
    assert_masked(&updated, "UpdateCustomer");
    let mut twin = ayse();
    twin.emails[0].address = "ayse.twin@example.com".into();
    let batch = customers
        .batch_create_customers(with_key(
            pb::BatchCreateCustomersRequest {
                requests: vec![pb::CreateCustomerRequest {
                    customer: Some(twin.clone()),
                    request_id: String::new(),
                }],
            },
            &key,
        ))
        .await
        .answer();
    let twin_view = batch.results[0]
        .customer
        .clone()
        .unwrap_or_else(|| panic!("none"));
    assert_eq!(twin_view.emails[0].address, "a***@example.com");
    let upserted = customers
        .batch_upsert_customers(with_key(
            pb::BatchUpsertCustomersRequest {
                customers: vec![ayse()],
                update_mask: None,
            },
            &key,
        ))
        .await
        .answer();
    assert_masked(
        upserted.results[0]
            .customer
            .as_ref()
            .unwrap_or_else(|| panic!("none")),
        "BatchUpsertCustomers",
    );
    let recorded = timeline
        .record_interaction(with_key(call(&id, "called"), &key))
        .await
        .answer();
    assert_masked(
        recorded.customer.as_ref().unwrap_or_else(|| panic!("none")),
        "RecordInteraction",
    );
    let moved = lifecycle
        .change_lifecycle_stage(with_key(
            pb::ChangeLifecycleStageRequest {
                customer_id: id.clone(),
                lifecycle_stage: pb::LifecycleStage::Consideration as i32,
                reason: "asked for a quote".into(),
                etag: String::new(),
            },
            &key,
        ))
        .await
        .answer();
    assert_masked(&moved, "ChangeLifecycleStage");
    let consented = privacy
        .record_consent(with_key(grant(&id, pb::ConsentPurpose::Profiling), &key))
        .await
        .answer();
    assert_masked(&consented, "RecordConsent");
    let duplicates = customers
        .find_duplicates(with_key(pb::FindDuplicatesRequest::default(), &key))
        .await
        .answer();
    let group = duplicates
        .groups
        .first()
        .unwrap_or_else(|| panic!("no duplicates"));
    for c in &group.customers {
        assert!(
            c.emails.iter().all(|e| e.address.contains("***@")),
            "FindDuplicates: {c:?}"
        );
    }
    let merged = customers
        .merge_customers(with_key(
            pb::MergeCustomersRequest {
                survivor_id: id.clone(),
                merged_ids: vec![twin_view.id.clone()],
                field_rules: Default::default(),
            },
            &key,
        ))
        .await
        .answer();
    let survivor = merged.survivor.unwrap_or_else(|| panic!("no survivor"));
    assert!(
        survivor.emails.iter().all(|e| e.address.contains("***@")),
        "MergeCustomers"
    );
    let unmerged = customers
        .unmerge_customers(with_key(
            pb::UnmergeCustomersRequest {
                merge_id: merged.merge_id,
            },
            &key,
        ))
        .await
        .answer();
    for c in unmerged.restored.iter().chain(unmerged.survivor.iter()) {
        assert!(
            c.emails.iter().all(|e| e.address.contains("***@")),
            "UnmergeCustomers"
        );
    }
}
