//! The automation worker under `kill -9`: writers create customers (one at a time and in
//! batches) and edit them while a welcome rule and an edit rule fire, and open, move and win
//! deals and make tasks; the server is killed at a random moment, many times. After each
//! restart every acknowledged deal and task is there as acknowledged. Afterwards every customer that exists has exactly one welcome
//! task and one welcome firing (none lost, none repeated, whether its create was acknowledged
//! or not), every edit firing made exactly one task, and `verify` — which checks that every
//! task a rule made is named by exactly one firing — is clean.
//!
//! `CRM_RULES_CRASH_CYCLES` sets the number of kill cycles (default 8); `CRM_CRASH_SEED`
//! replays a run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_core::automation::{Action, Operation, RuleData, Trigger, Watched};
use crm_core::tasks::{TaskLink, TaskSource};
use crm_tests::*;

fn channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect_lazy()
}

/// What a client was told about a deal: version and stage; and what a move in flight would
/// make it.
#[derive(Clone, Debug)]
struct DealEntry {
    id: String,
    acked: (u64, String),
    pending: Option<(u64, String)>,
}

/// The deals and tasks the clients were told about.
#[derive(Clone, Debug, Default)]
struct Sales {
    deals: Vec<DealEntry>,
    tasks: Vec<String>,
}

type Model = Arc<Mutex<Sales>>;

fn lock(m: &Model) -> std::sync::MutexGuard<'_, Sales> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn version(etag: &str) -> u64 {
    etag.trim_start_matches('v').parse().unwrap_or(0)
}

const STAGES: [&str; 3] = ["qualified", "proposal", "negotiation"];

