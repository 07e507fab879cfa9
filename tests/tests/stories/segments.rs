//! A marketer saves "big companies in Türkiye" as a segment, counts and pages through its
//! members, sharpens the filter, and deletes it; bad names, bad filters, taken names and stale
//! etags get their codes and change nothing.

use crm_tests::*;
use pb::segment_service_client::SegmentServiceClient;
use tonic::Code;

fn company(name: &str, employees: i32, country: &str) -> pb::Customer {
    let mut c = organization(name);
    if let Some(pb::customer::Party::Organization(o)) = &mut c.party {
        o.employee_count = Some(employees);
    }
    c.address = Some(pb::PostalAddress {
        country: country.into(),
        ..Default::default()
    });
    c
}

#[tokio::test]
async fn a_segment_is_a_saved_filter_with_live_members() {
    let server = TestServer::start().await;
    let mut customers = server.client().await;
    let mut segments = SegmentServiceClient::new(server.channel().await);

    for (i, employees) in [10, 60, 250, 1200, 80].into_iter().enumerate() {
        create(
            &mut customers,
            company(&format!("Firma {i}"), employees, "TR"),
        )
        .await;
    }
    create(&mut customers, company("GmbH", 500, "DE")).await;
    create(&mut customers, person("Ayşe", "ayse@example.com")).await;

    let filter = r#"address.country = "TR" AND organization.employee_count >= 50"#;
    let saved = segments
        .create_segment(pb::CreateSegmentRequest {
            segment: Some(pb::Segment {
                name: "Big companies in Türkiye".into(),
                description: "Firms of 50+ people: long cycles, high value".into(),
                filter: filter.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}"))
        .into_inner();
    assert_eq!(saved.etag, "v1");

    let count = |segments: &mut SegmentServiceClient<_>, id: String| {
        let mut segments = segments.clone();
        async move {
            segments
                .count_segment_members(pb::CountSegmentMembersRequest { id })
                .await
                .unwrap_or_else(|s| panic!("count: {s:?}"))
                .into_inner()
                .count
        }
    };
    assert_eq!(count(&mut segments, saved.id.clone()).await, 4);

    // Members page by page are exactly ListCustomers with the same filter.
    let mut members = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = segments
            .list_segment_members(pb::ListSegmentMembersRequest {
                id: saved.id.clone(),
                page_size: 3,
                page_token,
            })
            .await
            .unwrap_or_else(|s| panic!("members: {s:?}"))
            .into_inner();
        members.extend(page.customers.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let listed: Vec<String> = list_all(&mut customers, filter, "", 50)
        .await
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(members, listed);

    // Membership is live: a new big firm joins without touching the segment.
    create(&mut customers, company("Yeni Holding", 3000, "TR")).await;
    assert_eq!(count(&mut segments, saved.id.clone()).await, 5);

    let sharper = segments
        .update_segment(pb::UpdateSegmentRequest {
            segment: Some(pb::Segment {
                id: saved.id.clone(),
                filter: r#"address.country = "TR" AND organization.employee_count >= 1000"#.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["filter".into()],
            }),
            etag: saved.etag.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("update: {s:?}"))
        .into_inner();
    assert_eq!(
        (sharper.etag.as_str(), sharper.name.as_str()),
        ("v2", "Big companies in Türkiye")
    );
    assert_eq!(count(&mut segments, saved.id.clone()).await, 2);

    // Bad input: named precisely, nothing changed.
    let stale = segments
        .update_segment(pb::UpdateSegmentRequest {
            segment: Some(pb::Segment {
                id: saved.id.clone(),
                name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: None,
            etag: "v1".into(),
        })
        .await;
    assert_eq!(code_of(stale), Code::Aborted);
    let bad_filter = segments
        .create_segment(pb::CreateSegmentRequest {
            segment: Some(pb::Segment {
                name: "Broken".into(),
                filter: "employee_count > 5".into(),
                ..Default::default()
            }),
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a bad filter was saved"));
    assert_eq!(bad_filter.code(), Code::InvalidArgument);
    assert_eq!(violations(&bad_filter), ["segment.filter"]);
    let taken = segments
        .create_segment(pb::CreateSegmentRequest {
            segment: Some(pb::Segment {
                name: "BIG COMPANIES IN TÜRKIYE".into(),
                filter: "kind = PERSON".into(),
                ..Default::default()
            }),
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a taken name was saved"));
    assert_eq!(
        (taken.code(), reason(&taken).as_str()),
        (Code::AlreadyExists, "SEGMENT_NAME_TAKEN")
    );
    let listed = segments
        .list_segments(pb::ListSegmentsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("list: {s:?}"))
        .into_inner();
    assert_eq!(listed.segments, vec![sharper.clone()]);

    segments
        .delete_segment(pb::DeleteSegmentRequest {
            id: saved.id.clone(),
            etag: sharper.etag,
        })
        .await
        .unwrap_or_else(|s| panic!("delete: {s:?}"));
    let gone = segments
        .get_segment(pb::GetSegmentRequest { id: saved.id })
        .await
        .err()
        .unwrap_or_else(|| panic!("a deleted segment was found"));
    assert_eq!(
        (gone.code(), reason(&gone).as_str()),
        (Code::NotFound, "SEGMENT_NOT_FOUND")
    );
    assert_eq!(
        list_all(&mut customers, "", "", 50).await.len(),
        8,
        "members are never deleted"
    );
    server.stop().await;
}
