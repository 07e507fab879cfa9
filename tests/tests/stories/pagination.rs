//! An integration walks the whole customer base page by page while the shop keeps adding
//! customers: everyone who was there is seen exactly once, in order.

use std::collections::HashSet;

use crm_tests::*;

async fn seed(server: &TestServer, count: usize, writers: usize) -> Vec<pb::Customer> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut client = server.client().await;
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in (w..count).step_by(writers) {
                let mut c = person(&format!("Customer {i:05}"), &format!("c{i}@example.com"));
                c.lifecycle_stage =
                    [pb::LifecycleStage::Awareness, pb::LifecycleStage::Purchase][i % 2] as i32;
                made.push(create(&mut client, c).await);
            }
            made
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(
            t.await
                .unwrap_or_else(|e| panic!("seeding task failed: {e}")),
        );
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_visit_each_of_2500_customers_exactly_once_in_order_while_others_arrive() {
    let server = TestServer::start().await;
    let existing = seed(&server, 2500, 16).await;
    let mut client = server.client().await;

    // Writers keep creating customers during the whole walk.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writer = server.client().await;
    let writing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                create(&mut writer, person(&format!("Latecomer {n}"), "")).await;
                n += 1;
            }
            n
        })
    };

    for (filter, order_by, page_size) in [
        ("", "", 100),
        ("", "create_time desc", 77),
        (r#"lifecycle_stage = "PURCHASE""#, "", 50),
        ("", "display_name", 333),
    ] {
        let walked = list_all(&mut client, filter, order_by, page_size).await;
        let mut expected: Vec<&pb::Customer> = existing
            .iter()
            .filter(|c| {
                filter.is_empty() || c.lifecycle_stage == pb::LifecycleStage::Purchase as i32
            })
            .collect();
        match order_by {
            "create_time desc" => expected.reverse(),
            "display_name" => expected.sort_by_key(|c| c.display_name.to_lowercase()),
            _ => {}
        }
        let expected_ids: Vec<&str> = expected.iter().map(|c| c.id.as_str()).collect();
        let known: HashSet<&str> = expected_ids.iter().copied().collect();
        let seen: Vec<&str> = walked
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| known.contains(id))
            .collect();
        assert_eq!(
            seen, expected_ids,
            "filter {filter:?} order {order_by:?}: each exactly once, in order"
        );
        let unique: HashSet<&str> = walked.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(unique.len(), walked.len(), "no customer twice");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let latecomers = writing.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(latecomers > 0, "the walk really ran alongside writers");

    // Page sizes: 0 means 50, above 1000 means 1000.
    for (asked, got) in [(0, 50), (5000, 1000)] {
        let page = client
            .list_customers(pb::ListCustomersRequest {
                page_size: asked,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner();
        assert_eq!(page.customers.len(), got);
        assert!(!page.next_page_token.is_empty());
    }
}