/// A deal or task write; `false` when the server died.
async fn sales_write(
    addr: std::net::SocketAddr,
    model: &Model,
    rng: &mut Rng,
    ids: (&str, &str),
    n: usize,
) -> bool {
    let (customer, pipeline) = ids;
    let mut deals = pb::deal_service_client::DealServiceClient::new(channel(addr));
    let acked: Vec<usize> = lock(model)
        .deals
        .iter()
        .enumerate()
        .filter(|(_, d)| d.pending.is_none() && d.acked.1 != "won")
        .map(|(i, _)| i)
        .collect();
    match rng.below(3) {
        0 if !acked.is_empty() => {
            let i = acked[rng.below(acked.len() as u64) as usize];
            let (id, (v, _)) = {
                let m = lock(model);
                (m.deals[i].id.clone(), m.deals[i].acked.clone())
            };
            let stage = STAGES[rng.below(3) as usize].to_string();
            lock(model).deals[i].pending = Some((v + 1, stage.clone()));
            match deals
                .move_deal(pb::MoveDealRequest {
                    id,
                    stage,
                    etag: format!("v{v}"),
                })
                .await
            {
                Ok(d) => {
                    let d = d.into_inner();
                    let mut m = lock(model);
                    m.deals[i].acked = (version(&d.etag), d.stage);
                    m.deals[i].pending = None;
                    true
                }
                Err(_) => false,
            }
        }
        1 => {
            let mut tasks = pb::task_service_client::TaskServiceClient::new(channel(addr));
            let title = format!("task {n} {}", rng.next());
            let made = tasks
                .create_task(pb::CreateTaskRequest {
                    task: Some(pb::Task {
                        title,
                        owner: "crash".into(),
                        due_time: Some(prost_types::Timestamp {
                            seconds: 1_900_000_000,
                            nanos: 0,
                        }),
                        link: Some(pb::task::Link::CustomerId(customer.to_string())),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await;
            match made {
                Ok(t) => {
                    lock(model).tasks.push(t.into_inner().id);
                    true
                }
                Err(_) => false,
            }
        }
        _ => {
            let made = deals
                .create_deal(pb::CreateDealRequest {
                    deal: Some(pb::Deal {
                        customer_id: customer.into(),
                        name: format!("deal {n}"),
                        amount: Some(pb::Money {
                            currency_code: "TRY".into(),
                            amount_minor: 1_000,
                        }),
                        close_date: "2027-03-01".into(),
                        pipeline_id: pipeline.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await;
            match made {
                Ok(d) => {
                    let d = d.into_inner();
                    lock(model).deals.push(DealEntry {
                        id: d.id,
                        acked: (version(&d.etag), d.stage),
                        pending: None,
                    });
                    true
                }
                Err(_) => false,
            }
        }
    }
}

/// Every acknowledged deal is at its acknowledged state (or the move in flight), every
/// acknowledged task exists; settles what was in flight. Returns how many were checked.
async fn check_sales(addr: std::net::SocketAddr, model: &Model) -> usize {
    let mut deals = pb::deal_service_client::DealServiceClient::new(channel(addr));
    let mut tasks = pb::task_service_client::TaskServiceClient::new(channel(addr));
    let snapshot = lock(model).clone();
    let mut settled = Vec::new();
    for mut d in snapshot.deals {
        let found = deals
            .get_deal(pb::GetDealRequest { id: d.id.clone() })
            .await
            .unwrap_or_else(|s| panic!("acknowledged deal {} is gone: {s:?}", d.id))
            .into_inner();
        let now = (version(&found.etag), found.stage);
        assert!(
            now == d.acked || Some(&now) == d.pending.as_ref(),
            "deal {}: acknowledged {:?}, in flight {:?}, found {now:?}",
            d.id,
            d.acked,
            d.pending
        );
        d.acked = now;
        d.pending = None;
        settled.push(d);
    }
    for id in &snapshot.tasks {
        tasks
            .get_task(pb::GetTaskRequest { id: id.clone() })
            .await
            .unwrap_or_else(|s| panic!("acknowledged task {id} is gone: {s:?}"));
    }
    let checked = settled.len() + snapshot.tasks.len();
    lock(model).deals = settled;
    checked
}

/// One writer: creates and edits customers, and writes deals and tasks, until the server dies.
async fn writer(
    addr: std::net::SocketAddr,
    mut rng: Rng,
    cycle: usize,
    w: usize,
    sales: (Model, String, String),
) {
    let mut client = connect(addr).await;
    let mut mine: Vec<pb::Customer> = Vec::new();
    for n in 0.. {
        if rng.below(3) == 0 {
            if !sales_write(addr, &sales.0, &mut rng, (&sales.1, &sales.2), n).await {
                return;
            }
            continue;
        }
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
    let (customer, pipeline) = {
        // The rules, a pipeline and a deals' customer are set through the library first.
        let store = open_store(dir.path());
        for rule in rules() {
            store
                .automation()
                .create_rule(rule, None)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let stage = |key: &str| crm_core::deals::Stage {
            key: key.into(),
            name: String::new(),
            probability: crm_core::deals::Probability(5_000),
            category: crm_core::deals::ForecastCategory::Pipeline,
            rotting_days: 0,
        };
        let pipeline = store
            .deals()
            .create_pipeline(
                crm_core::deals::PipelineData {
                    name: "crash".into(),
                    stages: STAGES.iter().map(|k| stage(k)).collect(),
                },
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let customer = store
            .customers()
            .create(crm_core::CustomerData::person("Deal buyer"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        (customer.id.to_string(), pipeline.id.to_string())
    };
    let sales: Model = Arc::default();
    let mut sales_checked = 0;
    let args = ["--rule-coalesce-ms", "20"];
    for cycle in 0..cycles {
        let server = ServerProcess::start(dir.path(), &args);
        sales_checked += check_sales(server.addr, &sales).await;
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let s = (sales.clone(), customer.clone(), pipeline.clone());
                tokio::spawn(writer(server.addr, Rng(rng.next() | 1), cycle, w, s))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
        server.kill9();
        for w in writers {
            w.await.unwrap_or_else(|e| panic!("writer failed: {e}"));
        }
    }
    // A last start lets the worker catch up on everything committed.
    let server = ServerProcess::start(dir.path(), &args);
    sales_checked += check_sales(server.addr, &sales).await;
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
        "rules crash harness: {cycles} kill cycles, {customers} customers each welcomed once, {} edit firings for {edit_events} edits (bursts coalesce), {total_tasks} rule tasks, {sales_checked} acknowledged deal and task states checked, {} events logged, 0 lost or repeated",
        edits.len(),
        log.len()
    );
    assert!(customers > 0 && sales_checked > 0);
}
