//! An operator uses the `crm` command line: imports a CSV whose columns are mapped by hand (a
//! malformed line and a bad email reported by line and field), exports, follows the feed, moves
//! the export into a second server, backs up, and gets exit codes a script can branch on.

use std::path::Path;
use std::process::{Command, Output};

use crm_tests::*;

fn crm(addr: &str, args: &[&str]) -> Output {
    Command::new(cli_binary())
        .args(["--addr", addr])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run crm: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const MAPPING: &str = "Ad=person.given_name,Soyad=person.family_name,E-posta=emails,Etiketler=tags,\
                       Sipariş=purchase.order_ref,Tutar=purchase.amount_minor,\
                       Para=purchase.currency_code,Tarih=purchase.occurred_at,No=external_id";

fn write_csv(dir: &Path) -> String {
    let path = dir.join("musteriler.csv");
    std::fs::write(
        &path,
        "No,Ad,Soyad,E-posta,Etiketler,Sipariş,Tutar,Para,Tarih\n\
         M-1,Ayşe,Yılmaz,ayse@example.com,vip;istanbul,S-1,125000,TRY,2025-05-01T10:00:00Z\n\
         M-2,Mehmet,Demir,mehmet@example.com,,,,,\n\
         M-3,Bozuk,Satır,\"not an email\",,,,,\n\
         M-4,Eksik\n\
         M-5,Zeynep,Kaya,zeynep@example.com,ankara,S-5,9900,TRY,2024-11-20T09:30:00Z\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    path.to_string_lossy().into_owned()
}

// The command line blocks this thread while the servers run on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_imports_exports_watches_and_backs_up_from_the_command_line() {
    let server = TestServer::start().await;
    let addr = format!("http://{}", server.addr);
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let csv = write_csv(work.path());

    // A mapping that names a column the file lacks: refused before anything is sent.
    let wrong = crm(&addr, &["import", &csv, "--map", "Name=person.given_name"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong.stderr));
    assert!(
        text(&wrong.stderr).contains("no column \"Name\""),
        "{}",
        text(&wrong.stderr)
    );
    let unknown = crm(&addr, &["import", &csv, "--map", "Ad=person.nickname"]);
    assert_eq!(unknown.status.code(), Some(2));

    // The import: good rows in, bad rows named by line and field, exit 4.
    let out = crm(&addr, &["import", &csv, "--map", MAPPING]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(
        said.contains("line 4: customer.emails[0].address"),
        "{said}"
    );
    assert!(
        said.contains("line 5: malformed CSV: 2 fields where the header has 9"),
        "{said}"
    );
    assert!(said.contains("3 created"), "{said}");

    // Again: nothing twice. With --max-errors 1 it stops at the first bad row.
    let again = crm(&addr, &["import", &csv, "--map", MAPPING, "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&again.stdout)));
    assert_eq!(summary["already_imported"], 3);
    assert_eq!(summary["created"], 0);
    let stopped = crm(
        &addr,
        &["import", &csv, "--map", MAPPING, "--max-errors", "1"],
    );
    assert_eq!(stopped.status.code(), Some(4));
    assert!(text(&stopped.stderr).contains("stopped: 1 bad rows"));

    // Reads: a table for people, JSON lines for scripts, exit 3 for an unknown id.
    let table = crm(&addr, &["customers", "list", "--order-by", "display_name"]);
    let lines: Vec<String> = text(&table.stdout).lines().map(str::to_owned).collect();
    assert!(lines[0].starts_with("ID"), "{lines:?}");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[1].contains("Ayşe Yılmaz") && lines[1].contains("istanbul,vip"));
    let json = crm(
        &addr,
        &["customers", "get", "--external-id", "M-5", "--json"],
    );
    let zeynep: serde_json::Value =
        serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(zeynep["summary"]["purchaseCount"], 1);
    let missing = crm(&addr, &["customers", "get", "0000000000000001"]);
    assert_eq!(missing.status.code(), Some(3));

    // The feed, as JSON lines.
    let watched = crm(&addr, &["watch", "--count", "2"]);
    let events: Vec<serde_json::Value> = text(&watched.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0]["cursor"].clone(), events[0]["method"].clone()),
        (1.into(), "ImportCustomers".into())
    );

    // Export, and import the export into another server: the same customers.
    let exported = work.path().join("export.jsonl");
    let export = crm(&addr, &["export", "--out", &exported.to_string_lossy()]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let other = TestServer::start().await;
    let other_addr = format!("http://{}", other.addr);
    let moved = crm(
        &other_addr,
        &["import", &exported.to_string_lossy(), "--json"],
    );
    assert!(moved.status.success(), "{}", text(&moved.stderr));
    let mut there = other.client().await;
    let names: Vec<String> = list_all(&mut there, "", "display_name", 50)
        .await
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    assert_eq!(names, vec!["Ayşe Yılmaz", "Mehmet Demir", "Zeynep Kaya"]);

    // A backup through the server, restorable.
    let file = work.path().join("crm.backup");
    let backup = crm(&addr, &["backup", "--to", &file.to_string_lossy()]);
    assert!(backup.status.success(), "{}", text(&backup.stderr));
    let restored_dir = work.path().join("restored");
    let (restored, _) = crm_store::restore(
        std::fs::File::open(&file).unwrap_or_else(|e| panic!("{e}")),
        &restored_dir,
        crm_store::StoreConfig::new(&restored_dir),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restored.verify().map(|r| r.customers).ok(), Some(3));

    // Nobody listening: exit 5.
    other.stop().await;
    let gone = crm(&other_addr, &["customers", "list"]);
    assert_eq!(gone.status.code(), Some(5), "{}", text(&gone.stderr));
    server.stop().await;
}
