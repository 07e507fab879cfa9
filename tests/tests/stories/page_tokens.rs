//! Page tokens are sealed and bound to their query: a token that was cut short, had a byte
//! changed, was made by hand, or is sent with another query or to another listing is refused
//! with INVALID_ARGUMENT naming `page_token`, on every listing.

#![allow(clippy::panic)]

use std::future::Future;
use std::pin::Pin;

use crm_tests::*;
use tonic::Code;

type Call<'a> = Pin<Box<dyn Future<Output = Result<String, tonic::Status>> + Send + 'a>>;

/// A listing: given a token and which of two queries, the next page's token.
type Listing = Box<dyn Fn(String, bool) -> Call<'static> + Send + Sync>;

fn flipped(token: &str, at: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = at % bytes.len();
    // Another base64url character, so the token still decodes.
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap_or_default()
}

async fn refused(name: &str, listing: &Listing, token: String, other_query: bool, why: &str) {
    match listing(token.clone(), other_query).await {
        Err(s) if s.code() == Code::InvalidArgument => {
            assert_eq!(violations(&s), ["page_token"], "{name}, {why}: {s:?}");
        }
        other => panic!("{name}: a token {why} ({token:?}) was accepted: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_listing_refuses_a_token_that_was_altered_made_up_or_sent_with_another_query() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut client = server.client().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            create(&mut client, person(&format!("Ada {i}"), ""))
                .await
                .id,
        );
    }
    let mut timeline = pb::timeline_service_client::TimelineServiceClient::new(channel.clone());
    for _ in 0..3 {
        timeline
            .record_interaction(pb::RecordInteractionRequest {
                customer_id: ids[0].clone(),
                interaction: Some(pb::Interaction {
                    kind: pb::InteractionKind::Call as i32,
                    subject: "call".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
    }
    let mut segments = pb::segment_service_client::SegmentServiceClient::new(channel.clone());
    let mut segment_id = String::new();
    for i in 0..3 {
        segment_id = segments
            .create_segment(pb::CreateSegmentRequest {
                segment: Some(pb::Segment {
                    name: format!("Everyone {i}"),
                    filter: "kind = PERSON".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner()
            .id;
    }

    let c = client.clone();
    let customers: Listing = Box::new(move |token, other| {
        let mut c = c.clone();
        Box::pin(async move {
            let order_by = if other { "display_name" } else { "" };
            c.list_customers(pb::ListCustomersRequest {
                page_size: 1,
                page_token: token,
                order_by: order_by.into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().next_page_token)
        })
    });
    let c = client.clone();
    let search: Listing = Box::new(move |token, other| {
        let mut c = c.clone();
        Box::pin(async move {
            let query = if other { "ada 1" } else { "ada" };
            c.search_customers(pb::SearchCustomersRequest {
                query: query.into(),
                page_size: 1,
                page_token: token,
            })
            .await
            .map(|r| r.into_inner().next_page_token)
        })
    });
    let t = timeline.clone();
    let id = ids[0].clone();
    let entries: Listing = Box::new(move |token, other| {
        let (mut t, id) = (t.clone(), id.clone());
        Box::pin(async move {
            t.list_timeline(pb::ListTimelineRequest {
                customer_id: id,
                newest_first: other,
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().next_page_token)
        })
    });
    let s = segments.clone();
    let segment_list: Listing = Box::new(move |token, _| {
        let mut s = s.clone();
        Box::pin(async move {
            s.list_segments(pb::ListSegmentsRequest {
                page_size: 1,
                page_token: token,
            })
            .await
            .map(|r| r.into_inner().next_page_token)
        })
    });
    let s = segments.clone();
    let members: Listing = Box::new(move |token, _| {
        let (mut s, id) = (s.clone(), segment_id.clone());
        Box::pin(async move {
            s.list_segment_members(pb::ListSegmentMembersRequest {
                id,
                page_size: 1,
                page_token: token,
            })
            .await
            .map(|r| r.into_inner().next_page_token)
        })
    });
    let admin = pb::admin_service_client::AdminServiceClient::new(channel.clone());
    let a = admin.clone();
    let audit: Listing = Box::new(move |token, other| {
        let mut a = a.clone();
        Box::pin(async move {
            a.list_audit_events(pb::ListAuditEventsRequest {
                newest_first: other,
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().next_page_token)
        })
    });
    let a = admin.clone();
    let configuration: Listing = Box::new(move |token, other| {
        let mut a = a.clone();
        Box::pin(async move {
            a.list_audit_events(pb::ListAuditEventsRequest {
                configuration: true,
                newest_first: other,
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().next_page_token)
        })
    });

    let listings: Vec<(&str, Listing, bool)> = vec![
        ("ListCustomers", customers, true),
        ("SearchCustomers", search, true),
        ("ListTimeline", entries, true),
        ("ListSegments", segment_list, false),
        ("ListSegmentMembers", members, false),
        ("ListAuditEvents", audit, true),
        ("ListAuditEvents (configuration)", configuration, true),
    ];
    let mut genuine = Vec::new();
    for (name, listing, has_other_query) in &listings {
        let token = listing(String::new(), false)
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"));
        assert!(!token.is_empty(), "{name}: no second page to test with");
        // The genuine token works.
        listing(token.clone(), false)
            .await
            .unwrap_or_else(|s| panic!("{name}: its own token was refused: {s:?}"));
        for cut in [1, token.len() / 2, token.len() - 1] {
            refused(name, listing, token[..cut].to_owned(), false, "cut short").await;
        }
        for at in [0, 5, token.len() / 2, token.len() - 1] {
            refused(
                name,
                listing,
                flipped(&token, at),
                false,
                "with a byte changed",
            )
            .await;
        }
        for made_up in [
            "7",
            "0000000000000001",
            "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            refused(name, listing, made_up.into(), false, "made by hand").await;
        }
        if *has_other_query {
            refused(
                name,
                listing,
                token.clone(),
                true,
                "sent with another query",
            )
            .await;
        }
        genuine.push(token);
    }
    // A token of one listing is refused by every other.
    for (i, (name, listing, _)) in listings.iter().enumerate() {
        for (j, token) in genuine.iter().enumerate() {
            if i != j {
                refused(name, listing, token.clone(), false, "of another listing").await;
            }
        }
    }
}
