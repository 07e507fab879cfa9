//! An ERP connector follows crm's change feed: it reads from a cursor, drops its connection,
//! resumes, and never misses or repeats an event; it tells its own writes by their origin; a
//! bad cursor or kind is refused before any event is sent; and a server that shuts down ends
//! the stream with a status to resume from.

use std::collections::BTreeSet;
use std::time::Duration;

use crm_tests::*;
use pb::change_feed_service_client::ChangeFeedServiceClient;
use tonic::Code;
use tonic::transport::Channel;

type Feed = ChangeFeedServiceClient<Channel>;

fn watch(after: u64) -> pb::WatchChangesRequest {
    pb::WatchChangesRequest {
        after,
        ..Default::default()
    }
}

/// Reads events from a stream until `n` have arrived (progress messages are skipped).
async fn take_events(
    stream: &mut tonic::Streaming<pb::WatchChangesResponse>,
    n: usize,
) -> Vec<pb::ChangeEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap_or_else(|_| panic!("no event for 30 s after {} of {n}", out.len()))
            .unwrap_or_else(|s| panic!("the stream failed: {s:?}"))
            .unwrap_or_else(|| panic!("the stream ended after {} of {n}", out.len()));
        out.extend(message.event);
    }
    out
}

#[tokio::test]
async fn a_consumer_that_disconnects_and_resumes_misses_nothing_and_gets_nothing_twice() {
    let server = TestServer::start().await;
    let mut feed = Feed::new(server.channel().await);
    // Writers run the whole time: creates, then an update of each.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let addr = server.addr;
            tokio::spawn(async move {
                let mut client = connect(addr).await;
                for i in 0..50 {
                    let c = create(&mut client, person(&format!("W{w} {i}"), "")).await;
                    let mut patch = c.clone();
                    patch.tags = vec![format!("batch-{w}")];
                    client
                        .update_customer(pb::UpdateCustomerRequest {
                            customer: Some(patch),
                            update_mask: Some(prost_types::FieldMask {
                                paths: vec!["tags".into()],
                            }),
                            ..Default::default()
                        })
                        .await
                        .unwrap_or_else(|s| panic!("update failed: {s:?}"));
                }
            })
        })
        .collect();
    let total = 4 * 50 * 2;

    let mut seen = Vec::new();
    let mut cursor = 0;
    // The consumer reads a little, hangs up, and comes back from its cursor, again and again.
    while seen.len() < total {
        let mut stream = feed
            .watch_changes(watch(cursor))
            .await
            .unwrap_or_else(|s| panic!("watch refused: {s:?}"))
            .into_inner();
        let want = 37.min(total - seen.len());
        let events = take_events(&mut stream, want).await;
        cursor = events.last().map_or(cursor, |e| e.cursor);
        seen.extend(events);
        drop(stream);
    }
    for w in writers {
        w.await.unwrap_or_else(|e| panic!("a writer failed: {e}"));
    }
    let cursors: Vec<u64> = seen.iter().map(|e| e.cursor).collect();
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(cursors, expected, "events missed, repeated or out of order");
    let created: BTreeSet<_> = seen
        .iter()
        .filter(|e| e.operation == pb::ChangeOperation::Created as i32)
        .map(|e| e.customer_id.clone())
        .collect();
    let updated: BTreeSet<_> = seen
        .iter()
        .filter(|e| e.operation == pb::ChangeOperation::Updated as i32)
        .map(|e| e.customer_id.clone())
        .collect();
    assert_eq!(created.len(), 200);
    assert_eq!(created, updated, "each customer was created, then updated");
    for e in seen
        .iter()
        .filter(|e| e.operation == pb::ChangeOperation::Updated as i32)
    {
        assert_eq!(
            (e.changed_fields.clone(), e.version),
            (vec!["tags".into()], 2)
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_connector_tells_its_own_writes_by_their_origin_and_can_ask_for_the_state() {
    let server = TestServer::start().await;
    let mut people = server.client().await;
    let mut feed = Feed::new(server.channel().await);

    let mut request = tonic::Request::new(pb::CreateCustomerRequest {
        customer: Some(person("From", "erp@example.com")),
        request_id: String::new(),
    });
    request.metadata_mut().insert(
        "x-crm-origin",
        "erp-sync".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    let from_erp = people
        .create_customer(request)
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let by_hand = create(&mut people, person("Typed", "typed@example.com")).await;

    let mut stream = feed
        .watch_changes(pb::WatchChangesRequest {
            include_state: true,
            ..watch(0)
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let events = take_events(&mut stream, 2).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.customer_id.as_str(), e.origin.as_str(), e.method.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (from_erp.id.as_str(), "erp-sync", "CreateCustomer"),
            (by_hand.id.as_str(), "", "CreateCustomer"),
        ]
    );
    let state = events[0]
        .customer
        .as_ref()
        .unwrap_or_else(|| panic!("no state in {:?}", events[0]));
    assert_eq!(
        (state.id.as_str(), state.etag.as_str()),
        (from_erp.id.as_str(), "v1")
    );
    assert_eq!(
        events[0].entity.as_ref().map(|e| e.kind),
        Some(pb::EntityKind::Customer as i32)
    );

    // A header that cannot be an origin is refused, naming the header, and nothing is written.
    let mut bad = tonic::Request::new(pb::CreateCustomerRequest {
        customer: Some(person("Bad", "")),
        request_id: String::new(),
    });
    bad.metadata_mut().insert(
        "x-crm-origin",
        "x".repeat(200).parse().unwrap_or_else(|e| panic!("{e}")),
    );
    let status = people.create_customer(bad).await.err();
    let status = status.unwrap_or_else(|| panic!("a 200-byte origin was accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violations(&status), vec!["x-crm-origin"]);
    assert_eq!(list_all(&mut people, "", "", 50).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_feed_for_one_customer_sends_only_its_events_and_says_how_far_it_read() {
    let server = TestServer::start().await;
    let mut people = server.client().await;
    let mut feed = Feed::new(server.channel().await);
    let ada = create(&mut people, person("Ada", "")).await;
    for i in 0..5 {
        create(&mut people, person(&format!("Other {i}"), "")).await;
    }
    people
        .delete_customer(pb::DeleteCustomerRequest {
            id: ada.id.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"));
    let mut stream = feed
        .watch_changes(pb::WatchChangesRequest {
            customer_id: ada.id.clone(),
            include_state: true,
            ..watch(0)
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    let events = take_events(&mut stream, 2).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.cursor, e.operation))
            .collect::<Vec<_>>(),
        vec![
            (1, pb::ChangeOperation::Created as i32),
            (7, pb::ChangeOperation::Deleted as i32)
        ]
    );
    assert!(
        events[1].customer.is_none(),
        "a deleted customer has no state"
    );

    // Only the other customers' events follow: the stream says how far it read without them.
    create(&mut people, person("Later", "")).await;
    let progress = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .unwrap_or_else(|_| panic!("no progress message"))
        .unwrap_or_else(|s| panic!("{s:?}"))
        .unwrap_or_else(|| panic!("the stream ended"));
    assert_eq!((progress.event, progress.cursor), (None, 8));
    server.stop().await;
}

#[tokio::test]
async fn bad_cursors_and_kinds_are_refused_before_the_stream_starts() {
    let server = TestServer::start().await;
    let mut people = server.client().await;
    let mut feed = Feed::new(server.channel().await);
    create(&mut people, person("Only", "")).await;

    let future = feed.watch_changes(watch(99)).await;
    let status = future
        .err()
        .unwrap_or_else(|| panic!("a cursor from the future was accepted"));
    assert_eq!(
        (status.code(), violations(&status)),
        (Code::InvalidArgument, vec!["after".into()])
    );

    let unknown = feed
        .watch_changes(pb::WatchChangesRequest {
            kinds: vec![pb::EntityKind::Customer as i32, 42],
            ..watch(0)
        })
        .await;
    let status = unknown
        .err()
        .unwrap_or_else(|| panic!("kind 42 was accepted"));
    assert_eq!(
        (status.code(), violations(&status)),
        (Code::InvalidArgument, vec!["kinds[1]".into()])
    );

    let bad_id = feed
        .watch_changes(pb::WatchChangesRequest {
            customer_id: "not-an-id".into(),
            ..watch(0)
        })
        .await;
    assert_eq!(code_of(bad_id), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_shuts_down_ends_open_streams_with_a_status_to_resume_from() {
    let server = TestServer::start().await;
    let mut people = server.client().await;
    let mut feed = Feed::new(server.channel().await);
    create(&mut people, person("Before", "")).await;
    let mut stream = feed
        .watch_changes(watch(0))
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner();
    take_events(&mut stream, 1).await;
    // The stream is caught up and waiting; stopping the server must not wait on it.
    let stopped = tokio::spawn(server.stop());
    let end = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .unwrap_or_else(|_| panic!("the stream did not end on shutdown"));
    let status = end
        .err()
        .unwrap_or_else(|| panic!("the stream ended without a status"));
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("resume after cursor 1"),
        "{status:?}"
    );
    stopped.await.unwrap_or_else(|e| panic!("{e}"));
}
