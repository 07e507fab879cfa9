//! The automation worker under `kill -9`: writers create customers (one at a time and in
//! batches) and edit them while a welcome rule and an edit rule fire; the server is killed at a
//! random moment, many times. Afterwards every customer that exists has exactly one welcome
//! task and one welcome firing (none lost, none repeated, whether its create was acknowledged
//! or not), every edit firing made exactly one task, and `verify` — which checks that every
//! task a rule made is named by exactly one firing — is clean.
//!
//! `CRM_RULES_CRASH_CYCLES` sets the number of kill cycles (default 8); `CRM_CRASH_SEED`
//! replays a run.

use std::collections::BTreeMap;
use std::time::Duration;

use crm_core::automation::{Action, Operation, RuleData, Trigger, Watched};
use crm_core::tasks::{TaskLink, TaskSource};
use crm_tests::*;

fn channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect_lazy()
}

/// One writer: creates and edits customers until the server dies.
async fn writer(addr: std::net::SocketAddr, mut rng: Rng, cycle: usize, w: usize) {
    let mut client = connect(addr).await;
    let mut mine: Vec<pb::Customer> = Vec::new();
    for n in 0.. {
        let result = match rng.below(4) {
            0 if !mine.is_empty() => {
                let i = rng.below(mine.len() as u64) as usize;
                let mut c = mine[i].clone();
                c.attributes.insert("n".into(), n.to_string());
                client
                    .update_customer(pb::UpdateCustomerRequest {
                        customer: Some(c),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["attributes".into()],
                        }),
                        ..Default::default()
                    })
                    .await
                    .map(|r| mine[i] = r.into_inner())
            }
            1 => {
                let requests = (0..10)
                    .map(|k| pb::CreateCustomerRequest {
                        customer: Some(person(
                            "Batch",
                            &format!("c{cycle}.w{w}.{n}.{k}@example.com"),
                        )),
                        request_id: String::new(),
                    })
                    .collect();
                client
                    .batch_create_customers(pb::BatchCreateCustomersRequest { requests })
                    .await
                    .map(|_| ())
            }
            _ => client
                .create_customer(pb::CreateCustomerRequest {
                    customer: Some(person("One", &format!("c{cycle}.w{w}.{n}@example.com"))),
                    request_id: String::new(),
                })
                .await
                .map(|r| mine.push(r.into_inner())),
        };
        if result.is_err() {
            return;
        }
    }
}

fn rules() -> Vec<RuleData> {
    vec![
        RuleData {
            name: "welcome".into(),
            enabled: true,
            trigger: Trigger::Change {
                entity: Watched::Customer,
                operations: vec![Operation::Created],
                fields: vec![],
                filter: String::new(),
            },
            actions: vec![
                Action::CreateTask {
                    title: "Welcome call".into(),
                    due_in_minutes: 60,
                    owner: Some("welcome".into()),
                },
                Action::AddTag {
                    tag: "welcomed".into(),
                },
            ],
        },
        RuleData {
            name: "edited".into(),
            enabled: true,
            trigger: Trigger::Change {
                entity: Watched::Customer,
                operations: vec![Operation::Updated],
                fields: vec!["attributes".into()],
                filter: String::new(),
            },
            actions: vec![Action::CreateTask {
                title: "Look at the edit".into(),
                due_in_minutes: 60,
                owner: Some("edits".into()),
            }],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_triggering_event_fires_its_rules_exactly_once_across_kill_9() {
    let cycles: usize = std::env::var("CRM_RULES_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("CRM_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("rules crash harness: {cycles} cycles, CRM_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        // The rules are set through the library before the first start.
        let store = open_store(dir.path());
        for rule in rules() {
            store
                .automation()
                .create_rule(rule, None)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let args = ["--rule-coalesce-ms", "20"];
    for cycle in 0..cycles {
        let server = ServerProcess::start(dir.path(), &args);
        let writers: Vec<_> = (0..3)
            .map(|w| tokio::spawn(writer(server.addr, Rng(rng.next() | 1), cycle, w)))
            .collect();
        tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
        server.kill9();
        for w in writers {
            w.await.unwrap_or_else(|e| panic!("writer failed: {e}"));
        }
    }
    // A last start lets the worker catch up on everything committed.
    let server = ServerProcess::start(dir.path(), &args);
    let mut client = connect(server.addr).await;
    let customers = list_all(&mut client, "", "", 1000).await.len();
    let mut tasks = pb::task_service_client::TaskServiceClient::new(channel(server.addr));
    let started = std::time::Instant::now();
    loop {
        let made = tasks
            .list_tasks(pb::ListTasksRequest {
                owner: "welcome".into(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"))
            .into_inner();
        let n = made.tasks.len() + usize::from(!made.next_page_token.is_empty()) * 1000;
        if n >= customers || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.terminate().success());

    let store = open_store(dir.path());
    let report = store.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{:?}", report.problems);
    let rules = store
        .automation()
        .list_rules()
        .unwrap_or_else(|e| panic!("{e}"));
    let (welcome, edited) = (rules[0].id, rules[1].id);
    let log = store
        .audit()
        .changes(0, usize::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.automation().cursor().unwrap_or_default(),
        log.last().map_or(0, |e| e.seq),
        "the worker caught up"
    );
    let all_tasks = store
        .tasks()
        .list_tasks(&crm_store::tasks::TaskQuery {
            page_size: 1000,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let mut tasks_by: BTreeMap<(crm_core::tasks::RuleId, TaskLink), usize> = BTreeMap::new();
    let mut token = String::new();
    let mut total_tasks = 0;
    let mut page = all_tasks;
    loop {
        for t in &page.tasks {
            if let (TaskSource::Rule { rule, .. }, Some(link)) = (&t.source, t.data.link) {
                *tasks_by.entry((*rule, link)).or_default() += 1;
                total_tasks += 1;
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token.clone();
        page = store
            .tasks()
            .list_tasks(&crm_store::tasks::TaskQuery {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let _ = token;
    let created: Vec<_> = log
        .iter()
        .filter(|e| {
            e.entity.kind == crm_store::EntityKind::Customer
                && e.kind == crm_store::ChangeKind::Created
        })
        .collect();
    assert_eq!(
        created.len(),
        customers,
        "every customer was created once (none deleted)"
    );
    for e in &created {
        let link = TaskLink::Customer(crm_core::CustomerId(e.entity.id));
        assert_eq!(
            tasks_by.get(&(welcome, link)).copied(),
            Some(1),
            "customer {:?}: one welcome task",
            e.entity
        );
    }
    let welcomed: usize = tasks_by
        .iter()
        .filter(|((rule, _), _)| *rule == welcome)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(welcomed, customers, "no welcome task for anyone else");
    let edits = store
        .automation()
        .firings(edited, 1000)
        .unwrap_or_else(|e| panic!("{e}"));
    for f in &edits {
        assert_eq!(f.tasks.len(), 1, "an edit firing made its task: {f:?}");
    }
    let edit_events = log
        .iter()
        .filter(|e| {
            e.kind == crm_store::ChangeKind::Updated && e.fields.iter().any(|f| f == "attributes")
        })
        .count();
    assert!(
        edits.len() <= edit_events,
        "no more edit firings than edits"
    );
    println!(
        "rules crash harness: {cycles} kill cycles, {customers} customers each welcomed once, {} edit firings for {edit_events} edits (bursts coalesce), {total_tasks} rule tasks, {} events logged, 0 lost or repeated",
        edits.len(),
        log.len()
    );
    assert!(customers > 0);
}
